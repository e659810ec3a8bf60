// Connection: keep-alive, pipelining in request order, the dispatch queue, bad requests, app
// errors, client disconnects and timeouts, over real sockets (raw net, node:http, fetch).
import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { RawClient, get, parseResponses, rawRequest } from './helpers/raw.js'
import { deferred, eventually, httpRequest, sleep, startServer, turns } from './helpers/server.js'
import type { Request, Response } from '../lib/server.js'


const hello = (_req: Request, res: Response): void => {
  res.end('hello')
}

// --- Keep-alive ---------------------------------------------------------------------------------

t.test('HTTP/1.1 keeps the connection open by default', async (t) => {
  const s = await startServer(t, hello)
  const client = await RawClient.connect(s.port)
  await client.write(get('/a'))
  let [res] = await client.waitForResponses(1)
  t.equal(res.statusCode, 200)
  t.equal(res.headers.connection, undefined, 'no Connection header on a keep-alive 1.1 response')
  t.equal(res.body.toString(), 'hello')
  await client.write(get('/b'))
  const all = await client.waitForResponses(2)
  res = all[1]
  t.equal(res.statusCode, 200)
  t.notOk(client.closed, 'still open after two requests')
  t.equal(s.server.connectionCount, 1)
  client.destroy()
  t.ok(await eventually(() => s.server.connectionCount === 0), 'connection count back to 0')
})

t.test('HTTP/1.1 Connection: close answers with Connection: close and closes', async (t) => {
  const s = await startServer(t, async (_req, res) => {
    await sleep(1)
    res.end('bye')
  })
  const { responses, closed } = await rawRequest(s.port, get('/', 'Connection: close\r\n'))
  t.equal(responses.length, 1)
  t.equal(responses[0].headers.connection, 'close')
  t.equal(responses[0].body.toString(), 'bye')
  t.ok(closed)
  t.equal(s.errText(), '')
})

t.test('Connection: close to a synchronous app: answered, closed, nothing logged', async (t) => {
  const s = await startServer(t, hello)
  const { responses, closed } = await rawRequest(s.port, get('/', 'Connection: close\r\n'))
  t.equal(responses.length, 1)
  t.equal(responses[0].headers.connection, 'close')
  t.equal(responses[0].body.toString(), 'hello')
  t.ok(closed)
  t.equal(s.errText(), '', 'no ERROR line for a normal close')
})

t.test('a synchronous answer that closes the connection does not abort its request', async (t) => {
  let seen: Request | undefined
  const s = await startServer(t, (req, res) => {
    seen = req
    res.end('bye')
  })
  const { responses } = await rawRequest(s.port, get('/', 'Connection: close\r\n'))
  t.equal(responses[0].body.toString(), 'bye')
  t.equal(seen?.aborted, false, 'req.aborted stays false')
  t.equal(seen?.signal.aborted, false, 'req.signal does not fire for an exchange that completed')
})

