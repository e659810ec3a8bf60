// The fetch interface over real sockets: a web-standard handler gets a real-enough Request
// (instanceof Request, body methods, clone, formData, signal) and its Response is written by
// Pegasus: fast paths, streams with backpressure, HEAD, cookies, and errors answered 500.
import t from 'tap'
import { once } from 'node:events'
import net from 'node:net'
import { RawClient } from './helpers/raw.js'
import { eventually, httpRequest, memoryLog, sleep, startServer, turns, watchEscapes } from './helpers/server.js'
import { createServer, type ServerOptions } from '../lib/server.js'

type Handler = (request: Request, info: unknown) => Response | Promise<Response> | unknown
type Tap = Parameters<typeof startServer>[0]

function startFetch(t: Tap, app: Handler | object, options: ServerOptions = {}): ReturnType<typeof startServer> {
  // (A handler of no parameters is a node:http handler to `auto`: these ask for fetch.)
  return startServer(t, app as never, { interface: typeof app === 'function' && app.length === 0 ? 'fetch' : 'auto', ...options })
}

const NODE_MAJOR = Number(process.versions.node.split('.')[0])

t.test('auto: a one-parameter function and an object with fetch() are fetch apps', async (t) => {
  const plain = await startFetch(t, (_request: Request) => new Response('hi'))
  t.equal(plain.server.app.interface, 'fetch')
  t.equal(plain.server.app.label, 'fetch handler: one parameter')
  const reply = await httpRequest(`${plain.origin}/`)
  t.equal(reply.status, 200)
  t.equal(reply.body.toString(), 'hi')
  t.equal(reply.headers['content-type'], 'text/plain;charset=UTF-8', "undici's type for a string body")
  t.equal(reply.headers['content-length'], '2', 'a string body goes out whole, with its length')

  const object = await startFetch(t, { fetch: () => Response.json({ ok: true }) })
  t.equal(object.server.app.label, 'an object with fetch()')
  const json = await httpRequest(`${object.origin}/`)
  t.same(JSON.parse(json.body.toString()), { ok: true })
  t.equal(json.headers['content-type'], 'application/json')

  // --interface fetch takes a function of any arity, and an object with fetch().
  const asked = await startFetch(t, (_request: Request, _info: unknown) => new Response(null, { status: 204 }), { interface: 'fetch' })
  t.equal(asked.server.app.label, 'as asked')
  t.equal((await httpRequest(`${asked.origin}/`)).status, 204)
})

t.test('the request: method, absolute URL, headers, instanceof Request, and the client address', async (t) => {
  let seen: Record<string, unknown> = {}
  const server = await startFetch(t, (request: Request, info: { remoteAddress: string; remotePort: number; requestIP(): { address: string }; remoteAddr: { hostname: string } }) => {
    seen = {
      isRequest: request instanceof Request,
      method: request.method,
      url: request.url,
      accept: request.headers.get('accept'),
      multi: request.headers.get('x-multi'),
      host: request.headers.get('host'),
      mode: request.mode,
      cache: request.cache,
      redirect: request.redirect,
      bodyNull: request.body === null,
      bodyUsed: request.bodyUsed,
      aborted: request.signal.aborted,
      duplex: (request as unknown as { duplex: string }).duplex,
      address: info.remoteAddress,
      port: typeof info.remotePort,
      ip: info.requestIP().address,
      deno: info.remoteAddr.hostname,
      tag: Object.prototype.toString.call(request),
    }
    return new Response('ok')
  }, { interface: 'fetch' })
  const client = await RawClient.connect(server.port)
  await client.write('get /path?q=1 HTTP/1.1\r\nHost: example.test:8080\r\nAccept: text/html\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n')
  await client.waitForResponses(1)
  client.destroy()
  t.same(seen, {
    isRequest: true,
    method: 'GET',
    url: 'http://example.test:8080/path?q=1',
    accept: 'text/html',
    multi: 'a, b',
    host: 'example.test:8080',
    mode: 'cors',
    cache: 'default',
    redirect: 'follow',
    bodyNull: true,
    bodyUsed: false,
    aborted: false,
    duplex: 'half',
    address: '127.0.0.1',
    port: 'number',
    ip: '127.0.0.1',
    deno: '127.0.0.1',
    tag: '[object Request]',
  })

  // absolute-form keeps its own origin; HTTP/1.0 without Host gets the server's address.
  const raw = await RawClient.connect(server.port)
  await raw.write('GET http://other.test/x HTTP/1.1\r\nHost: other.test\r\n\r\n')
  await raw.waitForResponses(1)
  t.equal(seen.url, 'http://other.test/x')
  raw.destroy()
  const old = await RawClient.connect(server.port)
  await old.write('GET /old HTTP/1.0\r\n\r\n')
  await old.waitForResponses(1)
  t.equal(seen.url, `http://127.0.0.1:${server.port}/old`)
  old.destroy()
})

