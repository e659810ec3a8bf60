// Slow and vanishing clients must not take the service down: small bodies are read whole before
// the app is called (bufferBody), clients slower than the minimum data rate are cut off, a client
// that leaves is noticed at once even while its connection is paused, load shedding (maxQueue)
// answers 503, and a client leaving is not logged as an app error.
import t from 'tap'
import { readFileSync } from 'node:fs'
import type { Request, Response } from '../lib/server.js'
import { LOCAL, start } from './helpers/cli.js'
import { get, probe, rawRequest, RawClient } from './helpers/raw.js'
import { deferred, eventually, sleep, startServer, watchEscapes } from './helpers/server.js'

const KiB = 1024
const MiB = 1024 * KiB

/** Probes `count` times, `gap` ms apart; returns how many were answered within 1 s. */
async function probes(port: number, count: number, gap: number): Promise<number> {
  let answered = 0
  for (let i = 0; i < count; i++) {
    if (await probe(port)) answered++
    await sleep(gap)
  }
  return answered
}

/** Sockets on the server's `port` in CLOSE-WAIT (state 08), from /proc/net/tcp and tcp6. */
function closeWait(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  let count = 0
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(file, 'latin1')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length > 3 && fields[1].endsWith(`:${hexPort}`) && fields[3] === '08') count++
    }
  }
  return count
}

/** Connects `n` raw clients and sends each `data`. */
async function clients(port: number, n: number, data: string): Promise<RawClient[]> {
  const all = await Promise.all(Array.from({ length: n }, () => RawClient.connect(port)))
  await Promise.all(all.map((c) => c.write(data)))
  return all
}

const SLOW_POST = 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nA'

// --- The reproductions of issue 8, against the CLI ------------------------------------------------

for (const flags of [[], ['--threads', '1']]) {
  const name = flags.length === 0 ? 'default flags' : flags.join(' ')
  t.test(`${name}: clients that never finish their small bodies hold no app call; GET / is answered throughout`, async (t) => {
    const { cli, port } = await start(t, [...LOCAL, ...flags])
    const threads = Number((cli.stdout.match(/Threads: (\d+)/) as RegExpMatchArray)[1])
    // More slow clients than there are app slots (with default flags, 50 times the 4 slots the
    // seed had: the default is as many slots as connections now).
    const slow = await clients(port, flags.length === 0 ? 200 : threads + 2, SLOW_POST)
    t.equal(await probes(port, 6, 250), 6, 'every probe answered within 1 s')
    for (const c of slow) t.equal(c.data.length, 0, 'a slow client has no answer yet')
    for (const c of slow) c.destroy()
  })
}

