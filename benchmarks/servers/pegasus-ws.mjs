// `ws` on Pegasus's node interface: a WebSocketServer({ noServer: true }) completes the handshakes
// that Pegasus's upgrade handler hands it; plain HTTP requests get the benchmark app (node-app.mjs).
import { WebSocketServer } from 'ws'
import { createServer } from '../../dist/lib/server.js'
import { handle } from './node-app.mjs'
import { address } from './shared.mjs'
import { echoEvery } from './ws-echo.mjs'

const { port, host } = address()
const wss = new WebSocketServer({ noServer: true })
echoEvery(wss)
const server = createServer(handle, { interface: 'node', accessLog: false })
server.setUpgradeHandler((req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
})
await server.listen(port, host)
