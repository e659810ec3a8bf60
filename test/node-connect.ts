// Connect with body-parser and compression, served through the node interface: bodies parsed
// by body-parser, responses gzip- and deflate-compressed by compression (checked by
// decompressing them), streamed compressed output, over real sockets.
import t from 'tap'
import { gunzipSync, inflateSync, brotliDecompressSync } from 'node:zlib'
import http from 'node:http'
import connect from 'connect'
import bodyParser from 'body-parser'
import compression from 'compression'
import { RawClient, get } from './helpers/raw.js'
import { httpRequest, startServer, watchEscapes } from './helpers/server.js'

type Req = http.IncomingMessage & { body?: unknown }
type Res = http.ServerResponse & { flush?: () => void }

const page = Array.from({ length: 2000 }, (_, i) => `<p>paragraph ${i}: the quick brown fox</p>\n`).join('')

const endless = { closed: 0 }

// Released by a test once its client has seen the first compressed part.
let releaseStream: (() => void) | null = null

function buildApp(): connect.Server {
  const app = connect()
  app.use(compression({ threshold: 1024 }))
  app.use('/json', bodyParser.json())
  app.use('/form', bodyParser.urlencoded({ extended: false }))
  app.use('/text', bodyParser.text({ type: 'text/*' }))
  app.use('/raw', bodyParser.raw({ type: 'application/octet-stream', limit: '5mb' }))
  app.use('/json', (req: Req, res: Res) => {
    res.setHeader('Content-Type', 'application/json')
    res.end(JSON.stringify({ got: req.body }))
  })
  app.use('/form', (req: Req, res: Res) => {
    res.setHeader('Content-Type', 'application/json')
    res.end(JSON.stringify(req.body))
  })
  app.use('/text', (req: Req, res: Res) => res.end(`text of ${(req.body as string).length} characters`))
  app.use('/raw', (req: Req, res: Res) => res.end(`raw ${(req.body as Buffer).length} bytes`))
  app.use('/page', (req: Req, res: Res) => {
    res.setHeader('Content-Type', 'text/html; charset=utf-8')
    res.end(page)
  })
  app.use('/small', (req: Req, res: Res) => {
    res.setHeader('Content-Type', 'text/plain')
    res.end('too small to compress')
  })
  app.use('/stream', (req: Req, res: Res) => {
    res.setHeader('Content-Type', 'text/plain')
    res.write('first part, '.repeat(200))
    // compression buffers its output: flush() sends what it has.
    ;(res.flush as () => void)()
    new Promise<void>((resolve) => (releaseStream = resolve)).then(() => res.end('last part.'))
  })
  app.use('/endless', (req: Req, res: Res) => {
    // Compressible output, written as fast as the client takes it, until it leaves.
    res.setHeader('Content-Type', 'text/plain')
    const piece = page.slice(0, 32 * 1024)
    let closed = false
    res.on('close', () => {
      closed = true
      endless.closed++
    })
    const more = (): void => {
      while (!closed) {
        if (!res.write(piece + String(Math.random()))) {
          res.once('drain', more)
          return
        }
      }
    }
    more()
  })
  app.use('/fail', (req: Req, res: Res, next: (error?: unknown) => void) => next(new Error('handed to next')))
  app.use('/fail', (error: Error, req: Req, res: Res, next: (error?: unknown) => void) => {
    res.statusCode = 500
    res.end(`error middleware: ${error.message}`)
  })
  return app
}

const escaped = watchEscapes(t)
const server = await startServer(t, buildApp(), { interface: 'auto' })
const origin = server.origin

t.test('auto recognises the Connect app', async (t) => {
  t.equal(server.server.app.interface, 'node')
  t.equal(server.server.app.label, 'Connect app')
})

