// Request: the target, version and headers an app sees, the body read whole or streamed,
// Expect: 100-continue, and req.signal.
import t, { type Test } from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createHash } from 'node:crypto'
import { RawClient, get, rawRequest } from './helpers/raw.js'
import { deferred, httpRequest, sleep, startServer, turns } from './helpers/server.js'
import type { Request, Response } from '../lib/server.js'

// The fields node:http keeps once (the first value), but for host and content-length, whose
// repeats the parser refuses (or accepts only when equal).
// (Content-Type is one too, but a request that repeats it is refused: see test/parser.ts.)
const SINGLE_FIELDS = [
  'user-agent', 'referer', 'authorization', 'proxy-authorization',
  'if-modified-since', 'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag',
  'last-modified', 'server', 'age', 'expires',
]


/** Answers with what the app saw of the request, as JSON. */
function describe(req: Request, res: Response): void {
  res.setHeader('Content-Type', 'application/json')
  res.end(
    JSON.stringify({
      method: req.method,
      url: req.url,
      path: req.path,
      query: req.query,
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      host: req.header('HOST') ?? null,
      missing: req.header('x-missing') ?? null,
      remoteAddress: req.remoteAddress,
      remotePort: req.remotePort,
    }),
  )
}

async function seen(port: number, bytes: string): Promise<Record<string, unknown>> {
  const { responses, client } = await rawRequest(port, bytes, { responses: 1 })
  client.destroy()
  return JSON.parse(responses[0].body.toString()) as Record<string, unknown>
}

// --- Target -------------------------------------------------------------------------------------