t.test('request bodies: text, json, bytes, arrayBuffer, blob, formData, the stream, and reading twice', async (t) => {
  const results: unknown[] = []
  const server = await startFetch(t, async (request: Request) => {
    const how = new URL(request.url).pathname.slice(1)
    let value: unknown
    if (how === 'text') value = await request.text()
    else if (how === 'json') value = await request.json()
    else if (how === 'bytes') value = Array.from(await (request as unknown as { bytes(): Promise<Uint8Array> }).bytes())
    else if (how === 'arrayBuffer') value = (await request.arrayBuffer()).byteLength
    else if (how === 'blob') {
      const blob = await request.blob()
      value = [blob.type, await blob.text()]
    } else if (how === 'form') {
      const form = await request.formData()
      const file = form.get('file') as File
      value = [form.get('name'), file.name, await file.text()]
    } else if (how === 'urlencoded') value = Object.fromEntries(await request.formData())
    else if (how === 'stream') {
      const parts: string[] = []
      for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) parts.push(Buffer.from(chunk).toString())
      value = [parts.join(''), request.bodyUsed]
    } else if (how === 'twice') {
      await request.text()
      value = await request.text().then(
        () => 'read twice',
        (error: Error) => `${error.name}: ${request.bodyUsed}`,
      )
    } else if (how === 'bom') value = await request.text()
    results.push(value)
    return new Response('done')
  })
  const post = (path: string, body: string | Buffer, type = 'text/plain'): Promise<unknown> =>
    httpRequest(`${server.origin}/${path}`, { method: 'POST', headers: { 'content-type': type }, body })
  await post('text', 'hello')
  await post('json', '{"a":[1,2]}', 'application/json')
  await post('bytes', Buffer.from([1, 2, 3]))
  await post('arrayBuffer', Buffer.alloc(100))
  await post('blob', 'blobby', 'text/x-blob')
  const boundary = 'XyZ'
  const multipart =
    `--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nPegasus\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nfile body\r\n` +
    `--${boundary}--\r\n`
  await post('form', multipart, `multipart/form-data; boundary=${boundary}`)
  await post('urlencoded', 'a=1&b=two', 'application/x-www-form-urlencoded')
  // A chunked body, streamed.
  await httpRequest(`${server.origin}/stream`, { method: 'POST', body: ['part one, ', 'part two'] })
  await post('twice', 'x')
  await post('bom', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('text')]))
  t.same(results, [
    'hello',
    { a: [1, 2] },
    [1, 2, 3],
    100,
    ['text/x-blob', 'blobby'],
    ['Pegasus', 'a.txt', 'file body'],
    { a: '1', b: 'two' },
    ['part one, part two', true],
    'TypeError: true',
    'text',
  ])
})

t.test('a large body streams to the handler (bufferBody off), and clone() gives a second reader', async (t) => {
  let got: unknown = null
  const server = await startFetch(
    t,
    async (request: Request) => {
      const copy = request.clone()
      const [mine, theirs] = await Promise.all([request.arrayBuffer(), copy.arrayBuffer()])
      got = [mine.byteLength, theirs.byteLength, copy instanceof Request, copy.headers.get('x-check')]
      return new Response(null, { status: 204 })
    },
    { bufferBody: 0 },
  )
  const body = Buffer.alloc(3 * 1024 * 1024, 7)
  const reply = await httpRequest(`${server.origin}/`, { method: 'PUT', headers: { 'x-check': 'yes' }, body })
  t.equal(reply.status, 204)
  t.same(got, [body.length, body.length, true, 'yes'])
})

