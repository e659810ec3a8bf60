// node:http serving the default export of a module (a `(req, res)` handler or an Express app):
// `node serve-node-http.mjs PORT HOST MODULE`, MODULE relative to this folder. The waiting and
// database scenarios run the very module Pegasus's CLI is given.
import http from 'node:http'
import { address, appModule } from './shared.mjs'

const { port, host } = address()
const app = await appModule()
http.createServer(app).listen(port, host)