t.test('method, url, path and query (split at the first ?, not decoded)', async (t) => {
  const s = await startServer(t, describe)
  let r = await seen(s.port, get('/a%20b/c?x=1&y=%2F?z'))
  t.equal(r.method, 'GET')
  t.equal(r.url, '/a%20b/c?x=1&y=%2F?z')
  t.equal(r.path, '/a%20b/c')
  t.equal(r.query, 'x=1&y=%2F?z')
  r = await seen(s.port, get('/plain'))
  t.equal(r.path, '/plain')
  t.equal(r.query, '')
  r = await seen(s.port, get('/empty?'))
  t.equal(r.path, '/empty')
  t.equal(r.query, '')
  r = await seen(s.port, 'PURGE /cache HTTP/1.1\r\nHost: x\r\n\r\n')
  t.equal(r.method, 'PURGE', 'any token method')
  r = await seen(s.port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n')
  t.equal(r.url, '*')
  t.equal(r.path, '*')
  t.equal(r.query, '')
})

t.test('absolute-form targets give their path', async (t) => {
  const s = await startServer(t, describe)
  let r = await seen(s.port, 'GET http://example.com:8080/p/q?k=v HTTP/1.1\r\nHost: example.com:8080\r\n\r\n')
  t.equal(r.url, 'http://example.com:8080/p/q?k=v')
  t.equal(r.path, '/p/q')
  t.equal(r.query, 'k=v')
  r = await seen(s.port, 'GET https://example.com?only=query HTTP/1.1\r\nHost: example.com\r\n\r\n')
  t.equal(r.path, '/')
  t.equal(r.query, 'only=query')
  r = await seen(s.port, 'GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n')
  t.equal(r.path, '/')
})

t.test('httpVersion is 1.1 or 1.0', async (t) => {
  const s = await startServer(t, describe)
  t.equal((await seen(s.port, get())).httpVersion, '1.1')
  t.equal((await seen(s.port, 'GET / HTTP/1.0\r\n\r\n')).httpVersion, '1.0')
})

// --- Headers ------------------------------------------------------------------------------------

t.test('headers: lower-case names, repeats joined, set-cookie an array; rawHeaders as received; header() any case', async (t) => {
  const s = await startServer(t, describe)
  const r = await seen(
    s.port,
    'GET / HTTP/1.1\r\nHost: example.test\r\nX-Multi: one\r\nACCEPT: text/plain\r\nx-multi: two  \r\n' +
      'Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Empty:\r\nX-Tab:\tvalue\t\r\n\r\n',
  )
  t.same(r.headers, {
    host: 'example.test',
    'x-multi': 'one, two',
    accept: 'text/plain',
    'set-cookie': ['a=1', 'b=2'],
    'x-empty': '',
    'x-tab': 'value',
  })
  t.same(r.rawHeaders, [
    'Host', 'example.test',
    'X-Multi', 'one',
    'ACCEPT', 'text/plain',
    'x-multi', 'two',
    'Set-Cookie', 'a=1',
    'Set-Cookie', 'b=2',
    'X-Empty', '',
    'X-Tab', 'value',
  ])
  t.equal(r.host, 'example.test')
  t.equal(r.missing, null)
})

t.test('header() joins repeats without building headers, and agrees with headers after', async (t) => {
  const s = await startServer(t, (req, res) => {
    const before = [req.header('x-multi'), req.header('X-MULTI'), req.header('accept'), req.header('nope')]
    const all = req.headers
    const after = [req.header('X-Multi'), req.header('nope')]
    res.end(JSON.stringify({ before, after, same: all === req.headers, raw: req.rawHeaders === req.rawHeaders }))
  })
  const { responses } = await rawRequest(s.port, get('/', 'X-Multi: 1\r\nAccept: */*\r\nX-MULTI: 2\r\n'), { responses: 1 })
  t.same(JSON.parse(responses[0].body.toString()), {
    before: ['1, 2', '1, 2', '*/*', null],
    after: ['1, 2', null],
    same: true,
    raw: true,
  })
})

/** `req.headers` as node:http's own server builds it for the raw request `bytes`. */
async function nodeSees(t: Test, bytes: string): Promise<Record<string, unknown>> {
  const server = http.createServer((req, res) => res.end(JSON.stringify(req.headers)))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const { responses, client } = await rawRequest((server.address() as AddressInfo).port, bytes, { responses: 1 })
  client.destroy()
  return JSON.parse(responses[0].body.toString()) as Record<string, unknown>
}

// Every rule node:http applies to repeated fields, and the fields around them.
const REPEATS =
  'GET / HTTP/1.1\r\nHost: first.test\r\n' +
  'Cookie: a=1\r\nX-Other: 1\r\ncookie: b=2\r\nCOOKIE: c=3\r\n' +
  'Set-Cookie: s=1\r\nSet-Cookie: t=2\r\nX-Other: 2\r\nAccept: text/html\r\nAccept: */*\r\n' +
  SINGLE_FIELDS.map((name) => `${name}: one\r\n${name.toUpperCase()}: two\r\n`).join('') +
  'X-Once: only\r\nConstructor: c\r\n\r\n'

t.test('headers as node:http builds them: cookie, set-cookie, single-valued fields, other repeats', async (t) => {
  let checks: Record<string, unknown> = {}
  const s = await startServer(t, (req, res) => {
    const headers = req.headers
    checks = {
      prototype: Object.getPrototypeOf(headers) === Object.prototype,
      hasOwn: headers.hasOwnProperty('x-once') && !headers.hasOwnProperty('x-missing'),
      same: headers === req.headers,
    }
    res.end(JSON.stringify(headers))
  })
  const ours = await seen(s.port, REPEATS)
  const node = await nodeSees(t, REPEATS)
  t.same(ours, node, 'the same object as node:http builds')
  t.equal(Object.keys(ours).join(), Object.keys(node).join(), 'in the same order')
  t.same(checks, { prototype: true, hasOwn: true, same: true })
  t.equal(ours.cookie, 'a=1; b=2; c=3', 'cookie lines join with "; "')
  t.same(ours['set-cookie'], ['s=1', 't=2'], 'set-cookie is an array')
  t.equal(ours['x-other'], '1, 2')
  t.equal(ours.accept, 'text/html, */*')
  for (const name of SINGLE_FIELDS) t.equal(ours[name], 'one', `${name} keeps its first value`)
  t.equal(ours.constructor, 'c', "a field named after an Object.prototype member is the request's")
})

t.test('header() agrees with headers[name] for every field, before and after headers is built', async (t) => {
  const names = ['host', 'cookie', 'set-cookie', 'x-other', 'accept', ...SINGLE_FIELDS, 'x-once', 'constructor', 'content-length', 'x-missing']
  const s = await startServer(t, (req, res) => {
    const before = names.map((name) => req.header(name.toUpperCase()) ?? null)
    const headers = req.headers
    const after = names.map((name) => req.header(name) ?? null)
    const direct = names.map((name) => (Object.hasOwn(headers, name) ? headers[name] : null))
    res.end(JSON.stringify({ before, after, direct, lone: req.header('set-cookie') ?? null }))
  })
  const r = await seen(s.port, REPEATS)
  t.same(r.before, r.direct, 'before')
  t.same(r.after, r.direct, 'after')
  t.same((r.direct as unknown[]).slice(0, 5), ['first.test', 'a=1; b=2; c=3', ['s=1', 't=2'], '1, 2', 'text/html, */*'])
  const lone = await seen(s.port, get('/', 'Set-Cookie: only=1\r\n'))
  t.same(lone.lone, ['only=1'], 'one set-cookie line is an array too')
  // (Repeated Content-Length fields are refused, even when equal: see test/parser.ts.)
  const lengths = await seen(s.port, 'POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\n\r\nhi')
  const at = names.indexOf('content-length')
  t.same([(lengths.before as unknown[])[at], (lengths.after as unknown[])[at]], ['2', '2'], 'content-length')

})

t.test('req.headers may be replaced, as node:http allows', async (t) => {
  const s = await startServer(t, (req, res) => {
    req.headers = { ...req.headers, 'x-added': 'yes' }
    res.end(JSON.stringify([req.headers['x-added'], req.header('X-Added'), req.header('host')]))
  })
  t.same(await seen(s.port, get()), ['yes', 'yes', 'localhost'])
})

t.test('header values with obs-text are decoded as latin1', async (t) => {
  const s = await startServer(t, (req, res) => void res.end(JSON.stringify([req.header('x-name'), req.headers['x-name']])))
  const head = Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf'), Buffer.from([0xe9]), Buffer.from('\r\n\r\n')])
  const { responses } = await rawRequest(s.port, head, { responses: 1 })
  t.same(JSON.parse(responses[0].body.toString()), ['café', 'café'])
})

t.test('remoteAddress and remotePort are the client side of the socket', async (t) => {
  const s = await startServer(t, describe)
  const client = await RawClient.connect(s.port)
  await client.write(get())
  const [res] = await client.waitForResponses(1)
  const r = JSON.parse(res.body.toString()) as Record<string, unknown>
  t.equal(r.remoteAddress, '127.0.0.1')
  t.equal(r.remotePort, client.socket.localPort)
  client.destroy()
})

t.test('req.socket is the connection\'s socket', async (t) => {
  const s = await startServer(t, (req, res) => void res.end(JSON.stringify([req.socket.remoteAddress, req.socket.remotePort])))
  const client = await RawClient.connect(s.port)
  await client.write(get())
  const [res] = await client.waitForResponses(1)
  t.same(JSON.parse(res.body.toString()), ['127.0.0.1', client.socket.localPort])
  client.destroy()
})

// --- node:http members the native interface does not have --------------------------------------

const HINT = "serve this app with --interface node (node:http's IncomingMessage and ServerResponse)"

/** The ERROR text logged for `app`'s failure on one request, and the status the client got. */
async function failure(t: Test, app: (req: Request, res: Response) => void | Promise<void>): Promise<{ status: number; err: string }> {
  const s = await startServer(t, app)
  const { responses, client } = await rawRequest(s.port, get(), { responses: 1 })
  client.destroy()
  return { status: responses[0].statusCode, err: s.errText() }
}

t.test('an app calling a node:http request method the native req lacks is told to use --interface node', async (t) => {
  const requests = new Map<string, Request>()
  const on = await failure(t, function nodeStyleApp(req, res) {
    requests.set('on', req)
    ;(req as unknown as http.IncomingMessage).on('data', () => {})
    res.end()
  })
  t.equal(on.status, 500)
  const lines = on.err.split('\n')
  t.equal(lines[0], 'ERROR: Exception in app for "GET / HTTP/1.1"')
  t.equal(lines[1], `TypeError: req.on is not available in the native interface: ${HINT}`)
  t.match(lines[2], /^ {4}at nodeStyleApp \(.*test\/request\.ts:\d+:\d+\)$/, "the original's frames")
  // Rejected, from deeper in the app: named as the app wrote it.
  const pipe = await failure(t, async (request) => {
    await sleep(1)
    ;(request as unknown as http.IncomingMessage).pipe(process.stdout)
  })
  t.match(pipe.err, `TypeError: request.pipe is not available in the native interface: ${HINT}\n    at `)
})

t.test('reading through a node:http socket member the native objects lack names the members', async (t) => {
  const { status, err } = await failure(t, (req) => {
    void (req as unknown as http.IncomingMessage).connection.remoteAddress
  })
  t.equal(status, 500)
  t.match(
    err,
    'TypeError: req.connection or res.socket or res.connection is not available in the native interface ' +
      `(Cannot read properties of undefined (reading 'remoteAddress')): ${HINT}\n    at `,
  )
  const tls = await failure(t, (req) => {
    if ((req as unknown as { connection: { encrypted: boolean } }).connection.encrypted) throw new Error('not TLS')
  })
  t.match(tls.err, "(reading 'encrypted')): serve this app with --interface node")
})

t.test('other TypeErrors are logged as they are', async (t) => {
  const errors: string[] = []
  for (const app of [
    // A missing method, but not one of node:http's request or response.
    (req: Request) => void (req as unknown as { json2(): void }).json2(),
    // A node:http member the native req has (no function there either).
    (req: Request) => void (req as unknown as { headers(): void }).headers(),
    // An express member, not node's.
    (_req: Request, res: Response) => void (res as unknown as { json(): void }).json(),
    // Readable has push() and map(), but these are the app's own objects.
    (req: Request) => {
      const items = JSON.parse(req.header('x-items') ?? '{}') as unknown[]
      items.push(1)
    },
    (req: Request) => {
      const data = JSON.parse(req.header('x-items') ?? '{}') as unknown[]
      data.map(String)
    },
    // A read of undefined that is no socket's member.
    (req: Request) => void (req as unknown as { trailers: Record<string, string> }).trailers['x-sum'],
    // A TypeError of the app's own.
    () => {
      throw new TypeError('bad input')
    },
    // Not a TypeError.
    () => {
      throw new RangeError('req.on is not a function')
    },
  ]) {
    const { status, err } = await failure(t, app)
    t.equal(status, 500)
    errors.push(err.split('\n')[1])
  }
  t.same(errors, [
    'TypeError: req.json2 is not a function',
    'TypeError: req.headers is not a function',
    'TypeError: res.json is not a function',
    'TypeError: items.push is not a function',
    'TypeError: data.map is not a function',
    "TypeError: Cannot read properties of undefined (reading 'x-sum')",
    'TypeError: bad input',
    'RangeError: req.on is not a function',
  ])
})

// --- Body read whole ----------------------------------------------------------------------------

t.test('body() is a zero-copy view when the body arrived in one piece', async (t) => {
  const s = await startServer(t, async (req, res) => {
    const body = await req.body()
    // A view into the received bytes: the head's final CRLFCRLF sits right before it.
    const before = Buffer.from(body.buffer, body.byteOffset - 4, 4).toString('latin1')
    res.end(JSON.stringify({ body: body.toString(), before, again: (await req.body()) === body }))
  })
  const { responses } = await rawRequest(s.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world', {
    responses: 1,
  })
  t.same(JSON.parse(responses[0].body.toString()), { body: 'hello world', before: '\r\n\r\n', again: true })
})