t.test('HTTP/1.0 closes by default; HTTP/1.0 keep-alive stays open', async (t) => {
  const s = await startServer(t, async (_req, res) => {
    await sleep(1)
    res.end('ten')
  })
  const closing = await rawRequest(s.port, 'GET / HTTP/1.0\r\n\r\n')
  t.equal(closing.responses[0].statusCode, 200)
  t.equal(closing.responses[0].headers.connection, 'close')
  t.equal(closing.responses[0].headers['content-length'], '3')
  t.ok(closing.closed)

  const client = await RawClient.connect(s.port)
  await client.write('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
  let responses = await client.waitForResponses(1)
  t.equal(responses[0].headers.connection, 'keep-alive')
  t.equal(responses[0].body.toString(), 'ten')
  await client.write('GET /again HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n')
  responses = await client.waitForResponses(2)
  t.equal(responses.length, 2)
  t.equal(responses[1].headers.connection, 'keep-alive')
  t.notOk(client.closed, 'the 1.0 keep-alive connection stays open')
  client.destroy()
})

t.test('HTTP/1.0 to a synchronous app logs no error', async (t) => {
  const s = await startServer(t, hello)
  const { responses, closed } = await rawRequest(s.port, 'GET / HTTP/1.0\r\n\r\n')
  t.equal(responses[0].statusCode, 200)
  t.ok(closed)
  t.equal(s.errText(), '')
})

t.test('keep-alive through node:http with an Agent reuses one socket', async (t) => {
  const s = await startServer(t, hello)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const a = await httpRequest(`${s.origin}/1`, { agent })
  const b = await httpRequest(`${s.origin}/2`, { agent })
  t.equal(a.body.toString(), 'hello')
  t.equal(b.body.toString(), 'hello')
  t.equal(a.socket, b.socket, 'same socket')
  t.equal(s.server.connectionCount, 1)
})

t.test('a client that half-closes after its request still gets the answer', async (t) => {
  const s = await startServer(t, async (_req, res) => {
    await sleep(20)
    res.end('late')
  })
  const { responses, closed } = await rawRequest(s.port, get(), { end: true })
  t.equal(responses.length, 1)
  t.equal(responses[0].body.toString(), 'late')
  t.ok(closed)
})

// --- Pipelining ---------------------------------------------------------------------------------

t.test('pipelined responses come in request order even when earlier ones finish later', async (t) => {
  const finished: string[] = []
  const s = await startServer(t, async (req, res) => {
    const ms = Number(req.query)
    await sleep(ms)
    finished.push(req.path)
    res.end(`${req.path} after ${ms}`)
  })
  const requests = [get('/a?120'), get('/b?10'), get('/c?60'), get('/d?0')].join('')
  const { responses } = await rawRequest(s.port, requests, { responses: 4 })
  t.same(
    responses.map((r) => r.body.toString()),
    ['/a after 120', '/b after 10', '/c after 60', '/d after 0'],
  )
  t.same(finished, ['/d', '/b', '/c', '/a'], 'the apps finished out of order')
})

t.test('pipelined streamed responses are not interleaved', async (t) => {
  const s = await startServer(t, async (req, res) => {
    const n = req.path === '/slow' ? 5 : 3
    for (let i = 0; i < n; i++) {
      res.write(`${req.path}:${i};`)
      await sleep(req.path === '/slow' ? 15 : 1)
    }
    res.end()
  })
  const { responses } = await rawRequest(s.port, get('/slow') + get('/fast') + get('/slow'), { responses: 3 })
  t.same(
    responses.map((r) => [r.framing, r.body.toString()]),
    [
      ['chunked', '/slow:0;/slow:1;/slow:2;/slow:3;/slow:4;'],
      ['chunked', '/fast:0;/fast:1;/fast:2;'],
      ['chunked', '/slow:0;/slow:1;/slow:2;/slow:3;/slow:4;'],
    ],
  )
})

t.test('pipelined responses produced in one tick arrive in one write', async (t) => {
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  let calls = 0
  const s = await startServer(t, async (req, res) => {
    if (++calls === 3) setTimeout(release, 20)
    await gate
    res.end(req.path)
  })
  const client = await RawClient.connect(s.port)
  await client.write(get('/1') + get('/2') + get('/3'))
  const responses = await client.waitForResponses(3)
  t.same(responses.map((r) => r.body.toString()), ['/1', '/2', '/3'])
  t.equal(client.chunks.length, 1, 'the three responses came in one segment')
  client.destroy()
})

t.test('synchronous pipelined responses arrive together', async (t) => {
  const s = await startServer(t, (req, res) => void res.end(req.path))
  const client = await RawClient.connect(s.port)
  await client.write(get('/x') + get('/y') + get('/z'))
  const responses = await client.waitForResponses(3)
  t.same(responses.map((r) => r.body.toString()), ['/x', '/y', '/z'])
  t.equal(client.chunks.length, 1)
  client.destroy()
})

t.test('a pipelined HEAD in the middle keeps the framing of the next responses', async (t) => {
  const s = await startServer(t, (req, res) => void res.end(`body of ${req.method}`))
  const requests = get('/1') + `HEAD /2 HTTP/1.1\r\nHost: x\r\n\r\n` + get('/3')
  const { responses } = await rawRequest(s.port, requests, { responses: 3, head: [1] })
  t.equal(responses[0].body.toString(), 'body of GET')
  t.equal(responses[1].headers['content-length'], String('body of HEAD'.length))
  t.equal(responses[1].body.length, 0)
  t.equal(responses[2].body.toString(), 'body of GET')
})

t.test('a pipelined response that closes the connection drops the requests after it', async (t) => {
  const paths: string[] = []
  const s = await startServer(t, (req, res) => {
    paths.push(req.path)
    res.end(req.path)
  })
  const { responses, closed } = await rawRequest(s.port, get('/1') + get('/2', 'Connection: close\r\n') + get('/3'))
  t.same(responses.map((r) => r.body.toString()), ['/1', '/2'])
  t.equal(responses[1].headers.connection, 'close')
  t.ok(closed)
  t.same(paths, ['/1', '/2'], 'the request after Connection: close is not served')
})

t.test('a response the app marks Connection: close is the last one written', async (t) => {
  const s = await startServer(
    t,
    async (req, res) => {
      if (req.path === '/closing') {
        await sleep(20)
        res.setHeader('Connection', 'close')
      }
      res.end(req.path)
    },
    { threads: 1 },
  )
  const { data, closed } = await rawRequest(s.port, get('/closing') + get('/after'))
  t.ok(closed)
  t.notMatch(data.toString(), /\/after/, 'nothing follows the Connection: close response')
})

t.test('a hundred pipelined requests in one write (past the default maxPipeline) are all answered in order', async (t) => {
  const s = await startServer(t, async (req, res) => {
    if (Number(req.path.slice(1)) % 7 === 0) await sleep(2)
    res.end(req.path)
  })
  const paths = Array.from({ length: 100 }, (_, i) => `/${i}`)
  const { responses, client } = await rawRequest(s.port, paths.map((p) => get(p)).join(''), { responses: 100 })
  t.same(
    responses.map((r) => r.body.toString()),
    paths,
  )
  client.destroy()
})

t.test('maxPipeline: reading pauses at the limit and resumes; all requests are answered', async (t) => {
  let active = 0
  let most = 0
  const s = await startServer(
    t,
    async (req, res) => {
      most = Math.max(most, ++active)
      await sleep(5)
      active--
      res.end(req.path)
    },
    { maxPipeline: 2 },
  )
  const paths = Array.from({ length: 8 }, (_, i) => `/${i}`)
  const { responses } = await rawRequest(s.port, paths.map((p) => get(p)).join(''), { responses: 8 })
  t.same(
    responses.map((r) => r.body.toString()),
    paths,
  )
  t.ok(most <= 2, `at most 2 requests of the connection in the app at once (saw ${most})`)
})

t.test('a connection paused at maxPipeline that then closes keeps reading until the client goes', async (t) => {
  const s = await startServer(
    t,
    async (req, res) => {
      await sleep(20)
      if (req.path === '/close') res.setHeader('Connection', 'close')
      res.end(req.path)
    },
    { maxPipeline: 1 },
  )
  // allowHalfOpen: the client keeps sending after the server's FIN.
  const socket = net.connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true })
  t.teardown(() => socket.destroy())
  let data = ''
  let ended = false
  let error: Error | null = null
  socket.on('data', (chunk) => (data += chunk))
  socket.on('end', () => (ended = true))
  socket.on('error', (e) => (error = e))
  socket.write(get('/close') + get('/never'))
  t.ok(await eventually(() => ended), 'the server ended its side')
  // The server still reads (and drops) what the client sends, so it sends no RST.
  for (let i = 0; i < 5; i++) {
    socket.write(get('/ignored'))
    await sleep(10)
  }
  t.equal(error, null, 'no reset')
  t.equal(s.server.connectionCount, 1, 'lingering')
  const responses = parseResponses(Buffer.from(data), { closed: true }).responses
  t.same(
    responses.map((r) => [r.body.toString(), r.headers.connection]),
    [['/close', 'close']],
  )
})

