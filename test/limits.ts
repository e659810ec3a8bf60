// Limits and timeouts of a connection, over real sockets: the app timeout (503), the head, body
// and output-stall timeouts, what a connection buffers for a client that does not read, and the
// options' validation. The sweep runs once a second, so every timeout here is 1 s.
import t from 'tap'
import net from 'node:net'
import { RawClient, get, parseResponses, rawRequest } from './helpers/raw.js'
import { eventually, sleep, startServer, turns } from './helpers/server.js'
import { createServer, type Request, type Response } from '../lib/server.js'

// --- The app timeout --------------------------------------------------------------------------

t.test('an app that does not answer within appTimeout: 503, an ERROR line, signal, close', async (t) => {
  let aborted: unknown = null
  let closed = false
  const s = await startServer(
    t,
    (req, res) => {
      if (req.path !== '/hang') {
        res.end('ok')
        return
      }
      req.signal.addEventListener('abort', () => (aborted = req.signal.reason))
      res.on('close', () => (closed = true))
    },
    { appTimeout: 1000, accessLog: true },
  )
  const started = Date.now()
  const { responses, closed: connectionClosed } = await rawRequest(s.port, get('/hang'))
  t.ok(Date.now() - started >= 1000, 'not before the timeout')
  t.equal(responses.length, 1)
  t.equal(responses[0].statusCode, 503)
  t.equal(responses[0].headers.connection, 'close')
  t.equal(responses[0].body.toString(), 'The app did not answer in time\n')
  t.ok(connectionClosed, 'the connection is closed')
  t.match(String((aborted as Error).message), 'App timed out', 'req.signal aborted with the reason')
  t.ok(closed, "the response's close event fired")
  t.match(s.errText(), /^ERROR: App timed out after 1 s for "GET \/hang HTTP\/1\.1"$/m)
  t.match(s.outLines().join('\n'), /"GET \/hang HTTP\/1\.1" 503 Service Unavailable/, 'its access line names the request')
})

t.test('a timed-out app call gives its slot back, and its late answer is dropped', async (t) => {
  let release: (() => void) | null = null
  const s = await startServer(
    t,
    async (req, res) => {
      if (req.path === '/hang') {
        await new Promise<void>((resolve) => (release = resolve))
        res.end('too late')
        return
      }
      res.end('served')
    },
    { appTimeout: 1000, threads: 1 },
  )
  const hung = await rawRequest(s.port, get('/hang'))
  t.equal(hung.responses[0].statusCode, 503)
  // threads: 1, and the hung call still has not returned: the next one runs all the same.
  const next = await rawRequest(s.port, get('/next'), { responses: 1 })
  t.equal(next.responses[0].body.toString(), 'served')
  next.client.destroy()
  ;(release as unknown as () => void)()
  await sleep(20)
  t.equal(s.errText().match(/ERROR/g)?.length, 1, 'the late end() is ignored, not an error')
})

t.test('a pipelined request that times out is answered in its turn, after the ones before it', async (t) => {
  const s = await startServer(
    t,
    (req, res) => {
      if (req.path !== '/hang') res.end('fast')
    },
    { appTimeout: 1000 },
  )
  const { responses, closed } = await rawRequest(s.port, get('/fast') + get('/hang') + get('/after'))
  t.same(
    responses.map((r) => r.statusCode),
    [200, 503],
    'the one before is answered, the hung one gets 503, nothing after it',
  )
  t.equal(responses[0].body.toString(), 'fast')
  t.ok(closed)
})

t.test('an app that started its response is not timed out', async (t) => {
  const s = await startServer(
    t,
    async (_req, res) => {
      res.write('started ')
      await sleep(2200)
      res.end('and finished')
    },
    { appTimeout: 1000 },
  )
  const { responses } = await rawRequest(s.port, get(), { responses: 1 })
  t.equal(responses[0].statusCode, 200)
  t.equal(responses[0].body.toString(), 'started and finished')
  t.equal(s.errText(), '')
})

t.test('appTimeout 0 turns the app timeout off', async (t) => {
  const s = await startServer(
    t,
    async (_req, res) => {
      await sleep(2200)
      res.end('late but fine')
    },
    { appTimeout: 0, headersTimeout: 1000, keepAliveTimeout: 1000 },
  )
  const { responses } = await rawRequest(s.port, get(), { responses: 1 })
  t.equal(responses[0].body.toString(), 'late but fine')
})