t.test('body() joins a body that arrived in pieces', async (t) => {
  const s = await startServer(t, async (req, res) => void res.end(await req.body()))
  const client = await RawClient.connect(s.port)
  await client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01')
  await sleep(20)
  await client.write('234')
  await sleep(20)
  await client.write('56789')
  const [res] = await client.waitForResponses(1)
  t.equal(res.body.toString(), '0123456789')
  client.destroy()
})

t.test('body() of a request without a body is empty', async (t) => {
  const s = await startServer(t, async (req, res) => {
    const body = await req.body()
    res.end(`${body.length}:${await req.text()}`)
  })
  const res = await fetch(s.origin)
  t.equal(await res.text(), '0:')
})

t.test('body() read after the whole body arrived', async (t) => {
  const s = await startServer(t, async (req, res) => {
    await sleep(50)
    res.end(await req.body())
  })
  const payload = Buffer.alloc(300 * 1024, 'b')
  const res = await httpRequest(s.origin, { method: 'POST', body: payload })
  t.equal(res.body.length, payload.length)
  t.ok(res.body.equals(payload))
})

t.test('text() and json()', async (t) => {
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/text') return void res.end(`[${await req.text()}]`)
    const data = (await req.json()) as { n: number }
    res.end(JSON.stringify({ doubled: data.n * 2 }))
  })
  const text = await fetch(`${s.origin}/text`, { method: 'POST', body: 'héllo ✓' })
  t.equal(await text.text(), '[héllo ✓]')
  const json = await fetch(`${s.origin}/json`, { method: 'POST', body: '{"n":21}', headers: { 'content-type': 'application/json' } })
  t.same(await json.json(), { doubled: 42 })
  const bad = await fetch(`${s.origin}/json`, { method: 'POST', body: '{nope' })
  t.equal(bad.status, 500, 'invalid JSON rejects: the app fails with a 500')
  await bad.text()
  t.match(s.errText(), /ERROR: Exception in app for "POST \/json HTTP\/1\.1"\nSyntaxError/)
})

