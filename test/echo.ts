import t from 'tap'
import { connect } from 'node:net'
import { createServer } from '../lib/server.js'
import { app } from '../fixtures/echo.js'
import defaultApp from '../fixtures/echo.js'

const server = createServer(app)
await server.listen(0, '127.0.0.1')
t.teardown(() => server.close())
const { port } = server.address()
const base = `http://127.0.0.1:${port}`

/** One request on its own connection, as raw bytes both ways. */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1', () => socket.end(request))
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')))
    socket.on('error', reject)
  })
}

t.equal(defaultApp, app, 'the default export is the app')

t.test('GET and HEAD get an empty 200', async (t) => {
  for (const method of ['GET', 'HEAD']) {
    const res = await fetch(base + '/anything?x=1', { method })
    t.equal(res.status, 200, method)
    t.equal(res.headers.get('content-length'), '0', method)
    t.equal(res.headers.get('content-type'), null, method)
    t.equal(await res.text(), '', method)
  }
})

t.test('the README example: other methods get their body back', async (t) => {
  const body = '{"foo": "echo", "bar": 69}'
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'PURGE']) {
    const res = await fetch(base + '/', { method, body })
    t.equal(res.status, 200, method)
    t.equal(res.headers.get('content-type'), 'text/plain', method)
    t.equal(await res.text(), body, method)
  }
})

t.test('an empty body gives an empty 200', async (t) => {
  const res = await fetch(base + '/', { method: 'POST' })
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-length'), '0')
  t.equal(await res.text(), '')
})

t.test('bytes come back as they were sent', async (t) => {
  const bytes = Buffer.alloc(256 * 1024)
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) % 256
  const res = await fetch(base + '/', { method: 'POST', body: bytes })
  t.equal(res.headers.get('content-length'), String(bytes.length))
  t.ok(Buffer.from(await res.arrayBuffer()).equals(bytes), 'all 256 byte values, 256 KiB')
})

t.test('a chunked body is echoed whole', async (t) => {
  const response = await raw(
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
      '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
  )
  t.match(response, /^HTTP\/1\.1 200 OK\r\n/)
  t.match(response, /\r\nContent-Type: text\/plain\r\n/)
  t.match(response, /\r\nContent-Length: 11\r\n/)
  t.ok(response.endsWith('\r\n\r\nhello world'), 'the body')
})
