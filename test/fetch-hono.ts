// A Hono app, unchanged, through the fetch interface over real sockets: routing, JSON, cookies,
// Server-Sent Events arriving one by one, HTTPException, multipart parseBody, errors.
import t from 'tap'
import { Hono } from 'hono'
import { getCookie, setCookie } from 'hono/cookie'
import { HTTPException } from 'hono/http-exception'
import { streamSSE } from 'hono/streaming'
import { RawClient } from './helpers/raw.js'
import { eventually, httpRequest, startServer } from './helpers/server.js'

function app(): { hono: Hono; next: () => void } {
  const hono = new Hono()
  let release: (() => void) | null = null
  hono.get('/', (c) => c.text('Hello Hono!'))
  hono.get('/users/:id', (c) => c.json({ id: c.req.param('id'), q: c.req.query('q') ?? null }))
  hono.post('/echo', async (c) => c.json({ got: await c.req.json() }, 201))
  hono.get('/cookies', (c) => {
    setCookie(c, 'first', '1', { path: '/' })
    setCookie(c, 'second', 'two', { httpOnly: true })
    return c.text(`you sent ${getCookie(c, 'sent') ?? 'none'}`)
  })
  hono.get('/secret', () => {
    throw new HTTPException(401, { message: 'Who are you?' })
  })
  hono.get('/broken', () => {
    throw new Error('route broke')
  })
  hono.post('/upload', async (c) => {
    const body = await c.req.parseBody()
    const file = body.file as File
    return c.json({ name: body.name, file: file.name, size: file.size, head: (await file.text()).slice(0, 5) })
  })
  hono.get('/sse', (c) =>
    streamSSE(c, async (stream) => {
      await stream.writeSSE({ event: 'tick', data: 'one', id: '1' })
      await new Promise<void>((resolve) => (release = resolve))
      await stream.writeSSE({ event: 'tick', data: 'two', id: '2' })
    }),
  )
  hono.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse()
    return c.text(`handled: ${error.message}`, 500)
  })
  return { hono, next: () => (release as unknown as () => void)() }
}

t.test('a Hono app is recognised and served unchanged', async (t) => {
  const { hono, next } = app()
  const server = await startServer(t, hono as never, { interface: 'auto' })
  t.equal(server.server.app.interface, 'fetch')
  t.equal(server.server.app.label, 'Hono app')

  const hello = await httpRequest(`${server.origin}/`)
  t.equal(hello.body.toString(), 'Hello Hono!')
  t.match(hello.headers['content-type'], /^text\/plain/)

  const user = await httpRequest(`${server.origin}/users/42?q=x`)
  t.same(JSON.parse(user.body.toString()), { id: '42', q: 'x' })

  const echo = await httpRequest(`${server.origin}/echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ a: [1, 'two'] }),
  })
  t.equal(echo.status, 201)
  t.same(JSON.parse(echo.body.toString()), { got: { a: [1, 'two'] } })

  const cookies = await httpRequest(`${server.origin}/cookies`, { headers: { cookie: 'sent=yes' } })
  t.equal(cookies.body.toString(), 'you sent yes')
  t.same(cookies.headers['set-cookie'], ['first=1; Path=/', 'second=two; Path=/; HttpOnly'], 'two Set-Cookie lines')

  const secret = await httpRequest(`${server.origin}/secret`)
  t.equal(secret.status, 401)
  t.equal(secret.body.toString(), 'Who are you?')

  const broken = await httpRequest(`${server.origin}/broken`)
  t.equal(broken.status, 500)
  t.equal(broken.body.toString(), 'handled: route broke', "Hono's own error handler answers")

  t.equal((await httpRequest(`${server.origin}/nowhere`)).status, 404)

  const boundary = 'hono-boundary'
  const fileBody = 'file contents '.repeat(1000)
  const multipart = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nPegasus\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n${fileBody}\r\n` +
      `--${boundary}--\r\n`,
  )
  const upload = await httpRequest(`${server.origin}/upload`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: multipart,
  })
  t.same(JSON.parse(upload.body.toString()), { name: 'Pegasus', file: 'big.txt', size: fileBody.length, head: 'file ' })

  // Server-Sent Events: the first event arrives before the second is written.
  const client = await RawClient.connect(server.port)
  await client.write('GET /sse HTTP/1.1\r\nHost: x\r\n\r\n')
  await client.until(() => client.data.includes('data: one'), 20_000, 'the first event')
  const text = client.data.toString('latin1')
  t.match(text, /content-type: text\/event-stream/i)
  t.match(text, /Transfer-Encoding: chunked/)
  t.notMatch(text, /data: two/, 'the first event arrives alone')
  next()
  await client.until(() => client.data.includes('data: two'), 20_000, 'the second event')
  await client.until(() => client.data.toString('latin1').endsWith('0\r\n\r\n'), 20_000, 'the end of the stream')
  t.match(client.data.toString('latin1'), /event: tick\ndata: two\nid: 2\n\n/)
  client.destroy()
  t.ok(await eventually(() => server.errText() === ''), 'nothing logged as an error')
})
