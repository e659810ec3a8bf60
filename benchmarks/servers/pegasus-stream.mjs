// Pegasus (the built library in dist/) serving the router fixture plus `/stream`, for the
// streaming scenario: the fixture has no streaming route and the CLI takes one app.
import { createServer } from '../../dist/lib/server.js'
import { app as router } from '../../dist/fixtures/router.js'
import { address, STREAM_BYTES, STREAM_CHUNK, STREAM_TYPE } from './shared.mjs'

function app(req, res) {
  if (req.path === '/stream' && req.method === 'GET') return stream(res)
  return router(req, res)
}

function stream(res) {
  res.setHeader('Content-Type', STREAM_TYPE)
  let sent = 0
  let closed = false
  res.on('close', () => { closed = true })
  const pump = () => {
    while (!closed && sent < STREAM_BYTES) {
      sent += STREAM_CHUNK.byteLength
      if (!res.write(STREAM_CHUNK)) return void res.once('drain', pump)
    }
    if (!closed) res.end()
  }
  pump()
}

const { port, host } = address()
const server = createServer(app, { accessLog: false })
await server.listen(port, host)