t.test('pipelined requests beyond maxPipeline are answered when the client half-closes', async (t) => {
  const s = await startServer(
    t,
    async (req, res) => {
      await sleep(20)
      res.end(req.path)
    },
    { maxPipeline: 1 },
  )
  const { responses, closed } = await rawRequest(s.port, get('/1') + get('/2') + get('/3'), { end: true })
  t.ok(closed)
  t.same(
    responses.map((r) => r.body.toString()),
    ['/1', '/2', '/3'],
  )
})

t.test('a pipelined response queued behind a slow one gets drain once it is first', async (t) => {
  const big = Buffer.alloc(200 * 1024, 'q')
  const events: string[] = []
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/slow') {
      await sleep(50)
      res.end('slow')
      return
    }
    // Queued behind /slow: write returns false once 64 KiB are held back.
    let offset = 0
    while (offset < big.length) {
      const ok = res.write(big.subarray(offset, offset + 16 * 1024))
      offset += 16 * 1024
      if (!ok) {
        events.push('full')
        await new Promise((resolve) => res.once('drain', resolve))
        events.push('drain')
      }
    }
    res.end()
  })
  const { responses } = await rawRequest(s.port, get('/slow') + get('/big'), { responses: 2 })
  t.equal(responses[0].body.toString(), 'slow')
  t.equal(responses[1].body.length, big.length)
  t.ok(responses[1].body.equals(big))
  t.equal(events[0], 'full')
  t.equal(events[1], 'drain')
})

