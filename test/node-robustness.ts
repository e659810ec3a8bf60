// Robustness of the node interface over real sockets: clients that vanish mid-body,
// mid-response, while their app waits and during an upgrade are seen by node apps as node:http
// shows them ('aborted', 'close'), nothing escapes to the process, and file descriptors and heap
// come back near their baseline after thousands of connections and a thousand WebSockets.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import { pipeline, Writable } from 'node:stream'
import express from 'express'
import multer from 'multer'
import WebSocket, { WebSocketServer } from 'ws'
import { RawClient, get, probe } from './helpers/raw.js'
import { churn } from './helpers/churn.js'
import { gc, mib, openFds, settledHeap } from './helpers/memory.js'
import { deferred, eventually, httpRequest, sleep, startServer, watchEscapes, type TestServer } from './helpers/server.js'
import type { ServerOptions } from '../lib/server.js'

const KiB = 1024
const MiB = 1024 * KiB


type NodeHandler = (req: http.IncomingMessage, res: http.ServerResponse) => unknown

function startNode(t: Tap, app: NodeHandler | object, options: ServerOptions = {}): Promise<TestServer> {
  return startServer(t, app as never, { interface: 'auto', ...options })
}

type Tap = Parameters<typeof startServer>[0]

/** What a node app saw of its request and response, in order. */
class Seen {
  readonly events: string[] = []
  readonly closed: Promise<void>
  private done!: () => void

  constructor(req: http.IncomingMessage, res: http.ServerResponse) {
    this.closed = new Promise((resolve) => (this.done = resolve))
    let left = 2
    const closed = (): void => {
      if (--left === 0) this.done()
    }
    req.on('aborted', () => this.events.push('req aborted'))
    req.on('error', (error: Error & { code?: string }) => this.events.push(`req error ${error.code}`))
    req.on('close', () => {
      this.events.push('req close')
      closed()
    })
    res.on('finish', () => this.events.push('res finish'))
    res.on('close', () => {
      this.events.push(`res close${res.writableFinished ? ' finished' : ''}`)
      closed()
    })
  }

  has(event: string): boolean {
    return this.events.includes(event)
  }

  /** True once both req and res have closed, false if they have not within `ms`. */
  async settled(ms = 5000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)))
    const closed = await Promise.race([this.closed.then(() => true), late])
    clearTimeout(timer)
    return closed
  }
}

/** Resolves with the next value `register` hands over. */
function next<T>(register: (resolve: (value: T) => void) => void): Promise<T> {
  return new Promise(register)
}

// --- Clients that vanish mid-body ---------------------------------------------------------------