t.test('a chunked body with extensions and trailers is read whole', async (t) => {
  const s = await startServer(t, async (req, res) => void res.end(await req.body()))
  const { responses } = await rawRequest(
    s.port,
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '4;name=value\r\nWiki\r\n5 ; a=b\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\n' +
      get('/next'),
    { responses: 2 },
  )
  t.equal(responses[0].body.toString(), 'Wikipedia')
  t.equal(responses[1].body.toString(), '', 'the next request parses after the trailers')
})

// --- Body streamed ------------------------------------------------------------------------------

t.test('for await gets every byte of a multi-MiB chunked upload, in order', async (t) => {
  const total = 6 * 1024 * 1024
  const payload = Buffer.alloc(total)
  for (let i = 0; i < total; i++) payload[i] = (i * 7 + (i >> 12)) & 0xff
  const s = await startServer(t, async (req, res) => {
    const hash = createHash('sha256')
    let length = 0
    let pieces = 0
    for await (const chunk of req) {
      hash.update(chunk)
      length += chunk.length
      pieces++
      if (pieces % 16 === 0) await sleep(1) // a consumer slower than the network
    }
    res.end(JSON.stringify({ length, pieces, sha: hash.digest('hex') }))
  })
  const body: Buffer[] = []
  let offset = 0
  let size = 1000
  while (offset < total) {
    body.push(payload.subarray(offset, offset + size))
    offset += size
    size = (size * 3 + 777) % 200000 || 1
  }
  const res = await httpRequest(s.origin, { method: 'POST', body })
  const result = JSON.parse(res.body.toString()) as { length: number; pieces: number; sha: string }
  t.equal(result.length, total)
  t.equal(result.sha, createHash('sha256').update(payload).digest('hex'), 'same bytes in the same order')
  t.ok(result.pieces > 1, `streamed in ${result.pieces} pieces`)
})