t.test('a full dispatch queue (maxQueued) stops connections reading; they resume as calls complete', async (t) => {
  let active = 0
  let most = 0
  const s = await startServer(
    t,
    async (req, res) => {
      most = Math.max(most, ++active)
      await sleep(15)
      active--
      res.end(req.path)
    },
    { threads: 1, maxQueued: 1 },
  )
  const clients = await Promise.all(Array.from({ length: 5 }, () => RawClient.connect(s.port)))
  // One request per connection at a time: the later connections find the queue full and pause.
  await Promise.all(clients.map((c, i) => c.write(get(`/${i}/a`))))
  await Promise.all(clients.map((c) => c.waitForResponses(1)))
  await Promise.all(clients.map((c, i) => c.write(get(`/${i}/b`))))
  const all = await Promise.all(clients.map((c) => c.waitForResponses(2)))
  t.same(
    all.map((responses) => responses.map((r) => r.body.toString())),
    clients.map((_, i) => [`/${i}/a`, `/${i}/b`]),
  )
  t.equal(most, 1, 'threads: 1')
  for (const c of clients) c.destroy()
})

// --- Bad requests -------------------------------------------------------------------------------

const badRequests: [string, string, number][] = [
  ['bare LF', 'GET / HTTP/1.1\nHost: x\n\n', 400],
  ['missing Host', 'GET / HTTP/1.1\r\n\r\n', 400],
  ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n', 400],
  ['space before colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 400],
  ['CL and TE', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
  ['differing CL', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n', 400],
  ['bad method', 'G(T / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['NUL in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n', 400],
  ['request line too long', `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
  ['header too large', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(9000)}\r\n\r\n`, 431],
  ['too many headers', `GET / HTTP/1.1\r\nHost: x\r\n${'X-A: 1\r\n'.repeat(120)}\r\n`, 431],
  ['unknown transfer coding', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501],
  ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 501],
  ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', 505],
  ['unsupported expectation', 'POST / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx', 417],
]

for (const [name, bytes, status] of badRequests) {
  t.test(`bad request (${name}) -> ${status}, one-line text/plain, Connection: close, closed`, async (t) => {
    let called = false
    const s = await startServer(t, (_req, res) => {
      called = true
      res.end('no')
    })
    const { responses, closed, data } = await rawRequest(s.port, bytes)
    t.equal(responses.length, 1, JSON.stringify(data.toString('latin1').slice(0, 200)))
    const res = responses[0]
    t.equal(res.statusCode, status)
    t.equal(res.headers['content-type'], 'text/plain; charset=utf-8')
    t.equal(res.headers.connection, 'close')
    t.ok(res.headers.date)
    t.match(res.body.toString(), /^[^\n]+\n$/, 'one line')
    t.ok(closed)
    t.notOk(called, 'the app is not called')
    t.equal(s.errText(), '', 'a client error is not logged as an ERROR')
  })
}

t.test('413 when the declared body is larger than maxBodySize', async (t) => {
  const s = await startServer(t, hello, { maxBodySize: 10 })
  const { responses, closed } = await rawRequest(s.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n')
  t.equal(responses[0].statusCode, 413)
  t.ok(closed)
})

t.test('413 when a chunked body grows past maxBodySize; the app sees the body fail', async (t) => {
  let bodyError: unknown
  const reading = deferred()
  const s = await startServer(
    t,
    async (req, res) => {
      try {
        reading.resolve()
        await req.body()
      } catch (error) {
        bodyError = error
        return
      }
      res.end('got it')
    },
    // Streamed bodies: the app starts before the body is whole.
    { maxBodySize: 10, bufferBody: 0 },
  )
  // The body grows too large in a later piece: the app has started and its read fails.
  const client = await RawClient.connect(s.port)
  await client.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')
  await reading.promise
  await client.write('6\r\nworld!\r\n0\r\n\r\n')
  await client.waitForClose()
  const responses = client.responses()
  t.equal(responses.length, 1)
  t.equal(responses[0].statusCode, 413)
  t.match(String(bodyError), /Bad request body/)
})

t.test('a request whose body fails within the chunk it arrived in never reaches the app', async (t) => {
  let calls = 0
  const s = await startServer(t, (_req, res) => {
    calls++
    res.end('ok')
  }, { maxBodySize: 10 })
  const { responses, closed } = await rawRequest(
    s.port,
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n',
  )
  t.equal(responses.length, 1)
  t.equal(responses[0].statusCode, 413)
  t.ok(closed)
  t.equal(calls, 0, 'the app was not called')
})

t.test('a body that arrives with its head is complete when the app starts', async (t) => {
  let complete: boolean | undefined
  const s = await startServer(t, async (req, res) => {
    complete = (req as unknown as { complete: boolean }).complete
    res.end(await req.text())
  })
  const { responses } = await rawRequest(s.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello', { responses: 1 })
  t.equal(responses[0].body.toString(), 'hello')
  t.equal(complete, true)
})

t.test('a malformed chunked body while the app streams its answer: the error follows it', async (t) => {
  const s = await startServer(t, async (req, res) => {
    res.write('started;')
    try {
      await req.body()
    } catch {
      res.end('body failed')
      return
    }
    res.end('body ok')
  }, { bufferBody: 0 })
  const client = await RawClient.connect(s.port)
  await client.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n')
  await client.until(() => client.data.includes('started;'))
  await client.write('zz\r\n')
  await client.waitForClose()
  const responses = client.responses()
  t.equal(responses[0].statusCode, 200)
  t.equal(responses[0].body.toString(), 'started;body failed')
  t.equal(responses[1]?.statusCode, 400, 'then the 400 for the broken body')
})

t.test('a bad request does not disturb other connections', async (t) => {
  const s = await startServer(t, async (req, res) => {
    await sleep(80)
    res.end(`ok ${req.path}`)
  })
  const good = await RawClient.connect(s.port)
  await good.write(get('/good'))
  const bad = await rawRequest(s.port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n')
  t.equal(bad.responses[0].statusCode, 400)
  t.ok(bad.closed)
  const [res] = await good.waitForResponses(1)
  t.equal(res.body.toString(), 'ok /good')
  t.notOk(good.closed)
  const fetched = await fetch(`${s.origin}/fetch`)
  t.equal(await fetched.text(), 'ok /fetch')
  good.destroy()
})

t.test('a good request pipelined before a bad one is answered first, then the error', async (t) => {
  const s = await startServer(t, async (req, res) => {
    await sleep(30)
    res.end(`ok ${req.path}`)
  })
  const { responses, closed } = await rawRequest(s.port, get('/first') + 'BAD\r\n\r\n')
  t.equal(responses.length, 2)
  t.equal(responses[0].statusCode, 200)
  t.equal(responses[0].body.toString(), 'ok /first')
  t.equal(responses[1].statusCode, 400)
  t.equal(responses[1].headers.connection, 'close')
  t.ok(closed)
})

t.test('a good synchronous request pipelined before a bad one is answered first', async (t) => {
  const s = await startServer(t, (req, res) => void res.end(`ok ${req.path}`))
  const { responses, closed } = await rawRequest(s.port, get('/first') + get('/second') + 'GET / HTTP/9.9\r\n\r\n')
  t.same(
    responses.map((r) => r.statusCode),
    [200, 200, 505],
  )
  t.ok(closed)
})

// --- App errors ---------------------------------------------------------------------------------

t.test('a synchronous throw gets a 500, is logged with its stack, and the server keeps serving', async (t) => {
  const s = await startServer(t, (req, res) => {
    if (req.path === '/boom') throw new Error('kaboom')
    res.end('fine')
  })
  const client = await RawClient.connect(s.port)
  await client.write(get('/boom'))
  let responses = await client.waitForResponses(1)
  t.equal(responses[0].statusCode, 500)
  t.equal(responses[0].body.toString(), 'Internal Server Error\n')
  t.equal(responses[0].headers['content-type'], 'text/plain; charset=utf-8')
  t.notOk(client.closed)
  await client.write(get('/next'))
  responses = await client.waitForResponses(2)
  t.equal(responses[1].statusCode, 200, 'the next request on the same connection works')
  t.equal(responses[1].body.toString(), 'fine')
  const other = await fetch(`${s.origin}/other`)
  t.equal(other.status, 200, 'other connections work')
  const err = s.errText()
  t.match(err, /^ERROR: Exception in app for "GET \/boom HTTP\/1\.1"\n/)
  t.match(err, /Error: kaboom\n\s+at /, 'the stack follows')
  client.destroy()
})

t.test('an async rejection gets a 500 and is logged; headers the app set are dropped', async (t) => {
  const s = await startServer(t, async (req, res) => {
    res.setHeader('X-Partial', 'yes')
    res.statusCode = 201
    await sleep(5)
    if (req.path === '/boom') throw new TypeError('async kaboom')
    res.end('fine')
  })
  const boom = await fetch(`${s.origin}/boom`)
  t.equal(boom.status, 500)
  t.equal(boom.headers.get('x-partial'), null)
  t.equal(await boom.text(), 'Internal Server Error\n')
  const fine = await fetch(`${s.origin}/fine`)
  t.equal(fine.status, 201)
  t.equal(await fine.text(), 'fine')
  t.match(s.errText(), /ERROR: Exception in app for "GET \/boom HTTP\/1\.1"\nTypeError: async kaboom\n/)
})

t.test('a thrown non-Error value is logged as text', async (t) => {
  const s = await startServer(t, () => {
    throw 'just a string' // eslint-disable-line no-throw-literal
  })
  const res = await fetch(s.origin)
  t.equal(res.status, 500)
  await res.text()
  t.match(s.errText(), /ERROR: Exception in app for "GET \/ HTTP\/1\.1"\njust a string\n/)
})

t.test('a throw after write() started streaming cuts the response and closes the connection', async (t) => {
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/ok') return void res.end('ok')
    res.write('partial')
    await sleep(10)
    throw new Error('mid-stream')
  })
  const { data, closed, responses } = await rawRequest(s.port, get('/cut'))
  t.ok(closed)
  t.equal(responses.length, 0, 'no complete response')
  t.match(data.toString(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*Transfer-Encoding: chunked\r\n[\s\S]*7\r\npartial\r\n$/)
  t.notMatch(data.toString(), /0\r\n\r\n$/, 'no last chunk')
  t.match(s.errText(), /mid-stream/)
  const ok = await fetch(`${s.origin}/ok`)
  t.equal(await ok.text(), 'ok', 'the server keeps serving')
  t.ok(await eventually(() => s.server.connectionCount <= 1))
})

t.test('a streaming failure in a later pipelined exchange does not cut the earlier response', async (t) => {
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/first') {
      await sleep(80)
      return void res.end('first, complete')
    }
    res.write('second, partial')
    throw new Error('second fails')
  })
  const { responses, closed } = await rawRequest(s.port, get('/first') + get('/second'))
  t.ok(closed)
  t.equal(responses[0]?.body.toString(), 'first, complete')
})

t.test('a throw after end() is only logged', async (t) => {
  const s = await startServer(t, (_req, res) => {
    res.end('done')
    throw new Error('after end')
  })
  const res = await fetch(s.origin)
  t.equal(res.status, 200)
  t.equal(await res.text(), 'done')
  t.match(s.errText(), /after end/)
})

// --- Client disconnects -------------------------------------------------------------------------

t.test('client disconnect mid-request body: signal fires, res closes, no uncaught error', async (t) => {
  let resolveSeen!: (v: { aborted: boolean; reason: unknown; closed: boolean; bodyError: unknown }) => void
  const seen = new Promise<{ aborted: boolean; reason: unknown; closed: boolean; bodyError: unknown }>((r) => (resolveSeen = r))
  const called = deferred()
  const s = await startServer(t, async (req, res) => {
    let closed = false
    res.on('close', () => (closed = true))
    const signal = req.signal
    called.resolve()
    let bodyError: unknown = null
    try {
      await req.body()
    } catch (error) {
      bodyError = error
    }
    if (req.path !== '/upload') return void res.end('after')
    await sleep(5)
    resolveSeen({ aborted: signal.aborted, reason: signal.reason, closed, bodyError })
  }, { bufferBody: 0 })
  const client = await RawClient.connect(s.port)
  await client.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n')
  await client.write('x'.repeat(500))
  await called.promise
  client.destroy()
  const result = await seen
  t.ok(result.aborted, 'req.signal aborted')
  t.ok(result.reason instanceof Error)
  t.ok(result.closed, "res emitted 'close'")
  t.ok(result.bodyError instanceof Error, 'body() rejected')
  t.ok(await eventually(() => s.server.connectionCount === 0), 'connection count back to 0')
  const after = await fetch(`${s.origin}/after`)
  t.equal(await after.text(), 'after', 'the server keeps serving')
  t.equal(s.errText(), '', 'nothing logged: the app handled the failure')
})

t.test('client disconnect while the app streams: signal fires, close fires, server keeps serving', async (t) => {
  let resolveDone!: (v: { aborted: boolean; closed: boolean; writes: number }) => void
  const done = new Promise<{ aborted: boolean; closed: boolean; writes: number }>((r) => (resolveDone = r))
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/ping') return void res.end('pong')
    let closed = false
    res.on('close', () => (closed = true))
    let writes = 0
    while (!closed && writes < 10000) {
      res.write(Buffer.alloc(1024, 'z'))
      writes++
      await sleep(2)
    }
    res.end()
    resolveDone({ aborted: req.signal.aborted, closed, writes })
  })
  const client = await RawClient.connect(s.port)
  await client.write(get('/stream'))
  await client.until(() => client.data.length > 8 * 1024)
  client.destroy()
  const result = await done
  t.ok(result.closed, "res emitted 'close'")
  t.ok(result.aborted, 'req.signal aborted')
  t.ok(result.writes < 10000, 'the app saw the close and stopped')
  t.ok(await eventually(() => s.server.connectionCount === 0))
  const ping = await fetch(`${s.origin}/ping`)
  t.equal(await ping.text(), 'pong')
})

