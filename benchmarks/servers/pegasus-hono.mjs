// The Hono app of hono-app.mjs on Pegasus's fetch interface (`createServer(app)`: auto picks
// fetch for an object with fetch()).
import { createServer } from '../../dist/lib/server.js'
import { app } from './hono-app.mjs'
import { address } from './shared.mjs'

const { port, host } = address()
const server = createServer(app, { accessLog: false })
await server.listen(port, host)
