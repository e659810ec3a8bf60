// node:http serving trickle-app.mjs (benchmarks/trickle.mjs): `trickle-node-http.mjs PORT [HOST]`.
// node:http's defaults stand (backlog 511, requestTimeout 300 s, no minimum data rate).
import http from 'node:http'
import { handle } from './trickle-app.mjs'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`usage: ${process.argv[1]} PORT [HOST]`)
http.createServer(handle).listen(port, process.argv[3] ?? '127.0.0.1')
