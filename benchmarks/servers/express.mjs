// The Express app (express-app.mjs) on node:http, as `app.listen` would serve it.
import http from 'node:http'
import { app } from './express-app.mjs'
import { address } from './shared.mjs'

const { port, host } = address()
http.createServer(app).listen(port, host)
