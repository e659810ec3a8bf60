// GET /big answers 1 MiB (one shared buffer), so that a slow reader has something to be slow
// on; POST echoes its body; anything else gets an empty 200.
// A native app (req.body(), req.path), marked as such for `auto`.
import { native } from '../../dist/lib/server.js'

const BIG = Buffer.alloc(1024 * 1024, 'b')

export const app = native(async function app(req, res) {
  if (req.method === 'POST') return void res.end(await req.body())
  res.end(req.path === '/big' ? BIG : undefined)
})