t.test('new Request(request): a real copy on Node.js 20; on later versions undici refuses it', async (t) => {
  let outcome: unknown = null
  const server = await startFetch(t, async (request: Request) => {
    try {
      const copy = new Request(request)
      outcome = [copy.method, copy.url, copy.headers.get('x-a'), await copy.text()]
    } catch (error) {
      outcome = (error as Error).name
    }
    // The documented alternative works everywhere.
    const alike = new Request(request.url, { method: request.method, headers: request.headers })
    return new Response(`${alike.method} ${alike.headers.get('x-a')}`)
  })
  const reply = await httpRequest(`${server.origin}/copy`, { method: 'POST', headers: { 'x-a': 'b' }, body: 'payload' })
  t.equal(reply.body.toString(), 'POST b')
  if (NODE_MAJOR < 22) t.same(outcome, ['POST', `${server.origin}/copy`, 'b', 'payload'])
  else t.equal(outcome, 'TypeError')
})

t.test('responses: status text, several Set-Cookie apart, bytes, empty, a null body status', async (t) => {
  const server = await startFetch(t, (request: Request) => {
    const path = new URL(request.url).pathname
    if (path === '/cookies') {
      const headers = new Headers({ 'x-one': '1' })
      headers.append('set-cookie', 'a=1; Path=/')
      headers.append('set-cookie', 'b=2, with comma; Path=/')
      return new Response('c', { status: 201, statusText: 'Made It', headers })
    }
    if (path === '/bytes') return new Response(new Uint8Array([104, 105]))
    if (path === '/empty') return new Response('')
    return new Response(null, { status: 304 })
  })
  const cookies = await httpRequest(`${server.origin}/cookies`)
  t.equal(cookies.status, 201)
  t.equal(cookies.statusMessage, 'Made It')
  t.same(cookies.headers['set-cookie'], ['a=1; Path=/', 'b=2, with comma; Path=/'], 'each cookie on its own line')
  t.equal(cookies.headers['x-one'], '1')
  const bytes = await httpRequest(`${server.origin}/bytes`)
  t.equal(bytes.body.toString(), 'hi')
  t.equal(bytes.headers['content-length'], '2')
  const empty = await httpRequest(`${server.origin}/empty`)
  t.equal(empty.headers['content-length'], '0')
  const notModified = await httpRequest(`${server.origin}/other`)
  t.equal(notModified.status, 304)
})

t.test('a streamed body: chunked, each piece written at once (SSE arrives event by event)', async (t) => {
  let send: ((text: string) => void) | null = null
  let close: (() => void) | null = null
  const server = await startFetch(t, () => {
    const encoder = new TextEncoder()
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        send = (text) => controller.enqueue(encoder.encode(text))
        close = () => controller.close()
      },
    })
    return new Response(stream, { headers: { 'content-type': 'text/event-stream' } })
  })
  const client = await RawClient.connect(server.port)
  await client.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n')
  await eventually(() => send !== null)
  ;(send as unknown as (text: string) => void)('data: one\n\n')
  await client.until(() => client.data.includes('data: one'), 20_000, 'the first event')
  t.notOk(client.data.includes('data: two'), 'the first event arrives alone')
  t.match(client.data.toString('latin1'), /Transfer-Encoding: chunked/)
  ;(send as unknown as (text: string) => void)('data: two\n\n')
  await client.until(() => client.data.includes('data: two'), 20_000, 'the second event')
  ;(close as unknown as () => void)()
  await client.until(() => client.data.toString('latin1').endsWith('0\r\n\r\n'), 20_000, 'the last chunk')
  client.destroy()
})

