// Express 5 served through the node interface: body parsers, express.static (ranges, validators),
// cookies, redirects, error middleware, a multer upload, sendFile, streaming, HEAD, keep-alive
// and pipelining, all over real sockets with real clients.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express from 'express'
import cookieParser from 'cookie-parser'
import multer from 'multer'
import { RawClient, get, rawRequest } from './helpers/raw.js'
import { httpRequest, startServer, watchEscapes } from './helpers/server.js'

const MiB = 1024 * 1024

const dir = mkdtempSync(join(tmpdir(), 'pegasus-express-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const text = Array.from({ length: 200 }, (_, i) => `line ${String(i).padStart(3, '0')}\n`).join('')
writeFileSync(join(dir, 'lines.txt'), text)
writeFileSync(join(dir, 'page.html'), '<!doctype html><title>page</title>\n')
const textPath = join(dir, 'lines.txt')

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

function wait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// Released by a test once its client has seen the first part of a streamed response.
let releaseStream: (() => void) | null = null
const ports: number[] = []

function buildApp(): express.Express {
  const app = express()
  // 'test': Express's final handler does not print the stacks of the errors these tests cause.
  app.set('env', 'test')
  app.use(cookieParser('cookie secret'))
  app.post('/json', express.json(), (req, res) => res.json({ body: req.body, type: req.get('content-type') }))
  app.post('/form', express.urlencoded({ extended: true }), (req, res) => res.json(req.body))
  app.use('/static', express.static(dir))
  app.get('/cookies/set', (req, res) => {
    res.cookie('plain', 'one two', { httpOnly: true, path: '/' })
    res.cookie('signed', 'trusted', { signed: true })
    res.cookie('object', { n: 1 })
    res.clearCookie('gone')
    res.send('set')
  })
  app.get('/cookies/read', (req, res) => res.json({ cookies: req.cookies, signed: req.signedCookies }))
  app.get('/old', (req, res) => res.redirect('/new'))
  app.get('/moved', (req, res) => res.redirect(301, 'https://example.com/elsewhere'))
  app.get('/new', (req, res) => res.send('arrived'))
  app.get('/throw', () => {
    throw new Error('thrown in a route')
  })
  app.get('/reject', async () => {
    await wait(1)
    throw new Error('rejected in an async route')
  })
  app.get('/teapot', (req, res, next) => next(Object.assign(new Error('short and stout'), { status: 418 })))
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: 20 * MiB } })
  app.post('/upload', upload.single('file'), (req, res) => {
    const file = (req as unknown as { file: { size: number; buffer: Buffer; originalname: string; mimetype: string } }).file
    res.json({ size: file.size, sha256: sha256(file.buffer), name: file.originalname, type: file.mimetype, note: req.body.note })
  })
  app.get('/file', (req, res) => res.sendFile(textPath))
  app.get('/missing-file', (req, res) => {
    res.sendFile(join(dir, 'no-such-file.txt'), (error) => {
      if (error) res.status(404).send(`not found: ${(error as { code?: string }).code}`)
    })
  })
  app.get('/stream', (req, res) => {
    res.type('text/plain')
    res.write('first part\n')
    new Promise<void>((resolve) => (releaseStream = resolve)).then(() => {
      res.write('second part\n')
      res.end('the end\n')
    })
  })
  app.get('/big-stream', (req, res) => {
    // 8 MiB written with backpressure respected: 'drain' must come for the response.
    const piece = Buffer.alloc(64 * 1024, 'x')
    let left = 128
    const more = (): void => {
      while (left > 0) {
        left--
        if (!res.write(piece)) {
          res.once('drain', more)
          return
        }
      }
      res.end()
    }
    more()
  })
  app.get('/text', (req, res) => res.send('hello'))
  app.get('/port', (req, res) => {
    ports.push(req.socket.remotePort ?? 0)
    res.json({ port: req.socket.remotePort, ip: req.ip, hostname: req.hostname, protocol: req.protocol })
  })
  app.get('/delay/:ms', async (req, res) => {
    await wait(Number(req.params.ms))
    res.send(`waited ${req.params.ms}`)
  })
  app.post('/length', (req, res) => {
    let length = 0
    req.on('data', (chunk: Buffer) => (length += chunk.length))
    req.on('end', () => res.send(`got ${length}`))
  })
  app.post('/pipe', (req, res) => {
    res.type('application/octet-stream')
    req.pipe(res)
  })
  app.get('/hints', (req, res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' })
    res.send('hinted')
  })
  app.get('/timeout', (req, res) => {
    res.setTimeout(100, () => res.status(503).send('took too long'))
  })
  app.get('/timeout-unheard', (req) => {
    // node:http destroys a socket whose timeout nobody listens for.
    req.setTimeout(100)
  })
  app.get('/chunks', (req, res) => {
    res.write('a')
    setTimeout(() => res.end('b'), 5)
  })
  app.use((error: Error & { status?: number }, req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (error.status !== 418) return next(error)
    res.status(418).json({ error: error.message })
  })
  return app
}