t.test('a client vanishing mid-body: req aborted, error and close, res close, nothing escapes', async (t) => {
  const escaped = watchEscapes(t)
  let seen!: (value: { seen: Seen; received: () => number }) => void
  const app: NodeHandler = (req, res) => {
    const record = new Seen(req, res)
    let received = 0
    req.on('data', (chunk: Buffer) => (received += chunk.length))
    req.on('end', () => res.end(`got ${received}`))
    seen({ seen: record, received: () => received })
  }
  const s = await startNode(t, app)
  const called = next<{ seen: Seen; received: () => number }>((resolve) => (seen = resolve))
  const client = await RawClient.connect(s.port)
  await client.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${4 * MiB}\r\n\r\n`)
  await client.write(randomBytes(256 * KiB))
  const { seen: record, received } = await called
  t.ok(await eventually(() => received() > 0), 'the app was reading')
  client.destroy()
  t.ok(await record.settled(), `req and res closed: ${record.events.join(', ')}`)
  t.ok(record.has('req aborted'))
  t.ok(record.has('req error ECONNRESET'))
  t.ok(record.has('req close'))
  t.ok(record.has('res close'), 'res close, unfinished')
  t.notOk(record.has('res finish'))
  t.ok(await eventually(() => s.server.connectionCount === 0))
  t.ok(await probe(s.port), 'still serving')
  t.same(escaped, [])
})

t.test('a client vanishing mid-body under stream.pipeline: the pipeline fails, nothing escapes', async (t) => {
  const escaped = watchEscapes(t)
  let failed!: (error: Error & { code?: string }) => void
  const outcome = next<Error & { code?: string }>((resolve) => (failed = resolve))
  const s = await startNode(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    const sink = new Writable({ write: (chunk, encoding, callback) => setTimeout(callback, 1) })
    pipeline(req, sink, (error) => {
      if (error) failed(error)
      else res.end('stored')
    })
  })
  const client = await RawClient.connect(s.port)
  await client.write(`PUT /file HTTP/1.1\r\nHost: x\r\nContent-Length: ${8 * MiB}\r\n\r\n`)
  await client.write(randomBytes(MiB))
  await sleep(50)
  client.destroy()
  const error = await outcome
  t.match(error.code, /^(ECONNRESET|ERR_STREAM_PREMATURE_CLOSE)$/, `the pipeline failed: ${error.code}`)
  t.ok(await eventually(() => s.server.connectionCount === 0))
  t.same(escaped, [])
})

t.test('Express middleware whose client vanishes mid-body: body-parser and multer fail cleanly', async (t) => {
  const escaped = watchEscapes(t)
  const errors: string[] = []
  const app = express()
  app.set('env', 'test')
  app.post('/json', express.json({ limit: '10mb' }), (req, res) => res.json(req.body))
  app.post('/upload', multer({ storage: multer.memoryStorage() }).single('file'), (req, res) => res.send('stored'))
  app.use((error: Error & { type?: string; code?: string }, req: express.Request, res: express.Response, next: express.NextFunction) => {
    errors.push(error.type ?? error.code ?? error.message)
    next(error)
  })
  const s = await startNode(t, app)

  const json = await RawClient.connect(s.port)
  await json.write(`POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${2 * MiB}\r\n\r\n{"a":"`)
  await json.write('x'.repeat(300 * KiB))
  await sleep(50)
  json.destroy()
  t.ok(await eventually(() => errors.length === 1), 'body-parser reported it')
  t.equal(errors[0], 'request.aborted')

  const boundary = 'pegasusboundary'
  const upload = await RawClient.connect(s.port)
  await upload.write(
    `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
      `Content-Length: ${10 * MiB}\r\n\r\n--${boundary}\r\n` +
      'Content-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n',
  )
  await upload.write(randomBytes(MiB))
  await sleep(50)
  upload.destroy()
  t.ok(await eventually(() => errors.length === 2), 'multer reported it')
  t.match(errors[1], /aborted|Unexpected end|ECONNRESET/i, errors[1])

  t.ok(await eventually(() => s.server.connectionCount === 0))
  const reply = await httpRequest(`${s.origin}/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ok":1}' })
  t.equal(reply.body.toString(), '{"ok":1}', 'still serving')
  t.same(escaped, [])
})

t.test('a response that ends before the body is read: the rest is dropped, the connection kept', async (t) => {
  const escaped = watchEscapes(t)
  const big = 'r'.repeat(3 * MiB)
  let seen: Seen | null = null
  const s = await startNode(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url === '/early') {
      seen = new Seen(req, res)
      res.end(big)
    } else res.end('next')
  })
  const client = await RawClient.connect(s.port)
  t.teardown(() => client.destroy())
  await client.write(`POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: ${512 * KiB}\r\n\r\n`)
  await client.write(Buffer.alloc(512 * KiB, 'b'))
  await client.write(get('/after'))
  const responses = await client.waitForResponses(2)
  t.equal(responses.length, 2, 'two responses')
  const [early, after] = responses
  t.equal(early?.body.length, big.length, 'the whole response, not cut by the unread body')
  t.equal(after?.body.toString(), 'next', 'and the connection goes on')
  t.notOk(client.closed)
  t.ok(await (seen as unknown as Seen).settled())
  t.same((seen as unknown as Seen).events, ['res finish', 'res close finished', 'req close'], 'no aborted: the body was dropped, not cut')
  t.same(escaped, [])
})

// --- Clients that vanish mid-response, or while their app waits ---------------------------------

