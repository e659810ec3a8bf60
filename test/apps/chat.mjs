// The Express + ws example of docs/apps.md: the module's `upgrade` export takes WebSocket handshakes.
import express from 'express'
import { WebSocketServer } from 'ws'

const app = express()
app.get('/', (req, res) => res.send('use a WebSocket'))
const wss = new WebSocketServer({ noServer: true })
wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data)))
export default app
export function upgrade(req, socket, head) {
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
}
