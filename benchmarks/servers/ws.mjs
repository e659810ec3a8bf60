// `ws` on node:http: new WebSocketServer({ server }) takes node:http's 'upgrade' events; plain
// HTTP requests get the benchmark app (node-app.mjs).
import http from 'node:http'
import { WebSocketServer } from 'ws'
import { handle } from './node-app.mjs'
import { address } from './shared.mjs'
import { echoEvery } from './ws-echo.mjs'

const { port, host } = address()
const server = http.createServer(handle)
echoEvery(new WebSocketServer({ server }))
server.listen(port, host)
