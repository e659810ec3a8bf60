// Pegasus (the built library in dist/) serving the router fixture plus `/stream`, for the
// streaming scenario: the fixture has no streaming route and the CLI takes one app. The wrapper
// is a plain (req, res) function, which `auto` would serve with the node interface: it is native.
import { createServer } from '../../dist/lib/server.js'
import { app as router } from '../../dist/fixtures/router.js'
import { address, streamTo } from './shared.mjs'

function app(req, res) {
  if (req.path === '/stream' && req.method === 'GET') return streamTo(res)
  return router(req, res)
}


const { port, host } = address()
const server = createServer(app, { interface: 'native', accessLog: false })
await server.listen(port, host)