const escaped = watchEscapes(t)
const server = await startServer(t, buildApp(), { interface: 'auto' })
const origin = server.origin

t.test('auto recognises the Express app', async (t) => {
  t.equal(server.server.app.interface, 'node')
  t.equal(server.server.app.label, 'Express app')
})

t.test('express.json and express.urlencoded bodies', async (t) => {
  const payload = { name: 'pegasus', list: [1, 2, 3], nested: { ok: true, text: 'é ✓' } }
  const json = await fetch(`${origin}/json`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  })
  t.equal(json.status, 200)
  t.match(json.headers.get('content-type'), /^application\/json/)
  t.same(await json.json(), { body: payload, type: 'application/json' })

  const bad = await fetch(`${origin}/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"no' })
  t.equal(bad.status, 400, 'malformed JSON is a 400 from body-parser')
  await bad.arrayBuffer()

  // A chunked JSON body (node's client streams it without a length).
  const chunked = await httpRequest(`${origin}/json`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: ['{"pieces":', '[1,', '2]}'],
  })
  t.equal(chunked.status, 200)
  t.same(JSON.parse(chunked.body.toString()).body, { pieces: [1, 2] })

  const form = await fetch(`${origin}/form`, {
    method: 'POST',
    body: new URLSearchParams({ a: '1', 'b[c]': 'deep', text: 'two words & more' }),
  })
  t.equal(form.status, 200)
  t.same(await form.json(), { a: '1', b: { c: 'deep' }, text: 'two words & more' })
})

t.test('express.static: whole file, Range, ETag and Last-Modified validators', async (t) => {
  const whole = await fetch(`${origin}/static/lines.txt`)
  t.equal(whole.status, 200)
  t.equal(await whole.text(), text)
  t.equal(whole.headers.get('content-length'), String(text.length))
  t.match(whole.headers.get('content-type'), /^text\/plain/)
  t.equal(whole.headers.get('accept-ranges'), 'bytes')
  const etag = whole.headers.get('etag') as string
  const lastModified = whole.headers.get('last-modified') as string
  t.ok(etag, 'an ETag')
  t.equal(lastModified, statSync(textPath).mtime.toUTCString())

  const range = await fetch(`${origin}/static/lines.txt`, { headers: { range: 'bytes=100-199' } })
  t.equal(range.status, 206)
  t.equal(range.headers.get('content-range'), `bytes 100-199/${text.length}`)
  t.equal(range.headers.get('content-length'), '100')
  t.equal(await range.text(), text.slice(100, 200))

  const suffix = await fetch(`${origin}/static/lines.txt`, { headers: { range: 'bytes=-9' } })
  t.equal(suffix.status, 206)
  t.equal(await suffix.text(), text.slice(-9))

  const unsatisfiable = await fetch(`${origin}/static/lines.txt`, { headers: { range: `bytes=${text.length + 10}-` } })
  t.equal(unsatisfiable.status, 416)
  t.equal(unsatisfiable.headers.get('content-range'), `bytes */${text.length}`)
  await unsatisfiable.arrayBuffer()

  const ifRange = await fetch(`${origin}/static/lines.txt`, { headers: { range: 'bytes=0-9', 'if-range': etag } })
  t.equal(ifRange.status, 206, 'If-Range with the current ETag: the range')
  t.equal(await ifRange.text(), text.slice(0, 10))
  const staleIfRange = await fetch(`${origin}/static/lines.txt`, { headers: { range: 'bytes=0-9', 'if-range': '"stale"' } })
  t.equal(staleIfRange.status, 200, 'If-Range with another ETag: the whole file')
  t.equal(await staleIfRange.text(), text)

  // 304s checked on the wire: no body, and the connection stays usable after them.
  const client = await RawClient.connect(server.port)
  t.teardown(() => client.destroy())
  await client.write(
    get('/static/lines.txt', `If-None-Match: ${etag}\r\n`) +
      get('/static/lines.txt', `If-Modified-Since: ${lastModified}\r\n`) +
      get('/static/lines.txt', `If-None-Match: "other"\r\n`),
  )
  const [notModified, notModifiedSince, full] = await client.waitForResponses(3)
  t.equal(notModified.statusCode, 304)
  t.equal(notModified.body.length, 0)
  t.equal(notModified.headers.etag, etag)
  t.equal(notModifiedSince.statusCode, 304)
  t.equal(full.statusCode, 200)
  t.equal(full.body.toString(), text)
  t.equal(client.responses().length, 3, 'nothing after the three responses')

  const html = await fetch(`${origin}/static/page.html`)
  t.match(html.headers.get('content-type'), /^text\/html/)
  t.equal((await fetch(`${origin}/static/nothing-here.txt`)).status, 404)
})

t.test('cookies: res.cookie (plain, signed, JSON), clearCookie, and reading them back', async (t) => {
  const set = await httpRequest(`${origin}/cookies/set`)
  t.equal(set.status, 200)
  const cookies = set.headers['set-cookie'] as string[]
  t.equal(cookies.length, 4)
  t.match(cookies[0], /^plain=one%20two; Path=\/; HttpOnly$/)
  t.match(cookies[1], /^signed=s%3Atrusted\.[^;]+; Path=\/$/)
  t.match(cookies[2], /^object=j%3A%7B%22n%22%3A1%7D; Path=\/$/)
  t.match(cookies[3], /^gone=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT$/)

  const cookieHeader = cookies
    .slice(0, 3)
    .map((cookie) => cookie.split(';')[0])
    .join('; ')
  const read = await httpRequest(`${origin}/cookies/read`, { headers: { cookie: cookieHeader } })
  t.same(JSON.parse(read.body.toString()), {
    cookies: { plain: 'one two', object: { n: 1 } },
    signed: { signed: 'trusted' },
  })
  const forged = await httpRequest(`${origin}/cookies/read`, { headers: { cookie: 'signed=s%3Aforged.abc' } })
  t.same(JSON.parse(forged.body.toString()).signed, { signed: false }, 'a bad signature is refused')
})

t.test('redirects', async (t) => {
  const manual = await fetch(`${origin}/old`, { redirect: 'manual' })
  t.equal(manual.status, 302)
  t.equal(manual.headers.get('location'), '/new')
  await manual.arrayBuffer()
  const followed = await fetch(`${origin}/old`)
  t.equal(followed.status, 200)
  t.equal(followed.url, `${origin}/new`)
  t.equal(await followed.text(), 'arrived')
  const moved = await httpRequest(`${origin}/moved`)
  t.equal(moved.status, 301)
  t.equal(moved.headers.location, 'https://example.com/elsewhere')
})

t.test('errors: a thrown error and a rejected async route are 500, error middleware answers its own', async (t) => {
  const thrown = await httpRequest(`${origin}/throw`)
  t.equal(thrown.status, 500)
  t.match(thrown.body.toString(), /Error: thrown in a route/, "Express's final handler (its 'test' env shows the error)")
  const rejected = await httpRequest(`${origin}/reject`)
  t.equal(rejected.status, 500)
  const teapot = await httpRequest(`${origin}/teapot`)
  t.equal(teapot.status, 418)
  t.same(JSON.parse(teapot.body.toString()), { error: 'short and stout' })
  const missing = await httpRequest(`${origin}/no/such/route`)
  t.equal(missing.status, 404)
  t.match(missing.body.toString(), /Cannot GET \/no\/such\/route/)
  // Express handled these itself: nothing reached Pegasus's error log.
  t.equal(server.errText(), '')
  t.equal((await httpRequest(`${origin}/text`)).body.toString(), 'hello', 'still serving')
})

t.test('multer: a 10 MiB multipart upload arrives whole', async (t) => {
  const data = randomBytes(10 * MiB)
  const form = new FormData()
  form.append('note', 'a field before the file')
  form.append('file', new Blob([data], { type: 'application/octet-stream' }), 'random.bin')
  const response = await fetch(`${origin}/upload`, { method: 'POST', body: form })
  t.equal(response.status, 200)
  t.same(await response.json(), {
    size: data.length,
    sha256: sha256(data),
    name: 'random.bin',
    type: 'application/octet-stream',
    note: 'a field before the file',
  })
})

t.test('a 10 MiB body streamed to a plain handler, with Content-Length and chunked', async (t) => {
  const data = randomBytes(10 * MiB)
  const sized = await httpRequest(`${origin}/length`, { method: 'POST', headers: { 'content-length': String(data.length) }, body: data })
  t.equal(sized.body.toString(), `got ${data.length}`)
  const pieces = Array.from({ length: 10 }, (_, i) => data.subarray(i * MiB, (i + 1) * MiB))
  const chunked = await httpRequest(`${origin}/length`, { method: 'POST', body: pieces })
  t.equal(chunked.body.toString(), `got ${data.length}`)
})

t.test('res.sendFile: the file with its headers, ranges, and a missing file', async (t) => {
  const file = await fetch(`${origin}/file`)
  t.equal(file.status, 200)
  t.match(file.headers.get('content-type'), /^text\/plain; charset=utf-8/)
  t.ok(file.headers.get('etag'))
  t.equal(await file.text(), text)
  const range = await fetch(`${origin}/file`, { headers: { range: 'bytes=5-14' } })
  t.equal(range.status, 206)
  t.equal(await range.text(), text.slice(5, 15))
  const missing = await fetch(`${origin}/missing-file`)
  t.equal(missing.status, 404)
  t.equal(await missing.text(), 'not found: ENOENT')
})

t.test('streaming res.write: parts arrive before the end, chunked', async (t) => {
  const result = await new Promise<{ headers: http.IncomingHttpHeaders; parts: string[] }>((resolve, reject) => {
    http
      .get(`${origin}/stream`, (res) => {
        const parts: string[] = []
        res.setEncoding('utf8')
        res.on('data', (part: string) => {
          parts.push(part)
          // The first part reached the client while the response was still open.
          if (parts.length === 1) {
            t.equal(part, 'first part\n')
            ;(releaseStream as () => void)()
          }
        })
        res.on('end', () => resolve({ headers: res.headers, parts }))
        res.on('error', reject)
      })
      .on('error', reject)
  })
  t.equal(result.headers['transfer-encoding'], 'chunked')
  t.equal(result.parts.join(''), 'first part\nsecond part\nthe end\n')

  const big = await httpRequest(`${origin}/big-stream`)
  t.equal(big.status, 200)
  t.equal(big.body.length, 8 * MiB)
  t.equal(sha256(big.body), sha256(Buffer.alloc(8 * MiB, 'x')))
})

t.test('HEAD: the headers of GET and no body', async (t) => {
  const client = await RawClient.connect(server.port)
  t.teardown(() => client.destroy())
  await client.write(
    'HEAD /text HTTP/1.1\r\nHost: localhost\r\n\r\n' +
      'HEAD /static/lines.txt HTTP/1.1\r\nHost: localhost\r\n\r\n' +
      get('/text'),
  )
  const [head, headStatic, after] = await client.waitForResponses(3, { head: [0, 1] })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['content-length'], '5')
  t.equal(head.body.length, 0)
  t.equal(headStatic.statusCode, 200)
  t.equal(headStatic.headers['content-length'], String(text.length))
  t.equal(headStatic.body.length, 0)
  t.equal(after.body.toString(), 'hello', 'the next response follows at once: no stray body bytes')
  const fetched = await fetch(`${origin}/text`, { method: 'HEAD' })
  t.equal(fetched.headers.get('content-length'), '5')
  t.equal(await fetched.text(), '')
})

t.test('keep-alive: one connection serves many requests; Connection: close ends it', async (t) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  ports.length = 0
  for (let i = 0; i < 20; i++) {
    const reply = await httpRequest(`${origin}/port`, { agent })
    t.equal(reply.status, 200)
    if (i === 0) {
      t.equal(reply.headers.connection, 'keep-alive')
      t.match(reply.headers['keep-alive'], /^timeout=5$/)
      const info = JSON.parse(reply.body.toString())
      t.equal(info.ip, '127.0.0.1')
      t.equal(info.hostname, '127.0.0.1')
      t.equal(info.protocol, 'http')
    }
  }
  t.equal(new Set(ports).size, 1, 'every request came on the same connection')

  const client = await RawClient.connect(server.port)
  await client.write(get('/text', 'Connection: close\r\n'))
  await client.waitForClose()
  const [reply] = client.responses()
  t.equal(reply.headers.connection, 'close')
  t.equal(reply.body.toString(), 'hello')
})

t.test('pipelined requests are answered in order, whatever order their apps finish in', async (t) => {
  const client = await RawClient.connect(server.port)
  t.teardown(() => client.destroy())
  const body = '{"in":"between"}'
  await client.write(
    get('/delay/150') +
      `POST /json HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
      get('/delay/50') +
      get('/static/lines.txt', 'Range: bytes=0-4\r\n') +
      get('/text') +
      get('/delay/0', 'Connection: close\r\n'),
  )
  await client.waitForClose()
  const responses = client.responses()
  t.same(
    responses.map((r) => r.statusCode),
    [200, 200, 200, 206, 200, 200],
  )
  t.equal(responses[0].body.toString(), 'waited 150')
  t.same(JSON.parse(responses[1].body.toString()).body, { in: 'between' })
  t.equal(responses[2].body.toString(), 'waited 50')
  t.equal(responses[3].body.toString(), text.slice(0, 5))
  t.equal(responses[4].body.toString(), 'hello')
  t.equal(responses[5].body.toString(), 'waited 0')
  t.equal(responses[5].headers.connection, 'close')
})