t.test('client disconnect while the request waits in the queue: the app is never called', async (t) => {
  const paths: string[] = []
  const called = deferred()
  const release = deferred()
  const s = await startServer(
    t,
    async (req, res) => {
      paths.push(req.path)
      called.resolve()
      if (req.path === '/first') await release.promise
      res.end('ok')
    },
    { threads: 1 },
  )
  // (The dispatcher's queue, read for the test: the request is waiting for the one slot.)
  const dispatcher = (s.server as unknown as { settings: { dispatcher: { waiting: number } } }).settings.dispatcher
  const first = await RawClient.connect(s.port)
  await first.write(get('/first'))
  await called.promise
  const queued = await RawClient.connect(s.port)
  await queued.write(get('/queued'))
  t.ok(await eventually(() => dispatcher.waiting === 1), 'the request waits in the queue')
  // An RST, not a FIN: a FIN is a half-close and the request would still be answered.
  queued.socket.resetAndDestroy()
  t.ok(await eventually(() => s.server.connectionCount === 1), 'its connection is gone')
  release.resolve()
  await first.waitForResponses(1)
  await turns()
  t.same(paths, ['/first'])
  const after = await fetch(`${s.origin}/after`)
  t.equal(after.status, 200)
  await after.text()
  t.same(paths, ['/first', '/after'])
  first.destroy()
})

