// `node dist/cli.js benchmarks/servers/wait/node.mjs`: a plain (req, res) function, which `auto`
// serves through the node interface; node:http serves the same one (serve-node-http.mjs).
import { handle } from './app.mjs'

export default handle