t.test('body-parser: JSON, urlencoded, text and raw bodies', async (t) => {
  const json = await httpRequest(`${origin}/json`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ a: [1, 2], b: 'c' }),
  })
  t.equal(json.status, 200)
  t.same(JSON.parse(json.body.toString()), { got: { a: [1, 2], b: 'c' } })
  const form = await httpRequest(`${origin}/form`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'x=1&y=two%20words',
  })
  t.same(JSON.parse(form.body.toString()), { x: '1', y: 'two words' })
  const text = await httpRequest(`${origin}/text`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'ü'.repeat(1000) })
  t.equal(text.body.toString(), 'text of 1000 characters')
  const bytes = Buffer.alloc(3 * 1024 * 1024, 7)
  const raw = await httpRequest(`${origin}/raw`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
    body: bytes,
  })
  t.equal(raw.body.toString(), `raw ${bytes.length} bytes`)
  const tooBig = await httpRequest(`${origin}/raw`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(6 * 1024 * 1024) },
    body: Buffer.alloc(6 * 1024 * 1024),
  }).catch((error: Error) => error)
  // body-parser answers 413 before reading the body; the client may see the reply or a reset.
  if (!(tooBig instanceof Error)) t.equal(tooBig.status, 413)
  const bad = await httpRequest(`${origin}/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1,' })
  t.equal(bad.status, 400)
})

t.test('compression: gzip, deflate and brotli, checked by decompressing', async (t) => {
  const gzip = await httpRequest(`${origin}/page`, { headers: { 'accept-encoding': 'gzip' } })
  t.equal(gzip.status, 200)
  t.equal(gzip.headers['content-encoding'], 'gzip')
  t.equal(gzip.headers.vary, 'Accept-Encoding')
  t.ok(gzip.body.length < page.length / 5, `compressed: ${gzip.body.length} of ${page.length} bytes`)
  t.equal(gunzipSync(gzip.body).toString(), page)

  const deflate = await httpRequest(`${origin}/page`, { headers: { 'accept-encoding': 'deflate' } })
  t.equal(deflate.headers['content-encoding'], 'deflate')
  t.equal(inflateSync(deflate.body).toString(), page)

  const brotli = await httpRequest(`${origin}/page`, { headers: { 'accept-encoding': 'br' } })
  t.equal(brotli.headers['content-encoding'], 'br')
  t.equal(brotliDecompressSync(brotli.body).toString(), page)

  const identity = await httpRequest(`${origin}/page`, { headers: { 'accept-encoding': 'identity' } })
  t.equal(identity.headers['content-encoding'], undefined)
  // compression sends the head before node could count the body: chunked, as on node:http.
  t.equal(identity.headers['transfer-encoding'], 'chunked')
  t.equal(identity.body.toString(), page)

  const small = await httpRequest(`${origin}/small`, { headers: { 'accept-encoding': 'gzip' } })
  t.equal(small.headers['content-encoding'], undefined, 'below the threshold: sent as is')
  t.equal(small.body.toString(), 'too small to compress')

  // fetch decompresses by itself.
  const fetched = await fetch(`${origin}/page`)
  t.equal(fetched.headers.get('content-encoding'), 'gzip')
  t.equal(await fetched.text(), page)
})

t.test('compression over the wire: chunked framing, and HEAD has no body', async (t) => {
  const client = await RawClient.connect(server.port)
  t.teardown(() => client.destroy())
  await client.write(
    get('/page', 'Accept-Encoding: gzip\r\n') +
      'HEAD /page HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n' +
      get('/small', 'Accept-Encoding: gzip\r\n'),
  )
  const [whole, head, small] = await client.waitForResponses(3, { head: [1] })
  t.equal(whole.framing, 'chunked')
  t.equal(gunzipSync(whole.body).toString(), page)
  t.equal(head.statusCode, 200)
  t.equal(head.body.length, 0)
  t.equal(small.body.toString(), 'too small to compress')
})

t.test('compressed streaming: res.flush() sends a decompressible part before the end', async (t) => {
  const { headers, body, partial } = await new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer; partial: string }>(
    (resolve, reject) => {
      http
        .get(`${origin}/stream`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
          const chunks: Buffer[] = []
          let partial = ''
          res.on('data', (chunk: Buffer) => {
            chunks.push(chunk)
            if (releaseStream !== null && partial === '') {
              // What arrived so far decompresses to the first part (a sync flush point).
              partial = gunzipPartial(Buffer.concat(chunks))
              if (partial.length >= 'first part, '.length * 200) {
                const release = releaseStream
                releaseStream = null
                release()
              } else partial = ''
            }
          })
          res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks), partial }))
          res.on('error', reject)
        })
        .on('error', reject)
    },
  )
  t.equal(headers['content-encoding'], 'gzip')
  t.equal(partial, 'first part, '.repeat(200))
  t.equal(gunzipSync(body).toString(), 'first part, '.repeat(200) + 'last part.')
})

t.test('a client leaving a compressed stream: the app sees close, nothing escapes', async (t) => {
  const client = await RawClient.connect(server.port)
  await client.write(get('/endless', 'Accept-Encoding: gzip\r\n'))
  await client.until(() => client.data.length > 256 * 1024, 20_000, 'some compressed output')
  t.match(client.data.toString('latin1', 0, 200), /Content-Encoding: gzip/i)
  client.destroy()
  const deadline = Date.now() + 5000
  while (endless.closed === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(endless.closed, 1, 'res close')
  t.equal((await httpRequest(`${origin}/small`)).status, 200, 'still serving')
  t.equal(server.errText(), '')
})

t.test('an error passed to next() reaches the error middleware; no route is a 404', async (t) => {
  const reply = await httpRequest(`${origin}/fail`)
  t.equal(reply.status, 500)
  t.equal(reply.body.toString(), 'error middleware: handed to next')
  const missing = await httpRequest(`${origin}/missing`)
  t.equal(missing.status, 404)
  t.equal((await httpRequest(`${origin}/small`)).status, 200, 'still serving')
})

t.test('nothing escaped to the process', async (t) => {
  t.same(escaped, [])
})

/** What a gzip stream cut short decompresses to so far. */
function gunzipPartial(data: Buffer): string {
  try {
    return gunzipSync(data, { finishFlush: 2 /* Z_SYNC_FLUSH */ }).toString()
  } catch {
    return ''
  }
}