t.test('a client that half-closes mid-body loses its connection quietly', async (t) => {
  const s = await startServer(t, async (req, res) => {
    try {
      await req.body()
      res.end('complete')
    } catch {
      res.end('failed')
    }
  })
  const client = await RawClient.connect(s.port)
  await client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc')
  client.end()
  await client.waitForClose()
  t.equal(client.responses().length, 0)
  t.ok(await eventually(() => s.server.connectionCount === 0))
})

// --- Timeouts -----------------------------------------------------------------------------------

t.test('an idle keep-alive connection is closed after keepAliveTimeout', async (t) => {
  const s = await startServer(t, hello, { keepAliveTimeout: 300, headersTimeout: 500 })
  const client = await RawClient.connect(s.port)
  await client.write(get())
  await client.waitForResponses(1)
  t.notOk(client.closed)
  const started = Date.now()
  await client.waitForClose()
  const waited = Date.now() - started
  t.ok(waited >= 250, `closed after ${waited} ms`)
  t.ok(await eventually(() => s.server.connectionCount === 0))
})

t.test('a half-sent head that stalls gets 408 and a close', async (t) => {
  const s = await startServer(t, hello, { keepAliveTimeout: 300, headersTimeout: 500 })
  const client = await RawClient.connect(s.port)
  await client.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ')
  await client.waitForClose()
  const responses = client.responses()
  t.equal(responses.length, 1)
  t.equal(responses[0].statusCode, 408)
  t.equal(responses[0].headers.connection, 'close')
  t.equal(responses[0].body.toString(), 'Request head timed out\n')
})