t.test('HEAD: the body stream is cancelled and no body (nor a false length) goes out', async (t) => {
  let cancelled = 0
  const server = await startFetch(t, (request: Request) => {
    if (request.url.endsWith('/next')) return new Response('next')
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(10))
      },
      cancel() {
        cancelled++
      },
    })
    return new Response(stream, { headers: { 'x-kind': 'stream' } })
  })
  const client = await RawClient.connect(server.port)
  await client.write('HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  await client.until(() => client.closed, 20_000, 'both answers')
  const text = client.data.toString('latin1')
  const [head] = text.split('\r\n\r\n')
  t.match(head, /^HTTP\/1\.1 200 OK/)
  t.match(head, /x-kind: stream/)
  t.notMatch(head, /Content-Length: 0/i, 'no length claimed for the body not sent')
  t.match(text, /\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nnext$/, 'the next response follows the head directly')
  t.equal(cancelled, 1, 'the stream was cancelled')
})

t.test('backpressure: a 200 MiB stream to a client that does not read is not read ahead', async (t) => {
  let pulled = 0
  let cancelled = false
  const piece = new Uint8Array(64 * 1024)
  const server = await startFetch(t, () => {
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++
        if (pulled * piece.length >= 200 * 1024 * 1024) controller.close()
        else controller.enqueue(piece)
      },
      cancel() {
        cancelled = true
      },
    })
    return new Response(stream)
  })
  const socket = net.connect(server.port, '127.0.0.1')
  await once(socket, 'connect')
  socket.pause()
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  // The server writes until its socket is backed up (the kernel's buffers full); from then on
  // nothing more is to be pulled. (Its connections, read for the test.)
  const connections = (server.server as unknown as { connections: Set<{ socket: net.Socket }> }).connections
  t.ok(await eventually(() => [...connections].some((conn) => conn.socket.writableNeedDrain)), 'the server socket is backed up')
  await turns()
  const early = pulled
  await sleep(300)
  t.ok(pulled < 200, `only what the socket buffers is read (${pulled} of 3,200 pieces)`)
  t.equal(pulled, early, 'and no more while the client reads nothing')
  socket.destroy()
  t.ok(await eventually(() => cancelled), 'the stream is cancelled when the client goes')
})

t.test('errors: a throw, a rejection, a non-Response: 500 and an ERROR line naming it; the server goes on', async (t) => {
  const escaped = watchEscapes(t)
  const server = await startFetch(t, async (request: Request) => {
    const path = new URL(request.url).pathname
    if (path === '/throw') throw new Error('handler broke')
    if (path === '/string') return 'just text'
    if (path === '/nothing') return undefined
    if (path === '/stream-error') {
      return new Response(
        new ReadableStream({
          pull(controller) {
            controller.error(new Error('stream broke'))
          },
        }),
      )
    }
    return new Response('fine')
  })
  for (const path of ['/throw', '/string', '/nothing', '/stream-error']) {
    const reply = await httpRequest(`${server.origin}${path}`)
    t.equal(reply.status, 500, `${path}: 500`)
  }
  const sync = await startFetch(t, (request: Request): Response => {
    if (request.method === 'POST') return 42 as never
    throw new Error('sync throw')
  })
  t.equal((await httpRequest(`${sync.origin}/`)).status, 500)
  t.equal((await httpRequest(`${sync.origin}/`, { method: 'POST', body: 'x' })).status, 500)
  const errors = server.errText() + sync.errText()
  t.match(errors, /handler broke/)
  t.match(errors, /The fetch handler resolved with a string \("just text"\) instead of a Response/)
  t.match(errors, /resolved with undefined instead of a Response/)
  t.match(errors, /stream broke/)
  t.match(errors, /sync throw/)
  t.match(errors, /The fetch handler returned a number \(42\) instead of a Response/)
  t.equal((await httpRequest(`${server.origin}/`)).body.toString(), 'fine', 'the server goes on')
  t.same(escaped, [], 'nothing escapes')
})