t.test('an app that destroys its request mid-body ends the connection, as on node:http', async (t) => {
  const s = await startNode(
    t,
    (req: http.IncomingMessage, _res: http.ServerResponse) => {
      req.once('data', () => req.destroy())
    },
    { bufferBody: 0 },
  )
  const client = await RawClient.connect(s.port)
  await client.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${MiB}\r\n\r\n${'u'.repeat(1000)}`)
  await client.waitForClose()
  t.ok(client.closed, 'the connection is closed')
  t.equal(client.data.length, 0, 'nothing was answered')
})

t.test('a client vanishing with pipelined requests in line: every one is let go', async (t) => {
  const closed: string[] = []
  const called = deferred()
  const s = await startNode(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.on('close', () => closed.push(req.url as string))
    called.resolve()
    setTimeout(() => res.end('late'), 200).unref()
  })
  const client = await RawClient.connect(s.port)
  await client.write(get('/first') + get('/second'))
  // (Gone once the server has the requests: an RST drops bytes it has not read.)
  await called.promise
  client.socket.resetAndDestroy()
  t.ok(await eventually(() => closed.length === 2), "both responses emit 'close'")
  t.same(closed.sort(), ['/first', '/second'])
  t.ok(await eventually(() => s.server.connectionCount === 0))
})

t.test("req.setTimeout during a stalled upload: the request's 'timeout' fires", async (t) => {
  let timedOut = false
  const s = await startNode(
    t,
    (req: http.IncomingMessage, res: http.ServerResponse) => {
      req.setTimeout(200, () => {
        timedOut = true
        res.statusCode = 408
        res.end('too slow')
      })
      req.resume()
    },
    { bufferBody: 0 },
  )
  const client = await RawClient.connect(s.port)
  await client.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc')
  const [res] = await client.waitForResponses(1)
  t.ok(timedOut)
  t.equal(res.statusCode, 408)
  client.destroy()
})

t.test('a pipelined request whose app throws before its turn gets its 500 in order', async (t) => {
  const s = await startNode(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url === '/throws') throw new Error('a bug of the app')
    setTimeout(() => res.end('first'), 100)
  })
  const client = await RawClient.connect(s.port)
  await client.write(get('/first') + get('/throws'))
  const responses = await client.waitForResponses(2)
  t.same(responses.map((r) => [r.statusCode, r.body.toString()]), [[200, 'first'], [500, 'Internal Server Error\n']])
  t.match(s.errText(), /^ERROR: Exception in app for "GET \/throws HTTP\/1\.1"\nError: a bug of the app/)
  client.destroy()
})

t.test('Expect: 100-continue answered without reading a large body: the connection closes after it', async (t) => {
  const s = await startNode(t, (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.statusCode = 413
    res.end('too large for me')
  })
  const client = await RawClient.connect(s.port)
  await client.write(`POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${MiB}\r\n\r\n`)
  await client.waitForClose()
  t.same(client.responses().map((r) => [r.statusCode, r.body.toString()]), [[413, 'too large for me']])
  t.notMatch(client.data.toString(), /100 Continue/, 'no 100: the app did not read the body')
})

t.test('a client vanishing mid-response: a streaming app sees close and stops', async (t) => {
  const escaped = watchEscapes(t)
  let called!: (value: { seen: Seen; writesAfterClose: () => number }) => void
  const s = await startNode(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    const seen = new Seen(req, res)
    const piece = Buffer.alloc(64 * KiB, 's')
    let stopped = false
    let afterClose = 0
    res.on('close', () => (stopped = true))
    const pump = (): void => {
      while (!stopped) {
        if (res.destroyed) afterClose++
        if (!res.write(piece)) {
          res.once('drain', pump)
          return
        }
      }
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' })
    pump()
    called({ seen, writesAfterClose: () => afterClose })
  })
  const gotCall = next<{ seen: Seen; writesAfterClose: () => number }>((resolve) => (called = resolve))
  const client = await RawClient.connect(s.port)
  await client.write(get('/stream'))
  const { seen, writesAfterClose } = await gotCall
  await client.until(() => client.data.length > 2 * MiB, 20_000, 'two MiB of the stream')
  client.destroy()
  t.ok(await seen.settled(), `req and res closed: ${seen.events.join(', ')}`)
  t.ok(seen.has('res close'), 'res close')
  t.notOk(seen.has('res finish'))
  t.ok(seen.has('req aborted'), 'req aborted, as node:http says it (its response unfinished)')
  t.ok(seen.has('req close'))
  t.equal(writesAfterClose(), 0, 'the app stopped at close')
  t.ok(await eventually(() => s.server.connectionCount === 0))
  t.equal(s.errText(), '')
  t.same(escaped, [])
})

t.test('an SSE-style app cleans up on req close when its client leaves (reset or FIN)', async (t) => {
  const escaped = watchEscapes(t)
  let timers = 0
  let cleaned = 0
  const s = await startNode(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url === '/events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' })
      res.write(': hello\n\n')
      timers++
      const timer = setInterval(() => res.write(`data: ${Date.now()}\n\n`), 20)
      req.on('close', () => {
        clearInterval(timer)
        cleaned++
      })
    } else if (req.url === '/poll') {
      // A long poll: nothing written until something happens (here: never).
      timers++
      req.on('close', () => {
        cleaned++
        res.end()
      })
    } else res.end('ok')
  })
  const sse = await RawClient.connect(s.port)
  await sse.write(get('/events'))
  await sse.until(() => sse.data.includes('data: '), 20_000, 'an event')
  sse.destroy()
  t.ok(await eventually(() => cleaned === 1), 'the event stream stopped')

  // A client that ends its side (FIN) while a long poll waits: node:http aborts the request.
  const poll = await RawClient.connect(s.port)
  await poll.write(get('/poll'))
  t.ok(await eventually(() => timers === 2))
  poll.end()
  t.ok(await eventually(() => cleaned === 2), 'the long poll heard of it')
  poll.destroy()
  t.ok(await probe(s.port), 'still serving')
  t.ok(await eventually(() => s.server.connectionCount === 0), 'both connections closed')
  t.same(escaped, [])
})

t.test('an app that does not answer in time: 503, its req closes, a late answer goes nowhere', async (t) => {
  const escaped = watchEscapes(t)
  let seen: Seen | null = null
  let late: { wrote: boolean; threw: unknown } | null = null
  const s = await startNode(
    t,
    (req: http.IncomingMessage, res: http.ServerResponse) => {
      seen = new Seen(req, res)
      setTimeout(() => {
        try {
          late = { wrote: res.write('too late'), threw: null }
          res.end()
        } catch (error) {
          late = { wrote: false, threw: error }
        }
      }, 2500)
    },
    // The sweep that enforces it runs once a second: the 503 comes within about 1.3 s.
    { appTimeout: 300 },
  )
  const reply = await httpRequest(`${s.origin}/stuck`)
  t.equal(reply.status, 503)
  t.equal(reply.headers.connection, 'close')
  t.ok(await (seen as unknown as Seen).settled(), 'req and res closed')
  t.ok((seen as unknown as Seen).has('req close'))
  t.ok(await eventually(() => late !== null))
  t.same(late, { wrote: false, threw: null }, 'the late write is refused quietly')
  t.match(s.errText(), /App timed out/)
  t.same(escaped, [])
})

// --- Clients that vanish during an upgrade ------------------------------------------------------

t.test('clients vanishing during an upgrade: before the 101, during an async handler, mid-frame', async (t) => {
  const escaped = watchEscapes(t)
  const wss = new WebSocketServer({ noServer: true })
  t.teardown(() => wss.close())
  const serverCloses: number[] = []
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }))
    ws.on('close', (code: number) => serverCloses.push(code))
    ws.on('error', () => {})
  })
  const s = await startNode(t, (req: http.IncomingMessage, res: http.ServerResponse) => res.end('plain'))
  let handled = 0
  let handlerFailures = 0
  s.server.setUpgradeHandler(((req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    handled++
    if (req.url === '/throw') throw new Error('an upgrade handler that throws')
    const go = (): void => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
    // An asynchronous check first (say, a session lookup): its client may be gone meanwhile.
    if (req.url === '/slow') {
      setTimeout(() => {
        try {
          go()
        } catch {
          handlerFailures++
        }
      }, 100)
    } else go()
  }) as never)
  const fdsBefore = openFds()

  // Gone right after sending the handshake.
  for (let i = 0; i < 20; i++) {
    const socket = net.connect(s.port, '127.0.0.1')
    socket.on('error', () => {})
    socket.write(handshake('/'), () => socket.destroy())
  }
  // Gone while the handler waits.
  const slow = await RawClient.connect(s.port)
  await slow.write(handshake('/slow'))
  slow.destroy()
  // Gone with half a frame sent.
  const framed = await RawClient.connect(s.port)
  await framed.write(handshake('/'))
  await framed.until(() => framed.data.includes('\r\n\r\n'), 20_000, 'the 101')
  await framed.write(Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4, 9, 9, 9]))
  framed.destroy()
  // A handler that throws: Pegasus logs it and closes that socket.
  const thrown = await RawClient.connect(s.port)
  await thrown.write(handshake('/throw'))
  await thrown.waitForClose()
  t.ok(await eventually(() => handled === 23), `the handler ran for each (${handled})`)
  await sleep(200)
  t.equal(handlerFailures, 0, 'handleUpgrade copes with a socket already gone')
  t.match(s.errText(), /Exception in upgrade handler for "GET \/throw HTTP\/1\.1"/)
  t.ok(await eventually(() => wss.clients.size === 0), 'no WebSocket left open')
  t.ok(await eventually(() => openFds() <= fdsBefore + 2), `fds back to ${openFds()} (from ${fdsBefore})`)
  // And the server goes on with HTTP and WebSockets alike.
  t.ok(await probe(s.port))
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/`)
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  const echoed = new Promise<string>((resolve) => ws.once('message', (data: Buffer) => resolve(data.toString())))
  ws.send('after all that')
  t.equal(await echoed, 'after all that')
  ws.terminate()
  t.same(escaped, [])
})

