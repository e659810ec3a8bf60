// node:http serving the overload app (app.mjs): `node node-http.mjs PORT [HOST]`.
import http from 'node:http'
import { address } from '../shared.mjs'
import { handle } from './app.mjs'

const { port, host } = address()
http.createServer(handle).listen(port, host)