// --- Head and body timeouts -------------------------------------------------------------------

t.test('a head that stalls behind a request in flight gets 408 after that request is answered', async (t) => {
  const s = await startServer(
    t,
    async (_req, res) => {
      await sleep(300)
      res.end('first')
    },
    { headersTimeout: 1000 },
  )
  const client = await RawClient.connect(s.port)
  await client.write(get('/first') + 'GET /second HTTP/1.1\r\nHo')
  await client.waitForClose()
  const responses = client.responses()
  t.same(
    responses.map((r) => r.statusCode),
    [200, 408],
  )
  t.equal(responses[1].body.toString(), 'Request head timed out\n')
})

t.test('a request body that stalls gets 408 and a close; the app sees its body fail', async (t) => {
  let bodyError: unknown = null
  const s = await startServer(
    t,
    async (req, res) => {
      try {
        await req.body()
        res.end('complete')
      } catch (error) {
        bodyError = error
      }
    },
    // The app starts before its body is whole (as for a body over bufferBody).
    { bodyTimeout: 1000, bufferBody: 0 },
  )
  const client = await RawClient.connect(s.port)
  await client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc')
  const started = Date.now()
  await client.waitForClose()
  t.ok(Date.now() - started >= 900, 'not before the timeout')
  const responses = client.responses()
  t.equal(responses.length, 1)
  t.equal(responses[0].statusCode, 408)
  t.equal(responses[0].body.toString(), 'Request body timed out\n')
  t.match(String((bodyError as Error).message), 'Request body timed out')
})

t.test('a body that keeps arriving slowly is not timed out', async (t) => {
  const s = await startServer(t, async (req, res) => res.end(await req.body()), { bodyTimeout: 1000 })
  const client = await RawClient.connect(s.port)
  await client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n')
  for (const piece of ['ab', 'cd', 'ef']) {
    await sleep(700)
    await client.write(piece)
  }
  const [response] = await client.waitForResponses(1)
  t.equal(response.body.toString(), 'abcdef')
  client.destroy()
})

t.test('no body timeout while reading is paused because the app is not reading yet', async (t) => {
  const body = Buffer.alloc(1024 * 1024, 'u')
  const s = await startServer(
    t,
    async (req, res) => {
      // Long past the body timeout: the client is blocked by us, not stalling.
      await sleep(2500)
      const got = await req.body()
      res.end(String(got.length))
    },
    { bodyTimeout: 1000 },
  )
  const { responses } = await rawRequest(s.port, [`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`, body], {
    responses: 1,
    timeout: 8000,
  })
  t.equal(responses[0].statusCode, 200)
  t.equal(responses[0].body.toString(), String(body.length))
})

// --- A client that does not read ----------------------------------------------------------------

t.test('a client that takes none of a streamed response is cut off after bodyTimeout', async (t) => {
  let closed = false
  let written = 0
  const chunk = Buffer.alloc(64 * 1024, 'x')
  const s = await startServer(
    t,
    async (_req, res) => {
      res.on('close', () => (closed = true))
      // Honours backpressure: waits for drain, which never comes.
      while (!closed) {
        written += chunk.length
        if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve).once('close', resolve))
      }
    },
    { bodyTimeout: 1000 },
  )
  const socket = net.connect(s.port, '127.0.0.1')
  socket.on('error', () => {})
  socket.pause()
  socket.write(get())
  t.ok(await eventually(() => closed), "the response's close event fires")
  t.ok(await eventually(() => s.server.connectionCount === 0), 'the connection is gone')
  t.ok(written < 64 * 1024 * 1024, `the app was held back by backpressure (${written} bytes written)`)
  socket.destroy()
})