t.test('a head trickled in byte by byte still times out from its first byte', async (t) => {
  const s = await startServer(t, hello, { headersTimeout: 500 })
  const client = await RawClient.connect(s.port)
  const head = get()
  const started = Date.now()
  for (let i = 0; i < head.length - 2 && !client.ended; i++) {
    await client.write(head[i]).catch(() => {})
    await sleep(100)
  }
  await client.waitForClose()
  t.equal(client.responses()[0]?.statusCode, 408)
  t.ok(Date.now() - started < 3000, 'cut off although bytes kept coming')
})

t.test('a connection that sends nothing is closed after headersTimeout', async (t) => {
  const s = await startServer(t, hello, { headersTimeout: 300 })
  const client = await RawClient.connect(s.port)
  await client.waitForClose()
  t.equal(client.data.length, 0, 'no response for a connection that never spoke')
})

t.test('a busy connection is not timed out while its request is in flight', async (t) => {
  const s = await startServer(
    t,
    async (_req, res) => {
      await sleep(1500)
      res.end('slow but fine')
    },
    { keepAliveTimeout: 200, headersTimeout: 200 },
  )
  const res = await rawRequest(s.port, get(), { responses: 1 })
  t.equal(res.responses[0].body.toString(), 'slow but fine')
  res.client.destroy()
})

