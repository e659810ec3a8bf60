// Pegasus's fetch interface (the built library in dist/) serving the very handler Bun.serve and
// srvx serve: a web Request in, the handler's Response written by Pegasus.
import { createServer } from '../../dist/lib/server.js'
import { fetch } from './fetch-app.mjs'
import { address } from './shared.mjs'

const { port, host } = address()
const server = createServer(fetch, { interface: 'fetch', accessLog: false })
await server.listen(port, host)