t.test('--threads 1 --timeout 2: after 100 slow clients leave, GET / is answered at once and no socket is left in CLOSE-WAIT', async (t) => {
  const { port } = await start(t, [...LOCAL, '--threads', '1', '--timeout', '2'])
  const slow = await clients(port, 100, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8192\r\n\r\n')
  await sleep(1000)
  await Promise.all(slow.map((c) => c.write('x')))
  for (const c of slow) c.end()
  const closedAt = Date.now()
  t.ok(await probe(port), 'GET / answered within 1 s of the clients leaving')
  t.ok(await eventually(() => closeWait(port) === 0, 1000 - (Date.now() - closedAt)), 'no socket in CLOSE-WAIT within 1 s')
  await Promise.all(slow.map((c) => c.waitForClose()))
  t.ok(slow.every((c) => c.data.length === 0), 'nothing was answered to the clients that left')
})

// --- Bodies read whole before the app is called ------------------------------------------------

interface Call {
  path: string
  complete: boolean
}

/** An app that records whether each request's body was whole when it was called, then echoes it. */
function recording(calls: Call[]) {
  return async (req: Request, res: Response): Promise<void> => {
    calls.push({ path: req.path, complete: (req as unknown as { complete: boolean }).complete })
    res.end(await req.body())
  }
}

t.test('a body within bufferBody, sent in pieces, is whole when the app is called', async (t) => {
  const calls: Call[] = []
  const s = await startServer(t, recording(calls))
  const client = await RawClient.connect(s.port)
  await client.write('POST /length HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab')
  await sleep(50)
  t.same(calls, [], 'not called while the body arrives')
  await client.write('cdef')
  await client.write('POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nghi\r\n')
  await sleep(50)
  await client.write('0\r\n\r\n')
  const responses = await client.waitForResponses(2)
  t.same(responses.map((r) => r.body.toString()), ['abcdef', 'ghi'])
  t.same(calls, [{ path: '/length', complete: true }, { path: '/chunked', complete: true }])
  client.destroy()
})

t.test('a bufferBody larger than the stream high-water mark still reads the body whole first', async (t) => {
  const calls: Call[] = []
  const s = await startServer(t, recording(calls), { bufferBody: MiB })
  const body = Buffer.alloc(300 * KiB, 'q')
  const client = await RawClient.connect(s.port)
  await client.write(`POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`)
  for (let i = 0; i < body.length; i += 50 * KiB) {
    await client.write(body.subarray(i, i + 50 * KiB))
    await sleep(5)
  }
  const [res] = await client.waitForResponses(1)
  t.equal(res.body.length, body.length)
  t.same(calls, [{ path: '/big', complete: true }])
  client.destroy()
})

t.test('bodies over bufferBody stream to an app that starts before they are whole', async (t) => {
  const calls: Call[] = []
  const s = await startServer(t, recording(calls), { bufferBody: 10 })
  const client = await RawClient.connect(s.port)
  await client.write('POST /length HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n0123456789')
  await eventually(() => calls.length === 1)
  await client.write('abcdefghij')
  // A chunked body grows past the bound: its app starts then.
  await client.write('POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n')
  await sleep(30)
  t.equal(calls.length, 1, 'within the bound: still buffered')
  await client.write('6\r\nghijkl\r\n')
  await eventually(() => calls.length === 2)
  await client.write('0\r\n\r\n')
  const responses = await client.waitForResponses(2)
  t.same(responses.map((r) => r.body.toString()), ['0123456789abcdefghij', 'abcdefghijkl'])
  t.same(calls, [{ path: '/length', complete: false }, { path: '/chunked', complete: false }])
  client.destroy()
})

t.test('Expect: 100-continue on a body within bufferBody: 100 at once, the app gets the whole body', async (t) => {
  const calls: Call[] = []
  const s = await startServer(t, recording(calls))
  const client = await RawClient.connect(s.port)
  await client.write('PUT /expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n')
  await client.until(() => client.data.toString() === 'HTTP/1.1 100 Continue\r\n\r\n')
  t.same(calls, [], 'the 100 comes before the app is called')
  await client.write('ping')
  const responses = await client.waitForResponses(2)
  t.same(responses.map((r) => [r.statusCode, r.body.toString()]), [[100, ''], [200, 'ping']])
  t.equal(responses[1].headers.connection, undefined, 'the connection is kept')
  t.same(calls, [{ path: '/expect', complete: true }])
  client.destroy()
})

t.test('a small body that stalls gets 408 and its app is never called', async (t) => {
  const calls: Call[] = []
  const s = await startServer(t, recording(calls), { bodyTimeout: 1000 })
  const { responses, closed } = await rawRequest(s.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc')
  t.equal(responses[0]?.statusCode, 408)
  t.equal(responses[0]?.body.toString(), 'Request body timed out\n')
  t.ok(closed)
  t.same(calls, [])
})

// --- The minimum data rate ---------------------------------------------------------------------

t.test('a request body slower than minDataRate gets 408 once the grace period is over', async (t) => {
  const calls: Call[] = []
  const s = await startServer(t, recording(calls), { minDataRate: 1000, minDataRateGrace: 1000 })
  const client = await RawClient.connect(s.port)
  const started = Date.now()
  await client.write('POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 8192\r\n\r\n')
  // 10 bytes every 100 ms: 100 B/s, well under the minimum, but never a stall.
  while (!client.closed && Date.now() - started < 6000) {
    await client.write('0123456789').catch(() => {})
    await sleep(100)
  }
  const elapsed = Date.now() - started
  t.ok(client.closed, 'the connection is closed')
  t.ok(elapsed >= 1000 && elapsed < 4500, `after the grace period, within a few sweeps (${elapsed} ms)`)
  t.same(client.responses().map((r) => [r.statusCode, r.body.toString()]), [[408, 'Request body too slow\n']])
  t.same(calls, [], 'the app was never called')
})

t.test('a request body that keeps the minimum data rate is served', async (t) => {
  const calls: Call[] = []
  const s = await startServer(t, recording(calls), { minDataRate: 1000, minDataRateGrace: 1000 })
  const client = await RawClient.connect(s.port)
  const body = 'x'.repeat(5000)
  await client.write(`POST /steady HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`)
  // 250 bytes every 100 ms: 2,500 B/s for two seconds.
  for (let i = 0; i < body.length; i += 250) {
    await client.write(body.slice(i, i + 250))
    await sleep(100)
  }
  const [res] = await client.waitForResponses(1)
  t.equal(res.statusCode, 200)
  t.equal(res.body.length, body.length)
  client.destroy()
})

t.test('time the server spends paused (an unread upload) does not count against the client', async (t) => {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  const s = await startServer(
    t,
    async (req, res) => {
      // Reads nothing until told: the upload pauses once 64 KiB are buffered.
      await released
      res.end(`${(await req.body()).length}`)
    },
    { minDataRate: 100 * KiB, minDataRateGrace: 500, bufferBody: 0 },
  )
  const client = await RawClient.connect(s.port)
  const body = Buffer.alloc(4 * MiB, 'u')
  await client.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`)
  void client.write(body).catch(() => {})
  await sleep(2500)
  t.notOk(client.closed, 'paused for 2.5 s, and not cut off')
  release()
  const [res] = await client.waitForResponses(1)
  t.equal(res.body.toString(), String(body.length))
  client.destroy()
})

t.test('a client that takes its response slower than minDataRate is cut off; a slow app is not', async (t) => {
  const piece = Buffer.alloc(64 * KiB, 'r')
  let finished = false
  const s = await startServer(
    t,
    async (req, res) => {
      if (req.path === '/trickle') {
        // The app is slow, not the client: output never waits for the client.
        for (let i = 0; i < 25; i++) {
          res.write('0123456789')
          await sleep(100)
        }
        return void res.end()
      }
      while (!req.aborted) {
        if (!res.write(piece)) await new Promise((resolve) => res.once('drain', resolve).once('close', resolve))
      }
      finished = true
      res.end()
    },
    { minDataRate: 10 * KiB, minDataRateGrace: 1000 },
  )
  const trickle = await rawRequest(s.port, get('/trickle', 'Connection: close\r\n'))
  t.equal(trickle.responses[0]?.body.toString(), '0123456789'.repeat(25), 'a slow app streams to the end')

  const client = await RawClient.connect(s.port)
  await client.write(get('/flood'))
  await client.until(() => client.data.length > 0)
  // Stop reading: the kernel's buffers fill, then the server's output waits.
  client.socket.pause()
  const started = Date.now()
  t.ok(await eventually(() => finished, 20000), 'the server gave up on the client, and the app saw it')
  t.ok(Date.now() - started < 15000, 'well before the 30 s body timeout')
  t.ok(await eventually(() => s.server.connectionCount === 0), 'the connection is gone')
  client.destroy()
})

// --- Clients that leave -------------------------------------------------------------------------

t.test('a client that leaves while its connection is paused (queue full) is noticed at once', async (t) => {
  const paths: string[] = []
  const s = await startServer(
    t,
    async (req, res) => {
      paths.push(req.path)
      // The first call holds the only slot until its client leaves.
      if (req.path === '/first') await new Promise((resolve) => req.signal.addEventListener('abort', resolve))
      res.end('done')
    },
    // One slot, and the queue full at once: the queued connections stop being read.
    { threads: 1, maxQueued: 1 },
  )
  const first = await RawClient.connect(s.port)
  await first.write(get('/first'))
  await eventually(() => paths.length === 1)
  const queued: RawClient[] = []
  for (let i = 0; i < 4; i++) {
    const c = await RawClient.connect(s.port)
    await c.write(get(`/queued-${i}`) + get(`/more-${i}`))
    queued.push(c)
  }
  await sleep(50)
  // They leave for good (an RST: a FIN alone would still be answered, as a half-close), while
  // the first call still holds the slot; then the first client leaves too.
  const leftAt = Date.now()
  for (const c of queued) c.socket.resetAndDestroy()
  t.ok(await eventually(() => s.server.connectionCount === 1, 1000), 'the paused connections closed within 1 s')
  first.socket.resetAndDestroy()
  t.ok(await eventually(() => s.server.connectionCount === 0, 1000), 'every connection closed within 1 s')
  t.ok(Date.now() - leftAt < 2000)
  t.same(paths, ['/first'], 'the queued calls never reached the app')
  t.ok(await probe(s.port), 'the app slot is free: a new request is answered')
})

t.test('a connection that ends while its reading is stopped reads and drops what the client still sends', async (t) => {
  const s = await startServer(
    t,
    async (req, res) => {
      await sleep(50)
      if (req.path === '/close') res.setHeader('Connection', 'close')
      res.end(req.path)
    },
    { maxPipeline: 1 },
  )
  const client = await RawClient.connect(s.port)
  // Paused after the first request, with more than the read-ahead waiting: the socket stops.
  await client.write(get('/close') + get('/next').repeat(1000))
  await client.until(() => client.data.includes('/close'))
  // Our side has ended: whatever comes now is read and dropped, so the client is not stuck
  // (16 MiB is more than loopback's socket buffers hold).
  const junk = Buffer.alloc(16 * MiB, 'j')
  const written = await Promise.race([client.write(junk).then(() => true, () => false), sleep(5000).then(() => false)])
  t.ok(written, 'the client could send it all')
  client.end()
  await client.waitForClose()
  t.same(client.responses().map((r) => [r.body.toString(), r.headers.connection]), [['/close', 'close']])
})

t.test('a FIN aborts the calls still working, not those that have answered and wait their turn', async (t) => {
  const aborted: Record<string, boolean> = {}
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/slow') await sleep(150)
    res.end(req.path)
    await sleep(100)
    aborted[req.path] = req.signal.aborted
  })
  const { responses } = await rawRequest(s.port, get('/slow') + get('/fast'), { end: true })
  t.same(responses.map((r) => r.body.toString()), ['/slow', '/fast'], 'both answered, in order')
  await eventually(() => Object.keys(aborted).length === 2)
  t.same(aborted, { '/slow': true, '/fast': false })
})

t.test('a head cut short by the client closing gets 400, after the requests before it', async (t) => {
  const s = await startServer(t, async (req, res) => {
    await sleep(30)
    res.end(req.path)
  })
  const alone = await rawRequest(s.port, 'GET /half HTTP/1.1\r\nHost: x\r\nX-Cut: ', { end: true })
  t.same(alone.responses.map((r) => [r.statusCode, r.headers.connection]), [[400, 'close']])
  t.equal(alone.responses[0].body.toString(), 'Request head cut short by the end of the connection\n')
  t.ok(alone.closed)
  const behind = await rawRequest(s.port, `${get('/whole')}GET /cut HTTP/1.1\r\nHo`, { end: true })
  t.same(behind.responses.map((r) => [r.statusCode, r.body.toString()]), [[200, '/whole'], [400, 'Request head cut short by the end of the connection\n']])
  // Empty lines between requests are not a head.
  const blank = await rawRequest(s.port, `${get('/blank')}\r\n`, { end: true })
  t.same(blank.responses.map((r) => r.statusCode), [200])
})

t.test('an app that fails because its client left is one INFO line, not an ERROR', async (t) => {
  const escaped = watchEscapes(t)
  let failed = false
  const called = deferred()
  const s = await startServer(
    t,
    async (req, res) => {
      called.resolve()
      if (req.path === '/signal') {
        await new Promise((resolve) => setTimeout(resolve, 5000).unref())
        failed = true
        // What an app does that stops when its client goes: throw the signal's reason.
        req.signal.throwIfAborted()
        return void res.end()
      }
      try {
        await req.body()
      } finally {
        failed = true
      }
      res.end()
    },
    { bufferBody: 0 },
  )
  const client = await RawClient.connect(s.port)
  await client.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc')
  // (Gone once the app has the request: an RST drops bytes the server has not read.)
  await called.promise
  client.socket.resetAndDestroy()
  t.ok(await eventually(() => failed), 'the app failed')
  await sleep(20)
  const lines = s.outLines()
  t.match(lines, [/^INFO: Client went away during "POST \/upload HTTP\/1\.1": Client disconnected$/])
  t.equal(s.errText(), '', 'no ERROR line, no stack')
  t.same(escaped, [])
})

t.test('what counts as failing because the client left: its abort reason, caused by it, or an abort error', async (t) => {
  const failures: Record<string, (reason: Error) => unknown> = {
    '/reason': (reason) => reason,
    '/cause': (reason) => new Error('the upstream call was cancelled', { cause: reason }),
    '/abort-error': () => new DOMException('This operation was aborted', 'AbortError'),
    '/premature-close': () => Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }),
    '/not-an-error': () => 'a string',
    '/bug': () => new RangeError('a bug of the app'),
  }
  let failed = 0
  let started = 0
  const s = await startServer(t, async (req) => {
    started++
    await new Promise((resolve) => req.signal.addEventListener('abort', resolve))
    failed++
    throw failures[req.path](req.signal.reason as Error)
  })
  for (const [i, path] of Object.keys(failures).entries()) {
    const client = await RawClient.connect(s.port)
    await client.write(get(path))
    await eventually(() => started === i + 1)
    client.socket.resetAndDestroy()
  }
  t.ok(await eventually(() => failed === 6))
  await sleep(20)
  t.same(s.outLines(), [
    'INFO: Client went away during "GET /reason HTTP/1.1": Client disconnected',
    'INFO: Client went away during "GET /cause HTTP/1.1": the upstream call was cancelled',
    'INFO: Client went away during "GET /abort-error HTTP/1.1": This operation was aborted',
    'INFO: Client went away during "GET /premature-close HTTP/1.1": Premature close',
  ])
  t.match(s.errText(), /^ERROR: Exception in app for "GET \/not-an-error HTTP\/1\.1"\na string\nERROR: Exception in app for "GET \/bug HTTP\/1\.1"\nRangeError: a bug of the app\n/)
})

t.test('the CLI logs a client that leaves mid-body as one INFO line, and no ERROR', async (t) => {
  const { cli, port } = await start(t, [...LOCAL, '--buffer-body', '0'])
  const client = await RawClient.connect(port)
  // Expect: 100-continue, so that the 100 says the app is reading the body: the client leaves
  // then (an RST drops bytes the server has not read).
  await client.write('POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\nabc')
  await client.until(() => client.data.includes('HTTP/1.1 100 Continue\r\n\r\n'), undefined, 'the 100')
  client.socket.resetAndDestroy()
  await cli.waitFor(/^INFO: Client went away during "POST \/upload HTTP\/1\.1": Client disconnected$/m)
  t.equal(await cli.stop(), 0)
  t.equal(cli.stderr, '', 'no ERROR line')
})

t.test('an app that throws its own error after its client left is still an ERROR', async (t) => {
  let thrown = false
  const called = deferred()
  const s = await startServer(t, async (req) => {
    const aborted = new Promise((resolve) => req.signal.addEventListener('abort', resolve))
    called.resolve()
    await aborted
    thrown = true
    throw new TypeError('a bug of the app')
  })
  const client = await RawClient.connect(s.port)
  await client.write(get('/wait'))
  await called.promise
  client.socket.resetAndDestroy()
  t.ok(await eventually(() => thrown))
  await sleep(20)
  t.match(s.errText(), /^ERROR: Exception in app for "GET \/wait HTTP\/1\.1"\nTypeError: a bug of the app\n/)
})

// --- Load shedding ------------------------------------------------------------------------------

t.test('maxQueue: with every slot busy and the queue at its bound, new requests get 503 and Retry-After', async (t) => {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  const called = deferred()
  const s = await startServer(
    t,
    async (req, res) => {
      called.resolve()
      if (req.path !== '/quick') await released
      res.end(req.path)
    },
    { threads: 1, maxQueue: 1 },
  )
  // (The dispatcher's queue, read for the test.)
  const dispatcher = (s.server as unknown as { settings: { dispatcher: { waiting: number } } }).settings.dispatcher
  const running = await RawClient.connect(s.port)
  await running.write(get('/running'))
  await called.promise
  const waiting = await RawClient.connect(s.port)
  await waiting.write(get('/waiting'))
  t.ok(await eventually(() => dispatcher.waiting === 1), 'one running, one waiting')
  const shed = await Promise.all([1, 2, 3].map(() => rawRequest(s.port, get('/quick'), { responses: 1 })))
  for (const r of shed) {
    t.equal(r.responses[0]?.statusCode, 503)
    t.equal(r.responses[0]?.headers['retry-after'], '1')
    t.equal(r.responses[0]?.headers.connection, undefined, 'a request read whole: the connection stays open')
    t.equal(r.responses[0]?.body.toString(), 'The server is busy: try again later\n')
    t.notOk(r.closed)
    r.client.destroy()
  }
  const warnings = s.errText().split('\n').filter((line) => line.startsWith('WARN: '))
  t.same(warnings, ['WARN: Overloaded: 1 app calls running and 1 waiting; new requests get 503 (1 since the last warning)'], 'one WARN line a second')
  release()
  t.same((await running.waitForResponses(1)).map((r) => r.body.toString()), ['/running'])
  t.same((await waiting.waitForResponses(1)).map((r) => r.body.toString()), ['/waiting'])
  t.equal((await rawRequest(s.port, get('/quick'), { responses: 1 })).responses[0].statusCode, 200, 'served again once there is room')
  running.destroy()
  waiting.destroy()
})

t.test('maxQueue: a request refused while its body arrives gets its 503 and the connection closes', async (t) => {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  const called = deferred()
  const s = await startServer(
    t,
    async (req, res) => {
      called.resolve()
      await released
      res.end(req.path)
    },
    { threads: 1, maxQueue: 0, bufferBody: 0 },
  )
  const held = await RawClient.connect(s.port)
  await held.write(get('/held'))
  await called.promise
  const client = await RawClient.connect(s.port)
  await client.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nfirst part')
  await client.until(() => client.responses().length === 1)
  t.same(client.responses().map((r) => [r.statusCode, r.headers.connection]), [[503, 'close']])
  await client.write('more of the body').catch(() => {})
  client.end()
  await client.waitForClose()
  release()
  t.same((await held.waitForResponses(1)).map((r) => r.body.toString()), ['/held'])
  held.destroy()
})

t.test('a client that closes after our side ended is let go', async (t) => {
  const s = await startServer(t, (_req, res) => {
    res.setHeader('Connection', 'close')
    res.end('bye')
  })
  const client = await RawClient.connect(s.port)
  await client.write(get('/'))
  await client.waitForEnd()
  t.equal(s.server.connectionCount, 1, 'lingering for the client to close')
  client.end()
  t.ok(await eventually(() => s.server.connectionCount === 0, 1000), 'closed once the client closed')
  t.same(client.responses().map((r) => r.body.toString()), ['bye'])
})

t.test('--max-queue 0 on the command line: a request that would wait gets 503', async (t) => {
  const { cli, port } = await start(t, [...LOCAL, '--threads', '1', '--max-queue', '0', 'test/apps/slow.mjs'])
  const held = await RawClient.connect(port)
  await held.write(get('/held'))
  await cli.waitFor(/^slow: waiting$/m)
  const shed = await rawRequest(port, get('/next'), { responses: 1 })
  t.equal(shed.responses[0]?.statusCode, 503)
  shed.client.destroy()
  await cli.stop()
  t.match(cli.stdout, /"GET \/next HTTP\/1\.1" 503 Service Unavailable/)
  t.match(cli.stderr, /^WARN: Overloaded: 1 app calls running and 0 waiting; new requests get 503 \(1 since the last warning\)$/m)
  held.destroy()
})
