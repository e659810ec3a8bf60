// `node dist/cli.js benchmarks/servers/wait/native.mjs`: the waiting app on Pegasus's own request
// and response (marked native, so `auto` serves it so).
import { native } from '../../../dist/lib/server.js'
import { HELLO, TEXT } from '../shared.mjs'
import { wait, WAIT_PATH, WAITED } from './app.mjs'

export default native(async (req, res) => {
  res.setHeader('Content-Type', TEXT)
  if (req.path === WAIT_PATH) {
    await wait()
    res.end(WAITED)
  } else if (req.path === '/') {
    res.end(HELLO)
  } else {
    res.statusCode = 404
    res.end('Not Found\n')
  }
})