// --- Thousands of connections and WebSockets: nothing left behind -------------------------------


t.test('4,000 connections through the node interface: fds and heap come back near their baseline', async (t) => {
  const escaped = watchEscapes(t)
  const app = express()
  // 'test': Express's final handler does not print the aborted bodies' errors.
  app.set('env', 'test')
  app.use(express.json())
  app.get('/hello', (req, res) => res.send('hello'))
  app.get('/json', (req, res) => res.json({ at: Date.now() }))
  app.post('/json', (req, res) => res.json(req.body))
  app.get('/slow', (req, res) => setTimeout(() => res.send('late'), 20))
  app.get('/stream', (req, res) => {
    let n = 0
    const timer = setInterval(() => {
      res.write('x'.repeat(16 * KiB))
      if (++n === 20) {
        clearInterval(timer)
        res.end()
      }
    }, 5)
    res.on('close', () => clearInterval(timer))
  })
  // Watch a sample of the objects the interface makes: none may outlive its connection.
  const refs: WeakRef<object>[] = []
  let count = 0
  const tracked = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (count++ % 50 === 0) refs.push(new WeakRef(req), new WeakRef(res), new WeakRef(req.socket))
    app(req, res)
  }
  const s = await startNode(t, tracked, { interface: 'node' })
  const BATCH = 200
  const run = (first: number): Promise<void[]> => Promise.all(Array.from({ length: BATCH }, (_, i) => churn(s.port, first + i)))

  // Warm-up: code paths and pools, so that the baseline is what a steady server holds.
  await run(0)
  t.ok(await eventually(() => s.server.connectionCount === 0), 'warm-up connections closed')
  refs.length = 0
  const fdsBefore = openFds()
  const heapBefore = await settledHeap()
  let peak = 0
  const sampler = setInterval(() => (peak = Math.max(peak, s.server.connectionCount)), 5)
  for (let first = BATCH; first <= 4000; first += BATCH) await run(first)
  clearInterval(sampler)
  t.ok(await eventually(() => s.server.connectionCount === 0), `connection count back to 0 (peak ${peak})`)
  t.ok(await eventually(() => openFds() <= fdsBefore + 2), 'fds settle')
  const fdsAfter = openFds()
  await sleep(100)
  const heapAfter = await settledHeap()
  const alive = refs.filter((ref) => ref.deref() !== undefined).length
  t.comment(`4,000 connections; peak ${peak} open; fds ${fdsBefore} -> ${fdsAfter}; heap ${mib(heapBefore)} -> ${mib(heapAfter)}`)
  t.ok(fdsAfter <= fdsBefore + 2, `open fds back to ${fdsAfter} (from ${fdsBefore})`)
  t.ok(heapAfter - heapBefore < 8 * MiB, `heap grew ${mib(heapAfter - heapBefore)}`)
  t.equal(alive, 0, `every sampled req, res and socket was collected (${refs.length} watched)`)
  t.equal(s.errText(), '')
  t.equal((await httpRequest(`${s.origin}/hello`)).body.toString(), 'hello', 'still serving')
  t.same(escaped, [])
})