t.test('a connection whose client never closes after our end is destroyed after the linger time', async (t) => {
  const s = await startServer(t, (_req, res) => {
    res.setHeader('Connection', 'close')
    res.end('bye')
  })
  // allowHalfOpen: the client keeps its side open after the server's FIN.
  const socket = net.connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true })
  t.teardown(() => socket.destroy())
  let data = ''
  let ended = false
  socket.on('data', (chunk) => (data += chunk))
  socket.on('end', () => (ended = true))
  socket.on('error', () => {})
  socket.write(get())
  t.ok(await eventually(() => ended), 'server ended its side')
  t.match(data, /Connection: close/)
  t.equal(s.server.connectionCount, 1, 'the connection lingers, reading what the client sends')
  socket.write('ignored bytes')
  await turns()
  t.equal(s.server.connectionCount, 1, 'still lingering after more client bytes')
  t.ok(await eventually(() => s.server.connectionCount === 0), 'destroyed after the linger time')
})

// --- Helpers ------------------------------------------------------------------------------------

t.test('the raw response parser refuses bad framing (the helpers every test relies on)', async (t) => {
  t.throws(() => parseResponses(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')))
  t.throws(() => parseResponses(Buffer.from('NOPE\r\n\r\n')))
  const { responses, rest } = parseResponses(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab'))
  t.equal(responses.length, 0)
  t.equal(rest.length, 40)
})

t.test('a half-closed client still blocked by a full queue gets its unread requests answered', async (t) => {
  // threads 1, maxQueued 2: B is blocked with /b2 and /b3 unread; by the time /b1 is done,
  // five other connections keep the queue long, so B stays blocked with nothing in flight.
  const s = await startServer(
    t,
    async (req, res) => {
      await sleep(15)
      res.end(req.path)
    },
    { threads: 1, maxQueued: 2 },
  )
  const c = await RawClient.connect(s.port)
  await c.write(get('/c1') + get('/c2') + get('/c3'))
  await sleep(3)
  const b = await RawClient.connect(s.port)
  await b.write(get('/b1') + get('/b2') + get('/b3'))
  b.end()
  await sleep(3)
  const others = await Promise.all([1, 2, 3, 4, 5].map(() => RawClient.connect(s.port)))
  for (const [i, d] of others.entries()) await d.write(get(`/d${i}`))
  await b.waitForClose()
  t.same(b.responses().map((r) => r.body.toString()), ['/b1', '/b2', '/b3'], 'all answered, in order, then closed')
  const replies = await Promise.all(others.map((d) => d.waitForResponses(1)))
  t.same(replies.map((r) => r[0].body.toString()), ['/d0', '/d1', '/d2', '/d3', '/d4'])
  t.same((await c.waitForResponses(3)).map((r) => r.body.toString()), ['/c1', '/c2', '/c3'])
  for (const d of [c, ...others]) d.destroy()
})