t.test('for await hands pieces over as they arrive (before the upload is complete)', async (t) => {
  const s = await startServer(t, async (req, res) => {
    res.setHeader('Content-Type', 'text/plain')
    for await (const chunk of req) res.write(`got ${chunk.toString()};`)
    res.end('done')
  }, { bufferBody: 0 })
  const client = await RawClient.connect(s.port)
  await client.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n')
  await client.until(() => client.data.includes('got one;'))
  await client.write('3\r\ntwo\r\n')
  await client.until(() => client.data.includes('got two;'))
  await client.write('0\r\n\r\n')
  const [res] = await client.waitForResponses(1)
  t.equal(res.body.toString(), 'got one;got two;done')
  client.destroy()
})

t.test('body() while streaming and streaming after body() are refused', async (t) => {
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/stream-then-body') {
      const iterator = req[Symbol.asyncIterator]()
      const first = await iterator.next()
      const error = await req.body().then(
        () => 'no error',
        (e: Error) => e.message,
      )
      return void res.end(`${String(first.value)}|${error}`)
    }
    const body = await req.body()
    let error = 'no error'
    try {
      req[Symbol.asyncIterator]()
    } catch (e) {
      error = (e as Error).message
    }
    res.end(`${body.toString()}|${error}`)
  })
  const a = await fetch(`${s.origin}/stream-then-body`, { method: 'POST', body: 'abc' })
  t.equal(await a.text(), 'abc|The body is being read as a stream')
  const b = await fetch(`${s.origin}/body-then-stream`, { method: 'POST', body: 'xyz' })
  t.equal(await b.text(), 'xyz|The body is being read whole')
})

