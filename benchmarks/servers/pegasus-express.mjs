// The same Express app (express-app.mjs) on Pegasus's node interface (the built library in dist/).
import { createServer } from '../../dist/lib/server.js'
import { app } from './express-app.mjs'
import { address } from './shared.mjs'

const { port, host } = address()
const server = createServer(app, { interface: 'node', accessLog: false })
await server.listen(port, host)