t.test('Expect: 100-continue: the 100 comes when express.json reads the body', async (t) => {
  const result = await new Promise<{ continued: boolean; status: number; body: string }>((resolve, reject) => {
    let continued = false
    const req = http.request(
      `${origin}/json`,
      { method: 'POST', headers: { 'content-type': 'application/json', expect: '100-continue' } },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (piece: string) => (body += piece))
        res.on('end', () => resolve({ continued, status: res.statusCode ?? 0, body }))
      },
    )
    req.on('error', reject)
    req.on('continue', () => {
      continued = true
      req.end('{"waited":true}')
    })
  })
  t.ok(result.continued, '100 Continue arrived')
  t.equal(result.status, 200)
  t.same(JSON.parse(result.body).body, { waited: true })
})

t.test('req.pipe(res): 10 MiB echoed while it is still being sent', async (t) => {
  const data = randomBytes(10 * MiB)
  const pieces = Array.from({ length: 40 }, (_, i) => data.subarray(i * 256 * 1024, (i + 1) * 256 * 1024))
  const reply = await httpRequest(`${origin}/pipe`, { method: 'POST', body: pieces })
  t.equal(reply.status, 200)
  t.equal(reply.body.length, data.length)
  t.equal(sha256(reply.body), sha256(data))
})