t.test('pipelined requests from a client that does not read: reading stops, then resumes', async (t) => {
  let calls = 0
  const body = Buffer.alloc(1024, 'r')
  const s = await startServer(t, (_req, res) => {
    calls++
    res.end(body)
  })
  const total = 20000
  const socket = net.connect(s.port, '127.0.0.1')
  socket.on('error', () => {})
  socket.pause()
  const requests = Buffer.from(get().repeat(total), 'latin1')
  socket.write(requests)
  // ~20 MiB of answers: the kernel's buffers take a part of them, then the server's socket backs
  // up and it stops reading (its connection, read for the test).
  const connections = (s.server as unknown as { connections: Set<{ socket: net.Socket }> }).connections
  t.ok(await eventually(() => [...connections].some((conn) => conn.socket.writableNeedDrain)), 'the server socket is backed up')
  // (The requests already read are answered within these turns.)
  await turns(10)
  const callsWhileBlocked = calls
  t.ok(callsWhileBlocked < total, `${callsWhileBlocked} of ${total} requests were read while the client did not read`)
  await sleep(300)
  t.equal(calls, callsWhileBlocked, 'and no more are read')
  // Now read everything: every request is answered, in order and whole.
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.resume()
  let received = 0
  socket.on('data', (chunk: Buffer) => (received += chunk.length))
  t.ok(await eventually(() => received > 0))
  // Every answer has the same length (the Date header's is fixed).
  const one = parseResponses(Buffer.concat(chunks)).responses[0].raw.length
  t.ok(await eventually(() => received >= total * one, 20000), 'all answers arrive')
  const { responses, rest } = parseResponses(Buffer.concat(chunks))
  t.equal(responses.length, total)
  t.equal(rest.length, 0)
  t.equal(calls, total)
  socket.destroy()
})

t.test('responses held back behind a slow one share one bound per connection', async (t) => {
  const piece = Buffer.alloc(40 * 1024, 'h')
  const results: Record<string, boolean[]> = {}
  const drained: string[] = []
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/slow') {
      await sleep(300)
      res.end('slow')
      return
    }
    const oks = (results[req.path] = [res.write(piece)])
    if (!oks[0]) await new Promise((resolve) => res.once('drain', resolve))
    drained.push(req.path)
    res.end()
  })
  const { responses } = await rawRequest(s.port, get('/slow') + get('/a') + get('/b'), { responses: 3 })
  t.same(results['/a'], [true], 'the first 40 KiB held back fit')
  t.same(results['/b'], [false], 'the next 40 KiB, on another response, pass the 64 KiB bound')
  t.same(
    responses.map((r) => r.body.length),
    [4, piece.length, piece.length],
  )
  t.same(drained, ['/a', '/b'], "/b got its drain once it was first in line")
})

t.test('a large last response to a slow reader is not cut by the linger time', async (t) => {
  const big = Buffer.alloc(8 * 1024 * 1024, 'l')
  const s = await startServer(t, (_req, res) => {
    res.setHeader('Connection', 'close')
    // One write far larger than the socket buffers: it leaves over the next seconds.
    res.end(big)
  })
  const socket = net.connect(s.port, '127.0.0.1')
  socket.on('error', () => {})
  socket.pause()
  socket.write(get())
  // Longer than the 2 s linger: the server's side has ended but its output has not left.
  await sleep(3000)
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  const ended = new Promise((resolve) => socket.on('end', resolve))
  socket.resume()
  await ended
  const { responses } = parseResponses(Buffer.concat(chunks), { closed: true })
  t.equal(responses.length, 1)
  t.equal(responses[0].body.length, big.length, 'the whole body arrived')
  socket.destroy()
})

// --- Options ----------------------------------------------------------------------------------

t.test('limits and timeouts are checked when the server is created', async (t) => {
  const app = (_req: Request, res: Response): void => res.end()
  const bad: [string, number][] = [
    ['threads', 0],
    ['maxPipeline', 0],
    ['maxRequestLineSize', 0],
    ['maxHeaderSize', 1.5],
    ['maxBodySize', -1],
    ['appTimeout', -1],
    ['bodyTimeout', Number.NaN],
    ['keepAliveTimeout', Infinity],
    ['headersTimeout', -5],
    ['bufferBody', -1],
    ['minDataRate', 0.5],
    ['minDataRateGrace', -1],
    ['maxQueue', -1],
  ]
  for (const [name, value] of bad) {
    t.throws(() => createServer(app, { [name]: value }), RangeError, `${name}: ${value}`)
  }
  t.doesNotThrow(() =>
    createServer(app, { appTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 0, headersTimeout: 0, bufferBody: 0, minDataRate: 0, minDataRateGrace: 0, maxQueue: 0 }),
  )
})