t.test('an app that stops reading early or ignores a large body: the rest is discarded', async (t) => {
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/partial') {
      for await (const chunk of req) {
        res.end(`first piece ${chunk.length > 0}`)
        break
      }
      return
    }
    if (req.path === '/ignore') return void res.end('ignored')
    res.end(`next ${(await req.body()).length}`)
  })
  const big = 'x'.repeat(512 * 1024)
  const client = await RawClient.connect(s.port)
  await client.write(`POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\n\r\n${big}`)
  await client.write(`POST /partial HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\n\r\n${big}`)
  await client.write('POST /next HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc')
  const responses = await client.waitForResponses(3)
  t.same(
    responses.map((r) => r.body.toString()),
    ['ignored', 'first piece true', 'next 3'],
  )
  t.notOk(client.closed, 'the connection is kept: the bodies were framed')
  client.destroy()
})

t.test('an unread upload pauses reading and resumes when the app reads it', async (t) => {
  const total = 2 * 1024 * 1024
  const s = await startServer(t, async (req, res) => {
    await sleep(150) // the upload piles up unread meanwhile
    const body = await req.body()
    res.end(String(body.length))
  })
  const res = await httpRequest(s.origin, { method: 'POST', body: Buffer.alloc(total, 'u') })
  t.equal(res.body.toString(), String(total))
})

