// The benchmark app as a Hono app: served by @hono/node-server (hono.mjs) and by Pegasus's fetch
// interface (pegasus-hono.mjs), the same app on both.
import { Hono } from 'hono'
import { echoJson, HELLO, JSON_TYPE, pulledStream, STREAM_TYPE, TEXT } from './shared.mjs'

export const app = new Hono()

app.get('/', (c) => c.body(HELLO, 200, { 'Content-Type': TEXT }))

app.on(
  ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
  ['/echo', '/echo/:a', '/echo/:a/:b', '/echo/:a/:b/:c'],
  async (c) => {
    const { a, b, c: third } = c.req.param()
    const params = [a, b, third].filter((p) => p !== undefined)
    const query = Object.entries(c.req.queries()).map(([name, values]) => [name, values[0]])
    return c.body(echoJson(await c.req.text(), query, params), 200, { 'Content-Type': JSON_TYPE })
  },
)

app.get('/stream', (c) => c.body(pulledStream(), 200, { 'Content-Type': STREAM_TYPE }))