t.test('request.signal aborts once when the client goes away, and never after a normal answer', async (t) => {
  const signals: AbortSignal[] = []
  let aborts = 0
  const server = await startFetch(t, async (request: Request) => {
    signals.push(request.signal)
    request.signal.addEventListener('abort', () => aborts++)
    if (new URL(request.url).pathname === '/wait') await new Promise(() => {})
    return new Response('quick')
  })
  await httpRequest(`${server.origin}/quick`)
  await sleep(50)
  t.equal(signals[0].aborted, false, 'not aborted after a normal answer')
  const client = await RawClient.connect(server.port)
  await client.write('GET /wait HTTP/1.1\r\nHost: x\r\n\r\n')
  await eventually(() => signals.length === 2)
  client.destroy()
  t.ok(await eventually(() => signals[1].aborted), 'aborted when the client goes')
  await sleep(50)
  t.equal(aborts, 1, 'once')
})

t.test('edges of the request: methods, OPTIONS *, IPv6, empty bodies, reading rules', async (t) => {
  const seen: unknown[] = []
  const byPath: Record<string, unknown> = {}
  const handler = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname
    if (path === '/method') seen.push(request.method)
    else if (path === '/*') seen.push(['asterisk', request.method, request.url.endsWith('/*')])
    else if (path === '/empty-text') byPath[path] = await request.text()
    else if (path === '/body-twice') byPath[path] = request.body === request.body
    else if (path === '/blob') byPath[path] = (await request.blob()).type
    else if (path === '/form-untyped') byPath[path] = await request.formData().then(() => 'parsed', (error: Error) => error.name)
    else if (path === '/clone-used') {
      await request.text()
      try {
        request.clone()
        byPath[path] = 'cloned'
      } catch (error) {
        byPath[path] = (error as Error).name
      }
    } else if (path === '/url') seen.push(request.url)
    return new Response('ok')
  }
  const server = await startFetch(t, handler)
  const client = await RawClient.connect(server.port)
  await client.write(
    'PATCH /method HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n' +
      'delete /method HTTP/1.1\r\nHost: x\r\n\r\n' +
      'purge /method HTTP/1.1\r\nHost: x\r\n\r\n' +
      'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /empty-text HTTP/1.1\r\nHost: x\r\n\r\n' +
      'POST /body-twice HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab' +
      'POST /blob HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab' +
      'POST /form-untyped HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na=1' +
      'POST /clone-used HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na',
  )
  await client.waitForResponses(9)
  client.destroy()
  t.same(seen, ['PATCH', 'DELETE', 'purge', ['asterisk', 'OPTIONS', true]])
  t.same(byPath, { '/empty-text': '', '/body-twice': true, '/blob': '', '/form-untyped': 'TypeError', '/clone-used': 'TypeError' })

  // IPv6: a request without Host names the server by its bracketed address.
  const onV6 = createServer(handler as never, { interface: 'fetch', log: memoryLog().log })
  const listening = await onV6.listen(0, '::1').then(
    () => true,
    () => false,
  )
  if (listening) {
    t.teardown(() => onV6.close())
    const raw = await RawClient.connect(onV6.address().port, '::1')
    await raw.write('GET /url HTTP/1.0\r\n\r\n')
    await raw.waitForResponses(1)
    raw.destroy()
    t.equal(seen.at(-1), `http://[::1]:${onV6.address().port}/url`)
  } else t.comment('no IPv6 loopback here: the bracketed form is not checked')
})