t.test('1,000 WebSockets through the node interface: fds and heap come back near their baseline', async (t) => {
  const escaped = watchEscapes(t)
  const wss = new WebSocketServer({ noServer: true })
  t.teardown(() => wss.close())
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }))
    ws.on('error', () => {})
  })
  const refs: WeakRef<object>[] = []
  const s = await startNode(t, (req: http.IncomingMessage, res: http.ServerResponse) => res.end('plain'))
  s.server.setUpgradeHandler(((req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (refs.length < 1000) refs.push(new WeakRef(ws), new WeakRef(req))
      wss.emit('connection', ws, req)
    })
  }) as never)
  const open = (): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${s.port}/`)
      ws.once('open', () => resolve(ws)).once('error', reject)
    })
  const round = async (): Promise<void> => {
    const clients: WebSocket[] = []
    for (let batch = 0; batch < 10; batch++) clients.push(...(await Promise.all(Array.from({ length: 100 }, open))))
    await Promise.all(
      clients.map(
        (ws, i) =>
          new Promise<void>((resolve) => {
            ws.once('message', () => resolve())
            ws.send(`hello ${i}`)
          }),
      ),
    )
    // Half leave politely, a quarter vanish (socket destroyed), a quarter are terminated.
    await Promise.all(
      clients.map((ws, i) => {
        const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()))
        if (i % 4 < 2) ws.close(1000, 'bye')
        else if (i % 4 === 2) (ws as unknown as { _socket: net.Socket })._socket.destroy()
        else ws.terminate()
        return closed
      }),
    )
    await eventually(() => wss.clients.size === 0)
  }

  await round() // warm-up
  refs.length = 0
  t.equal(wss.clients.size, 0)
  const fdsBefore = openFds()
  const heapBefore = await settledHeap()
  await round()
  t.equal(wss.clients.size, 0, 'every WebSocket closed on the server')
  t.ok(await eventually(() => openFds() <= fdsBefore + 2), 'fds settle')
  const fdsAfter = openFds()
  await sleep(100)
  const heapAfter = await settledHeap()
  const alive = refs.filter((ref) => ref.deref() !== undefined).length
  t.comment(`1,000 WebSockets; fds ${fdsBefore} -> ${fdsAfter}; heap ${mib(heapBefore)} -> ${mib(heapAfter)}`)
  t.ok(fdsAfter <= fdsBefore + 2, `open fds back to ${fdsAfter} (from ${fdsBefore})`)
  t.ok(heapAfter - heapBefore < 8 * MiB, `heap grew ${mib(heapAfter - heapBefore)}`)
  t.equal(alive, 0, `every server WebSocket and its request was collected (${refs.length} watched)`)
  t.equal(s.server.connectionCount, 0)
  t.same(escaped, [])
})

/** A WebSocket handshake request for `path`. */
function handshake(path: string): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`
  )
}
