// `node dist/cli.js benchmarks/servers/wait/fetch.mjs`: an object with fetch(), which `auto`
// serves through the fetch interface; @hono/node-server and Bun.serve serve the same one.
import { fetch } from './app.mjs'

export default { fetch }