t.test('res.writeEarlyHints: a 103 goes out before the response', async (t) => {
  const client = await RawClient.connect(server.port)
  t.teardown(() => client.destroy())
  await client.write(get('/hints'))
  const [hints, final] = await client.waitForResponses(2)
  t.equal(hints.statusCode, 103)
  t.equal(hints.headers.link, '</style.css>; rel=preload; as=style')
  t.equal(final.statusCode, 200)
  t.equal(final.body.toString(), 'hinted')
})

t.test('res.setTimeout and req.setTimeout: timeout events as on node:http', async (t) => {
  const started = Date.now()
  const timedOut = await fetch(`${origin}/timeout`)
  t.equal(timedOut.status, 503)
  t.equal(await timedOut.text(), 'took too long')
  t.ok(Date.now() - started >= 90, 'after the timeout')
  const client = await RawClient.connect(server.port)
  t.teardown(() => client.destroy())
  await client.write(get('/timeout-unheard'))
  await client.waitForClose()
  t.same(client.responses(), [], 'no answer: the socket was destroyed')
  t.equal((await httpRequest(`${origin}/text`)).body.toString(), 'hello', 'still serving')
})

t.test('HTTP/1.0: a stream is delimited by the close; keep-alive with a length', async (t) => {
  const stream = await rawRequest(server.port, 'GET /chunks HTTP/1.0\r\n\r\n')
  const [streamed] = stream.responses
  t.equal(streamed.framing, 'close')
  t.equal(streamed.body.toString(), 'ab')
  t.ok(stream.closed)
  const client = await RawClient.connect(server.port)
  t.teardown(() => client.destroy())
  await client.write('GET /text HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /text HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
  const replies = await client.waitForResponses(2)
  t.same(
    replies.map((r) => [r.headers.connection, r.body.toString()]),
    [
      ['keep-alive', 'hello'],
      ['keep-alive', 'hello'],
    ],
  )
  t.notOk(client.closed)
})

t.test('server.close() with a request in flight: its answer says Connection: close', async (t) => {
  let started!: () => void
  const inFlight = new Promise<void>((resolve) => (started = resolve))
  const app = express()
  app.get('/slow', (req, res) => {
    started()
    setTimeout(() => res.send('finished'), 100)
  })
  const own = await startServer(t, app, { interface: 'auto' })
  const client = await RawClient.connect(own.port)
  await client.write(get('/slow'))
  await inFlight
  const closed = own.server.close()
  await client.waitForClose()
  const [reply] = client.responses()
  t.equal(reply.body.toString(), 'finished')
  t.equal(reply.headers.connection, 'close')
  t.equal(reply.headers['keep-alive'], undefined)
  await closed
})

t.test('nothing escaped to the process', async (t) => {
  t.same(escaped, [])
})
