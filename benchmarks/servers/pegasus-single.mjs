// Today's single process, as a baseline for the workers: the library serving the router fixture
// on one event loop with no primary in front, as `node dist/cli.js --no-access-log
// dist/fixtures/router.js:app` did before the CLI became a primary with workers. The CLI's
// options that differ from the library's defaults are repeated here (its --backlog is 1024).
import { createServer } from '../../dist/lib/server.js'
import { app } from '../../dist/fixtures/router.js'
import { address } from './shared.mjs'

const { port, host } = address()
const server = createServer(app, { accessLog: false, backlog: 1024 })
await server.listen(port, host)
