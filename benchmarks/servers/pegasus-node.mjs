// Pegasus's node interface (the built library in dist/) serving the very handler node-http.mjs
// serves: real http.IncomingMessage and ServerResponse objects fed by Pegasus's connection.
import { createServer } from '../../dist/lib/server.js'
import { handle } from './node-app.mjs'
import { address } from './shared.mjs'

const { port, host } = address()
const server = createServer(handle, { interface: 'node', accessLog: false })
await server.listen(port, host)
