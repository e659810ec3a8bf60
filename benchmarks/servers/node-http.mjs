// node:http serving the benchmark app with a plain request handler (node-app.mjs).
import http from 'node:http'
import { handle } from './node-app.mjs'
import { address } from './shared.mjs'

const { port, host } = address()
http.createServer(handle).listen(port, host)