t.test('an unread body that fills the buffer as it completes is still read whole', async (t) => {
  const s = await startServer(t, async (req, res) => {
    await sleep(80)
    res.end(String((await req.body()).length))
  })
  const client = await RawClient.connect(s.port)
  await client.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${70 * 1024}\r\n\r\n${'f'.repeat(60 * 1024)}`)
  await sleep(30)
  // The last piece takes the unread body past the 64 KiB mark just as it completes.
  await client.write('f'.repeat(10 * 1024) + get('/next'))
  const responses = await client.waitForResponses(2)
  t.same(
    responses.map((r) => r.body.toString()),
    [String(70 * 1024), '0'],
  )
  client.destroy()
})

t.test('for await rejects when the client goes away mid-upload', async (t) => {
  let resolveResult!: (v: unknown) => void
  const result = new Promise((r) => (resolveResult = r))
  const first = deferred()
  const s = await startServer(t, async (req, res) => {
    const pieces: string[] = []
    let error = ''
    try {
      for await (const chunk of req) {
        pieces.push(chunk.toString())
        first.resolve()
      }
    } catch (e) {
      error = (e as Error).message
    }
    const again = await req[Symbol.asyncIterator]()
      .next()
      .then(
        () => 'resolved',
        (e: Error) => e.message,
      )
    resolveResult({ pieces, error, again, aborted: req.signal.aborted })
    res.end()
  }, { bufferBody: 0 })
  const client = await RawClient.connect(s.port)
  await client.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n')
  await first.promise
  client.socket.resetAndDestroy()
  t.same(await result, { pieces: ['first'], error: 'Client disconnected', again: 'Client disconnected', aborted: true })
})

t.test('reading the body after the response ended never yields a truncated body', async (t) => {
  let resolveBody!: (v: string) => void
  const late = new Promise<string>((r) => (resolveBody = r))
  const s = await startServer(t, async (req, res) => {
    await sleep(30)
    res.end('answered before reading')
    await sleep(50)
    resolveBody(await req.body().then((body) => `resolved ${body.toString()}`, (e: Error) => `rejected ${e.message}`))
  }, { bufferBody: 0 })
  const client = await RawClient.connect(s.port)
  await client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabcde')
  await client.waitForResponses(1)
  await sleep(100)
  await client.write('fghij')
  const result = await Promise.race([late, sleep(20_000).then(() => 'pending')])
  t.not(result, 'resolved fghij', 'not the tail of the body')
  t.match(result, /^(resolved abcdefghij|rejected )/)
  client.destroy()
})

// --- Expect: 100-continue -----------------------------------------------------------------------

t.test('Expect: 100-continue: 100 is sent when the app starts reading, then the response', async (t) => {
  const called = deferred()
  const read = deferred()
  const s = await startServer(t, async (req, res) => {
    called.resolve()
    await read.promise
    const body = await req.text()
    res.end(`got ${body}`)
  }, { bufferBody: 0 })
  const client = await RawClient.connect(s.port)
  await client.write('POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n')
  await called.promise
  // (A 100 sent with the request's dispatch would have arrived within these turns.)
  await turns()
  t.equal(client.data.length, 0, 'nothing before the app reads')
  read.resolve()
  let responses = await client.waitForResponses(1)
  t.equal(client.data.toString(), 'HTTP/1.1 100 Continue\r\n\r\n')
  t.equal(responses[0].statusCode, 100)
  await client.write('ping')
  responses = await client.waitForResponses(2)
  t.equal(responses[1].statusCode, 200)
  t.equal(responses[1].body.toString(), 'got ping')
  t.equal(responses[1].headers.connection, undefined)
  await client.write(get('/again'))
  responses = await client.waitForResponses(3)
  t.equal(responses[2].statusCode, 200, 'the connection is kept')
  client.destroy()
})

t.test('Expect: 100-continue with for await, through node:http', async (t) => {
  const s = await startServer(t, async (req, res) => {
    const pieces: string[] = []
    for await (const chunk of req) pieces.push(chunk.toString())
    res.end(pieces.join(''))
  })
  const reply = await new Promise<{ continued: boolean; body: string }>((resolve, reject) => {
    let continued = false
    const req = http.request(s.origin, {
      method: 'POST',
      headers: { Expect: '100-continue', 'Content-Length': 5 },
    })
    req.on('continue', () => {
      continued = true
      req.end('hello')
    })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (chunk) => (body += chunk))
      res.on('end', () => resolve({ continued, body }))
    })
    req.on('error', reject)
  })
  t.same(reply, { continued: true, body: 'hello' })
})

t.test('Expect: 100-continue answered without reading the body: no 100, and the connection closes', async (t) => {
  const s = await startServer(t, async (_req, res) => {
    await sleep(10)
    res.statusCode = 413
    res.end('too big for me')
  })
  const { data, responses, closed } = await rawRequest(
    s.port,
    'POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n',
  )
  t.ok(closed, 'the connection closes (the client may or may not send the body)')
  t.notMatch(data.toString(), /100 Continue/)
  t.equal(responses.length, 1)
  t.equal(responses[0].statusCode, 413)
  t.equal(responses[0].body.toString(), 'too big for me')
})

t.test('Expect: 100-continue answered without reading says Connection: close', async (t) => {
  const s = await startServer(t, async (_req, res) => {
    await sleep(10)
    res.statusCode = 413
    res.end('too big for me')
  }, { bufferBody: 0 })
  const { responses } = await rawRequest(s.port, 'POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n')
  t.equal(responses[0].statusCode, 413)
  t.equal(responses[0].headers.connection, 'close')
})

t.test('Expect: 100-continue: reading the body after answering sends no 100', async (t) => {
  const bodyResult = deferred<unknown>()
  const s = await startServer(t, async (req, res) => {
    res.statusCode = 417
    res.end('answered first')
    bodyResult.resolve(await req.body().then(
      (body) => body.length,
      (e: Error) => e.message,
    ))
  }, { bufferBody: 0 })
  const { data, responses } = await rawRequest(s.port, 'PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n')
  t.notMatch(data.toString(), /100 Continue/)
  t.equal(responses[0].statusCode, 417)
  t.match(await bodyResult.promise, /dropped: the response ended before it was read/, 'reading after the answer fails: the body is dropped')
})

t.test('Expect: 100-continue in an HTTP/1.0 request is ignored (RFC 9110 10.1.1)', async (t) => {
  const s = await startServer(t, async (req, res) => void res.end(`got ${await req.text()}`))
  const client = await RawClient.connect(s.port)
  await client.write('POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n')
  await sleep(50)
  t.equal(client.data.length, 0, 'no 100 Continue for HTTP/1.0')
  await client.write('ping')
  await client.waitForClose()
  const responses = client.responses()
  t.equal(responses.length, 1)
  t.equal(responses[0].body.toString(), 'got ping')
})

t.test('Expect: 100-continue on a pipelined request: the 100 waits for the earlier response', async (t) => {
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/slow') {
      await sleep(60)
      return void res.end('slow')
    }
    res.end(`echo ${await req.text()}`)
  })
  const client = await RawClient.connect(s.port)
  await client.write(get('/slow') + 'POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n')
  let responses = await client.waitForResponses(2)
  t.same(
    responses.map((r) => r.statusCode),
    [200, 100],
  )
  await client.write('hi')
  responses = await client.waitForResponses(3)
  t.equal(responses[2].body.toString(), 'echo hi')
  client.destroy()
})

t.test('Expect: 100-continue on a request without a body', async (t) => {
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/sync') return void res.end('no body read')
    res.end(`len ${(await req.body()).length}`)
  })
  const client = await RawClient.connect(s.port)
  await client.write('POST /read HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n')
  await client.until(() => client.responses().some((r) => r.statusCode === 200))
  // RFC 9110 15.2.1: the server MAY omit the 100 when the framing says there is no content.
  const final = client.responses().filter((r) => r.statusCode >= 200)
  t.equal(final[0].body.toString(), 'len 0')
  t.notOk(client.closed)
  await client.write('GET /sync HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n')
  await client.until(() => client.responses().filter((r) => r.statusCode >= 200).length === 2 || client.closed)
  const second = client.responses().filter((r) => r.statusCode >= 200)[1]
  t.equal(second?.body.toString(), 'no body read')
  t.equal(s.errText(), '')
  client.destroy()
})

// --- Signal -------------------------------------------------------------------------------------

t.test('req.signal does not fire for a completed exchange; aborted is false', async (t) => {
  const result = deferred<unknown>()
  const s = await startServer(t, async (req, res) => {
    const signal = req.signal
    await sleep(5)
    res.end('ok')
    await sleep(5)
    result.resolve({ aborted: signal.aborted, flag: req.aborted })
  })
  const res = await fetch(s.origin)
  await res.text()
  t.same(await result.promise, { aborted: false, flag: false })
})

t.test('req.signal read after the client went away is already aborted', async (t) => {
  let resolveResult!: (v: unknown) => void
  const result = new Promise((r) => (resolveResult = r))
  const called = deferred()
  const s = await startServer(t, async (req, res) => {
    // (The response's close, not the signal: the signal is to be read only after the fact.)
    const gone = new Promise((resolve) => res.once('close', resolve))
    called.resolve()
    await gone
    resolveResult({ aborted: req.aborted, signal: req.signal.aborted, body: await req.body().then(() => 'ok', (e: Error) => e.message) })
    res.end()
  }, { bufferBody: 0 })
  const client = await RawClient.connect(s.port)
  await client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc')
  await called.promise
  client.socket.resetAndDestroy()
  t.same(await result, { aborted: true, signal: true, body: 'Client disconnected' })
})

t.test('bodyNow(): the whole body without a promise once it is all here, unless read another way', async (t) => {
  const discarded = deferred()
  const checked = deferred()
  const seen: unknown[] = []
  const s = await startServer(
    t,
    async (req: Request, res: Response) => {
      if (req.url === '/whole') {
        seen.push(req.bodyNow()?.toString() ?? null, req.bodyNow()?.toString() ?? null)
      } else if (req.url === '/streamed') {
        for await (const chunk of req) void chunk
        seen.push(req.bodyNow())
      } else if (req.url === '/next') {
        return void res.end('next')
      } else {
        // Answered before the body arrives: the rest is discarded, and stays so.
        res.end('early')
        await discarded.promise
        seen.push(req.complete, req.bodyNow())
        checked.resolve()
        return
      }
      res.end('ok')
    },
    { bufferBody: 0 },
  )
  const whole = await RawClient.connect(s.port)
  await whole.write('POST /whole HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi')
  await whole.waitForResponses(1)
  await whole.write('POST /streamed HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi')
  await whole.waitForResponses(2)
  await whole.write('POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab')
  await whole.waitForResponses(3)
  // The rest of the body, then a request: once that is answered, the rest has been read.
  await whole.write('cd' + get('/next'))
  await whole.waitForResponses(4)
  discarded.resolve()
  await checked.promise
  whole.destroy()
  t.same(seen, ['hi', 'hi', null, true, null])
})