t.test('edges of the response: empty and late streams, non-byte chunks, lookalikes, late answers', async (t) => {
  let cancelled = 0
  let later: ((chunk: string | null) => void) | null = null
  const server = await startFetch(
    t,
    async (request: Request): Promise<unknown> => {
      const path = new URL(request.url).pathname
      const encoder = new TextEncoder()
      if (path === '/empty-stream') return new Response(new ReadableStream({ start: (c) => c.close() }))
      if (path === '/slow-empty') return new Response(new ReadableStream({ start: (c) => void setTimeout(() => c.close(), 20) }))
      if (path === '/quick-then-slow') {
        return new Response(
          new ReadableStream<Uint8Array>({
            start(c) {
              c.enqueue(encoder.encode('first '))
              later = (chunk) => (chunk === null ? c.close() : c.enqueue(encoder.encode(chunk)))
            },
          }),
        )
      }
      if (path === '/one-piece') return new Response(new ReadableStream({ start: (c) => (c.enqueue(encoder.encode('whole')), c.close()) }))
      if (path === '/strings') return new Response(new ReadableStream({ start: (c) => (c.enqueue('not bytes'), c.close()) }))
      if (path === '/lookalike') return { status: 202, statusText: '', headers: new Headers({ 'x-look': 'alike' }), body: null }
      if (path === '/null') return null
      if (path === '/object') return {}
      if (path === '/map') return new Map()
      if (path === '/long') return 'x'.repeat(100)
      if (path === '/headless') return { status: 200, body: null }
      if (path === '/late') {
        // (The app timeout is checked once a second.)
        await sleep(1500)
        return new Response(new ReadableStream({ cancel: () => void cancelled++ }))
      }
      return new Response('?')
    },
    { appTimeout: 100 },
  )
  const get = (path: string): ReturnType<typeof httpRequest> => httpRequest(`${server.origin}${path}`)
  const empty = await get('/empty-stream')
  t.same([empty.status, empty.headers['content-length'], empty.body.length], [200, '0', 0])
  const slowEmpty = await get('/slow-empty')
  t.same([slowEmpty.status, slowEmpty.headers['transfer-encoding'], slowEmpty.body.length], [200, 'chunked', 0])
  const pending = get('/quick-then-slow')
  await eventually(() => later !== null)
  await sleep(20)
  ;(later as unknown as (chunk: string | null) => void)('second')
  ;(later as unknown as (chunk: string | null) => void)(null)
  const quickThenSlow = await pending
  t.same([quickThenSlow.headers['transfer-encoding'], quickThenSlow.body.toString()], ['chunked', 'first second'])
  const onePiece = await get('/one-piece')
  t.same([onePiece.headers['content-length'], onePiece.body.toString()], ['5', 'whole'], 'a stream done at once goes out with its length')
  t.equal((await get('/strings')).status, 500, 'a stream of strings is refused')
  const lookalike = await get('/lookalike')
  t.same([lookalike.status, lookalike.headers['x-look']], [202, 'alike'], 'a Response from another realm or library')
  for (const path of ['/null', '/object', '/map', '/long', '/headless']) t.equal((await get(path)).status, 500, path)
  const late = await get('/late')
  t.equal(late.status, 503, 'an answer too late: 503')
  t.ok(await eventually(() => cancelled === 1), "the late Response's body is cancelled")
  const errors = server.errText()
  t.match(errors, /The Response body stream gave a string \("not bytes"\), not a Uint8Array/)
  t.match(errors, /resolved with null instead/)
  t.match(errors, /resolved with an object instead/)
  t.match(errors, /resolved with a Map instead/)
  t.match(errors, /resolved with a string \("x{40}\.\.\."\) instead/)
})

t.test('a Response that cannot go out as it is gets a 500; a subclass of Response is written as one', async (t) => {
  class Mine extends Response {}
  const server = await startFetch(t, (request: Request) => {
    const path = new URL(request.url).pathname
    if (path === '/short-length') return new Response('hello', { headers: { 'content-length': '3' } })
    // (undici lets DEL through; a response field may not carry it.)
    if (path === '/control') return new Response('x', { headers: { 'x-bad': 'a\x7fb' } })
    if (path === '/later') return Promise.resolve(new Response('hello', { headers: { 'content-length': '9' } }))
    return new Mine('subclass', { status: 201, headers: { 'x-mine': 'yes' } })
  })
  for (const path of ['/short-length', '/control', '/later']) t.equal((await httpRequest(`${server.origin}${path}`)).status, 500, path)
  const mine = await httpRequest(`${server.origin}/mine`)
  t.same([mine.status, mine.headers['x-mine'], mine.headers['content-length'], mine.body.toString()], [201, 'yes', '8', 'subclass'])
  const errors = server.errText()
  t.match(errors, /Content-Length 3 does not match the body's 5 bytes/)
  t.match(errors, /Invalid character in header "x-bad"/)
  t.match(errors, /Content-Length 9 does not match the body's 5 bytes/)
  t.equal((await httpRequest(`${server.origin}/mine`)).status, 201, 'the server goes on')
})
