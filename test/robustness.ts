// Robustness over real sockets: clients that vanish at every stage of an exchange, responses and
// uploads faster than the other side takes them, connections opened and dropped by the thousand,
// and a graceful shutdown under load (in process and through the CLI). Each test checks that
// nothing escapes to the process, that connections and their objects are released, and that the
// bytes the server holds stay bounded.
import t from 'tap'
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { realpathSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { RawClient, get, parseResponses, rawRequest, type RawResponse } from './helpers/raw.js'
import { gc, mib, openFds, settledHeap } from './helpers/memory.js'
import { eventually, httpRequest, sleep, startServer, watchEscapes, type TestServer } from './helpers/server.js'
import type { Connection } from '../lib/connection.js'
import type { App, Request, Response, Server } from '../lib/server.js'

const KiB = 1024
const MiB = 1024 * KiB


// --- Helpers ------------------------------------------------------------------------------------

/** The server's open connections (a private field: the tests look, never touch). */
function connectionsOf(server: Server): Set<Connection> {
  return (server as unknown as { connections: Set<Connection> }).connections
}

/** The server side of the only open connection. */
function onlySocket(server: Server): net.Socket {
  const connections = [...connectionsOf(server)]
  if (connections.length !== 1) throw new Error(`expected one connection, found ${connections.length}`)
  return connections[0].socket
}

/** Weak references to objects that must become garbage once their connection is gone. */
class Tracked {
  private readonly refs: { name: string; ref: WeakRef<object> }[] = []

  add(name: string, value: object): void {
    this.refs.push({ name, ref: new WeakRef(value) })
  }

  /** Every open connection of `server` and its socket. (No caller keeps them in a variable.) */
  addConnections(server: Server): void {
    for (const conn of connectionsOf(server)) {
      this.add('Connection', conn)
      this.add('server socket', conn.socket)
    }
  }

  get names(): string[] {
    return this.refs.map(({ name }) => name)
  }

  /** Collects garbage for a few rounds; returns the names of the objects still alive. */
  async survivors(): Promise<string[]> {
    for (let round = 0; round < 10; round++) {
      // A macrotask first: a WeakRef keeps its target alive until the end of the job that made
      // or dereferenced it, and the connection's last callbacks may still be queued.
      await sleep(10)
      gc()
      if (this.refs.every(({ ref }) => ref.deref() === undefined)) return []
    }
    return this.refs.filter(({ ref }) => ref.deref() !== undefined).map(({ name }) => name)
  }
}

/** Resolves at the next 'drain' of `res` or when its client goes away, whichever comes first. */
function drainOrAbort(req: Request, res: Response): Promise<void> {
  if (req.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      req.signal.removeEventListener('abort', done)
      resolve()
    }
    res.on('drain', done)
    req.signal.addEventListener('abort', done)
  })
}

/** Resolves when the client of `req` goes away. */
function aborted(req: Request): Promise<void> {
  if (req.aborted) return Promise.resolve()
  return new Promise((resolve) => req.signal.addEventListener('abort', () => resolve(), { once: true }))
}

/** Polls `value` until it has not changed for `quiet` ms; returns its last value. */
async function settle(value: () => number, quiet = 300, timeout = 10000): Promise<number> {
  const deadline = Date.now() + timeout
  let last = value()
  let since = Date.now()
  while (Date.now() < deadline) {
    await sleep(20)
    const now = value()
    if (now !== last) {
      last = now
      since = Date.now()
    } else if (Date.now() - since >= quiet) return now
  }
  throw new Error(`value still changing after ${timeout} ms (last ${last})`)
}

/** Races `promise` against a deadline; the deadline wins with 'timeout'. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, ms, 'timeout')))
  try {
    return await Promise.race([promise, deadline])
  } finally {
    // A pending deadline would keep the test process alive for its whole length.
    clearTimeout(timer)
  }
}

// --- 1. Clients that disconnect at every stage of an exchange -----------------------------------

/** What the app saw, as plain values: the probe must not keep the request alive. */
class Probe {
  called = false
  /** The app's listener on req.signal ran. */
  abortEvent = false
  /** req.aborted when the app's work ended. */
  aborted = false
  /** The app's work reached the point where the client should hang up. */
  ready = false
  /** What the app's work threw, or what threw when it wrote to a gone client ('' for nothing). */
  error = ''
  readonly done: Promise<void>
  finish!: () => void

  constructor() {
    this.done = new Promise((resolve) => (this.finish = resolve))
  }
}

/**
 * An app that tracks its Request and Response for collection, listens on req.signal and runs
 * `work`. GET /after is the next client, answered plainly.
 */
function observed(probe: Probe, tracked: Tracked, work: (req: Request, res: Response) => Promise<void>): App {
  return async (req, res) => {
    if (req.path === '/after') return void res.end('after')
    probe.called = true
    tracked.add('Request', req)
    tracked.add('Response', res)
    req.signal.addEventListener('abort', () => (probe.abortEvent = true), { once: true })
    try {
      await work(req, res)
    } catch (error) {
      // Reading the body of a gone client rejects: that is the app's signal, not a failure.
      if (!req.aborted) probe.error = String(error)
    }
    probe.aborted = req.aborted
    probe.finish()
  }
}

/** Waits for the app's side (RawClient.until only looks again when the client's socket stirs). */
async function untilReady(probe: Probe, what: string): Promise<void> {
  if (!(await eventually(() => probe.ready))) throw new Error(`Timed out waiting for ${what}`)
}

type Hangup = 'closes' | 'resets'

interface Stage {
  name: string
  /** The app never runs for this stage (the client leaves before a whole head). */
  noApp?: boolean
  work(probe: Probe): (req: Request, res: Response) => Promise<void>
  /** Sends the client's bytes; resolves when the moment to hang up has come. */
  drive(client: RawClient, probe: Probe): Promise<void>
}

const stages: Stage[] = [
  {
    name: 'mid-head',
    noApp: true,
    work: () => async () => {},
    async drive(client) {
      await client.write('GET /half HTTP/1.1\r\nHost: x\r\nX-Half: ')
      // Long enough for the server to have read (and started timing) the partial head.
      await sleep(30)
    },
  },
  {
    // A body within bufferBody is read whole before the app is called: a client that leaves
    // in the middle of it never costs an app call.
    name: 'mid-body (small enough to be buffered)',
    noApp: true,
    work: () => async () => {},
    async drive(client) {
      await client.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${8 * KiB}\r\n\r\n`)
      await client.write(Buffer.alloc(KiB, 'b'))
      await sleep(30)
    },
  },
  {
    name: 'mid-body (Content-Length, read with for await)',
    work: (probe) => async (req) => {
      for await (const _ of req) probe.ready = true
    },
    async drive(client, probe) {
      await client.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${MiB}\r\n\r\n`)
      await client.write(Buffer.alloc(100 * KiB, 'b'))
      await untilReady(probe, 'the app reading the body')
    },
  },
  {
    name: 'mid-body (chunked, read with body())',
    work: (probe) => async (req) => {
      probe.ready = true
      await req.body()
    },
    async drive(client, probe) {
      await client.write('POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
      // Whole chunks past bufferBody (so the app starts), then half of the next one.
      await client.write(`${`8000\r\n${'c'.repeat(0x8000)}\r\n`.repeat(3)}4000\r\n${'c'.repeat(0x2000)}`)
      await untilReady(probe, 'the app waiting for the body')
      await sleep(20)
    },
  },
  {
    name: 'mid-response (app streaming with write/drain)',
    work: (probe) => async (req, res) => {
      const chunk = Buffer.alloc(64 * KiB, 'r')
      let written = 0
      // The cap only stops a runaway loop should the disconnect go unnoticed (that would fail).
      while (!req.aborted && written < 256 * MiB) {
        written += chunk.length
        if (!res.write(chunk)) {
          probe.ready = true
          await drainOrAbort(req, res)
        }
      }
      res.end()
    },
    async drive(client, probe) {
      await client.write(get('/stream'))
      await client.until(() => client.data.length > 256 * KiB, 20_000, 'part of the response')
      // Stop reading: the app ends up waiting for 'drain' when the client leaves.
      client.socket.pause()
      await untilReady(probe, 'the app waiting for drain')
      await sleep(50)
    },
  },
  {
    name: 'while the app awaits',
    work: (probe) => async (req, res) => {
      probe.ready = true
      // Never settles unless the client goes away.
      await aborted(req)
      // Writing to a response whose client is gone is harmless: no throw, nothing sent.
      try {
        res.write('too late')
        res.end('too late')
      } catch (error) {
        probe.error = `write after the disconnect threw: ${String(error)}`
      }
    },
    async drive(client, probe) {
      await client.write(get('/wait'))
      await untilReady(probe, 'the app to be called')
    },
  },
]

for (const stage of stages) {
  for (const how of ['closes', 'resets'] as Hangup[]) {
    // A FIN after a complete request is a half-close for Pegasus: the server cannot tell a
    // client that left from one that waits for its answer until it writes (the next test).
    if (stage.name === 'while the app awaits' && how === 'closes') continue
    t.test(`a client that ${how === 'closes' ? 'closes (FIN)' : 'resets (RST)'} ${stage.name}`, async (t) => {
      const escaped = watchEscapes(t)
      const probe = new Probe()
      const tracked = new Tracked()
      const s = await startServer(t, observed(probe, tracked, stage.work(probe)))
      const client = await RawClient.connect(s.port)
      t.ok(await eventually(() => s.server.connectionCount === 1), 'the server holds the connection')
      tracked.addConnections(s.server)
      await stage.drive(client, probe)

      if (how === 'resets') client.socket.resetAndDestroy()
      else client.destroy()

      if (stage.noApp === true) {
        t.notOk(probe.called, 'the app was never called')
      } else {
        t.not(await within(probe.done, 5000), 'timeout', 'the app finished')
        t.ok(probe.abortEvent, "the app saw req.signal's abort event")
        t.ok(probe.aborted, 'req.aborted is true')
        t.equal(probe.error, '', 'nothing the app did threw unexpectedly')
      }
      t.ok(await eventually(() => s.server.connectionCount === 0), 'connection count back to 0')

      const after = await rawRequest(s.port, get('/after', 'Connection: close\r\n'))
      t.equal(after.responses[0]?.body.toString(), 'after', 'the server answers a new client')
      t.ok(await eventually(() => s.server.connectionCount === 0), 'and closes that one too')

      t.same(await tracked.survivors(), [], `collected: ${tracked.names.join(', ')}`)
      t.equal(s.errText(), '', 'nothing logged: a client leaving is not a server error')
      t.same(escaped, [], 'no uncaught exception or unhandled rejection')
    })
  }
}

// A FIN after a whole request may be a half-close (the client may still read the answer) or a
// full close: the app hears of it through req.signal either way (as in Go's net/http), and once
// it answers, a client that is really gone is found out and its connection released.
t.test('a client that closes (FIN) while the app awaits', async (t) => {
  const escaped = watchEscapes(t)
  const probe = new Probe()
  const tracked = new Tracked()
  const stage = stages.find((s) => s.name === 'while the app awaits') as Stage
  const s = await startServer(t, observed(probe, tracked, stage.work(probe)))
  const client = await RawClient.connect(s.port)
  await stage.drive(client, probe)
  client.destroy()
  t.ok(await eventually(() => probe.abortEvent), "the app sees req.signal's abort event")
  t.ok(await eventually(() => s.server.connectionCount === 0), 'connection count back to 0')
  t.not(await within(probe.done, 3000), 'timeout', 'the app finished')
  t.same(escaped, [])
})

// --- 2. A response written faster than the client reads -----------------------------------------

/** A deterministic stream of distinct 64 KiB chunks (a window sliding over random bytes). */
class Pattern {
  static readonly CHUNK = 64 * KiB
  private readonly bytes = randomBytes(MiB + Pattern.CHUNK)

  chunk(i: number): Buffer {
    const offset = (i * 4099) % MiB
    return this.bytes.subarray(offset, offset + Pattern.CHUNK)
  }
}

t.test('a response faster than its client: write() says wait, buffers stay bounded, every byte arrives', async (t) => {
  const escaped = watchEscapes(t)
  const TOTAL = 200 * MiB
  const pattern = new Pattern()
  const app = {
    written: 0,
    falses: 0,
    waiting: false,
    /** Most bytes the server's socket held in user space after a write. */
    maxWritable: 0,
    sha256: '',
  }
  let server!: Server
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/small') return void res.end('small')
    const socket = onlySocket(server)
    const hash = createHash('sha256')
    res.setHeader('Content-Length', TOTAL)
    for (let i = 0; app.written < TOTAL && !req.aborted; i++) {
      const chunk = pattern.chunk(i)
      hash.update(chunk)
      app.written += chunk.length
      const ok = res.write(chunk)
      app.maxWritable = Math.max(app.maxWritable, socket.writableLength)
      if (!ok) {
        app.falses++
        app.waiting = true
        await drainOrAbort(req, res)
        app.waiting = false
      }
    }
    app.sha256 = hash.digest('hex')
    res.end()
  })
  server = s.server
  gc()
  const before = process.memoryUsage()

  // A client that sends its request and does not read: paused before any byte arrives.
  const socket = net.connect({ port: s.port, host: '127.0.0.1' })
  socket.pause()
  const received: Buffer[] = []
  let receivedBytes = 0
  let wake = (): void => {}
  socket.on('data', (chunk: Buffer) => {
    received.push(chunk)
    receivedBytes += chunk.length
    wake()
  })
  t.teardown(() => socket.destroy())
  socket.write(get('/big'))

  // Wait until the app is blocked: waiting for 'drain', its byte count still.
  await settle(() => app.written)
  t.ok(app.waiting, 'the app waits for drain')
  t.ok(app.falses >= 1, `write() returned false (${app.falses} times)`)
  const blocked = app.written
  const serverWritable = onlySocket(s.server).writableLength
  gc()
  const during = process.memoryUsage()
  const grown = during.arrayBuffers - before.arrayBuffers
  t.comment(`blocked after ${mib(blocked)} of ${mib(TOTAL)}; server socket holds ${mib(serverWritable)}; ` +
    `client buffered ${mib(socket.readableLength)}; arrayBuffers +${mib(grown)}, heap +${mib(during.heapUsed - before.heapUsed)}`)
  // What the app wrote is what the socket holds plus what the kernel buffers on both sides
  // (a few MiB on loopback): nowhere near the 200 MiB it wants to send.
  t.ok(blocked < 32 * MiB, `the app was held back after ${mib(blocked)}`)
  t.ok(serverWritable < MiB, `the server socket buffers ${mib(serverWritable)}`)
  t.ok(grown < 16 * MiB, `process arrayBuffers grew ${mib(grown)}`)
  t.ok(socket.readableLength < MiB, 'the paused client holds little (the kernel holds the rest)')

  // The client reads again: the whole body arrives, byte for byte.
  const hash = createHash('sha256')
  let head: string | null = null
  let body = 0
  let extra = Buffer.alloc(0)
  const consume = (): void => {
    while (received.length > 0) {
      let chunk = received.shift() as Buffer
      if (head === null) {
        extra = Buffer.concat([extra, chunk])
        const end = extra.indexOf('\r\n\r\n')
        if (end === -1) continue
        head = extra.toString('latin1', 0, end)
        chunk = extra.subarray(end + 4)
        extra = Buffer.alloc(0)
      }
      const take = Math.min(chunk.length, TOTAL - body)
      if (take > 0) {
        hash.update(chunk.subarray(0, take))
        body += take
      }
      if (take < chunk.length) extra = Buffer.concat([extra, chunk.subarray(take)])
    }
  }
  const complete = new Promise<void>((resolve) => {
    wake = () => {
      consume()
      if (body === TOTAL) resolve()
    }
  })
  socket.resume()
  t.not(await within(complete, 30000), 'timeout', 'the whole body arrived')
  t.match(head, /^HTTP\/1\.1 200 OK\r\n[^]*Content-Length: 209715200/, 'the head')
  t.equal(body, TOTAL, `${mib(body)} received`)
  t.equal(hash.digest('hex'), app.sha256, 'the bytes are the ones written (sha256)')
  t.ok(app.maxWritable < MiB, `the server socket never held more than ${mib(app.maxWritable)}`)
  t.comment(`server socket high mark ${mib(app.maxWritable)}; client received ${mib(receivedBytes)}`)

  // The connection is still good for the next request.
  socket.write(get('/small'))
  await eventually(() => {
    consume()
    return parseResponses(extra).responses.length === 1
  }, 5000)
  t.equal(parseResponses(extra).responses[0]?.body.toString(), 'small', 'keep-alive goes on')
  socket.destroy()
  t.ok(await eventually(() => s.server.connectionCount === 0), 'connection count back to 0')
  t.equal(s.errText(), '')
  t.same(escaped, [])
})

// --- 3. An upload faster than its app reads -----------------------------------------------------

t.test('an upload faster than its app: the server stops reading, holds little, and the body arrives whole', async (t) => {
  const escaped = watchEscapes(t)
  const TOTAL = 50 * MiB
  const PIECE = MiB
  const random = randomBytes(2 * MiB)
  const piece = (i: number): Buffer => random.subarray((i * 7919) % MiB, ((i * 7919) % MiB) + PIECE)
  const app = { consumed: 0, chunks: 0 }
  let releaseApp!: () => void
  const stalled = new Promise<void>((resolve) => (releaseApp = resolve))
  const s = await startServer(t, async (req, res) => {
    const hash = createHash('sha256')
    for await (const chunk of req) {
      hash.update(chunk)
      app.consumed += chunk.length
      // A slow reader: stalled after its first piece until the test has measured, then a
      // pause every few pieces.
      if (++app.chunks === 1) await stalled
      else if (app.chunks % 4 === 0) await sleep(1)
    }
    res.end(JSON.stringify({ length: app.consumed, sha256: hash.digest('hex') }))
  })

  const head = `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${TOTAL}\r\n\r\n`
  const client = await RawClient.connect(s.port)
  const socket = client.socket
  const sent = createHash('sha256')
  const pump = { falses: 0, waiting: false, done: false }
  void (async () => {
    socket.write(head)
    // As fast as the socket takes it, honouring its backpressure.
    for (let i = 0; i < TOTAL / PIECE; i++) {
      sent.update(piece(i))
      if (!socket.write(piece(i))) {
        pump.falses++
        pump.waiting = true
        await new Promise((resolve) => socket.once('drain', resolve))
        pump.waiting = false
      }
    }
    pump.done = true
  })()

  // The server stops reading: its byte count settles while the client is stuck on write().
  await eventually(() => app.chunks >= 1)
  const serverSocket = onlySocket(s.server)
  const read = await settle(() => serverSocket.bytesRead)
  const held = read - Buffer.byteLength(head) - app.consumed
  const accepted = socket.bytesWritten - socket.writableLength
  t.comment(`the server read ${mib(read)} and holds ${mib(held)} unread by the app ` +
    `(socket buffer ${mib(serverSocket.readableLength)}); the client's kernel took ${mib(accepted)}, ` +
    `its socket queues ${mib(socket.writableLength)}; client write() false ${pump.falses} times`)
  t.ok(pump.waiting && !pump.done, 'the client is blocked, waiting for drain')
  t.ok(socket.writableLength > 0, "the client's write buffer backs up")
  t.ok(read < TOTAL / 2, `the server stopped reading after ${mib(read)} of ${mib(TOTAL)}`)
  t.ok(held < MiB, `the server holds ${mib(held)} the app has not read`)

  releaseApp()
  const responses = await client.waitForResponses(1, { timeout: 30000 })
  const answer = JSON.parse(responses[0]?.body.toString() ?? 'null') as { length: number; sha256: string }
  t.ok(pump.done, 'the client sent everything')
  t.same(answer, { length: TOTAL, sha256: sent.digest('hex') }, 'the app received the body whole (length and sha256)')
  client.destroy()
  t.ok(await eventually(() => s.server.connectionCount === 0), 'connection count back to 0')
  t.equal(s.errText(), '')
  t.same(escaped, [])
})

// --- 4. Thousands of connections opened and dropped ---------------------------------------------

/** One short-lived connection; `kind` picks how it ends. Resolves when it is closed. */
function churn(port: number, kind: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    // Resets from either side are part of the exercise.
    socket.on('error', () => {})
    socket.on('close', () => resolve())
    socket.on('connect', () => {
      switch (kind % 6) {
        case 0: // opens and drops
          socket.destroy()
          break
        case 1: // half a head
          socket.write('GET /churn HTTP/1.1\r\nHost: x\r\nX-Ha')
          setImmediate(() => socket.destroy())
          break
        case 2: // a whole request, gone before the answer
          socket.write(get('/churn'))
          socket.destroy()
          break
        case 3: // half a body, then a reset
          socket.write('POST /churn HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n' + 'p'.repeat(1000))
          setImmediate(() => socket.resetAndDestroy())
          break
        case 4: // a request, gone at the first byte of the answer
          socket.once('data', () => socket.destroy())
          socket.write(get('/churn'))
          break
        default: // a request and a half-close: read the answer until the server closes
          socket.resume()
          socket.end(get('/churn'))
      }
    })
  })
}

t.test('thousands of connections opened and dropped: others are served, nothing is left behind', async (t) => {
  const escaped = watchEscapes(t)
  const BATCH = 200
  const BATCHES = 20
  const s = await startServer(t, async (req, res) => {
    if (req.method === 'POST') {
      try {
        await req.body()
      } catch {
        return // the client left mid-body
      }
    } else if (req.path === '/churn') await sleep(0)
    res.end(req.path)
  })
  const runBatch = (first: number): Promise<void[]> =>
    Promise.all(Array.from({ length: BATCH }, (_, j) => churn(s.port, first + j)))

  // A first batch warms up code paths and pools, so the baseline is what a steady server holds.
  await runBatch(0)
  t.ok(await eventually(() => s.server.connectionCount === 0), 'warm-up connections closed')
  const fdsBefore = openFds()
  const heapBefore = await settledHeap()

  // Meanwhile another client keeps getting answers on a keep-alive connection.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  let churning = true
  const probe = { answered: 0, wrong: [] as string[] }
  const probing = (async () => {
    while (churning) {
      const reply = await httpRequest(`${s.origin}/probe`, { agent })
      if (reply.status === 200 && reply.body.toString() === '/probe') probe.answered++
      else probe.wrong.push(`${reply.status} ${reply.body.toString()}`)
      await sleep(5)
    }
  })()

  let peak = 0
  const sampler = setInterval(() => (peak = Math.max(peak, s.server.connectionCount)), 5)
  for (let b = 1; b <= BATCHES; b++) await runBatch(b * BATCH)
  clearInterval(sampler)
  churning = false
  await probing
  agent.destroy()

  t.ok(probe.answered > 0, `the other client got ${probe.answered} answers meanwhile`)
  t.same(probe.wrong, [], 'every one of them right')
  t.ok(await eventually(() => s.server.connectionCount === 0), `connection count back to 0 (peak ${peak})`)
  // Closed sockets leave the fd table on the next turns of the loop.
  await eventually(() => openFds() <= fdsBefore + 2)
  const fdsAfter = openFds()
  const heapAfter = await settledHeap()
  t.comment(`${BATCH * BATCHES} connections; fds ${fdsBefore} -> ${fdsAfter}; heap ${mib(heapBefore)} -> ${mib(heapAfter)}`)
  t.ok(fdsAfter <= fdsBefore + 2, `open fds back to ${fdsAfter} (from ${fdsBefore})`)
  t.ok(heapAfter - heapBefore < 10 * MiB, `heap grew ${mib(heapAfter - heapBefore)}`)
  t.equal(s.errText(), '')
  t.same(escaped, [])
})

// --- 5. Graceful shutdown under load ------------------------------------------------------------

/** One request a load client sent, and what its answer must be. */
interface Sent {
  id: string
  /** The expected body. */
  body: string
}

/**
 * A keep-alive client that sends requests one at a time (`build(n)` gives the pieces of the
 * n-th, sent a moment apart) until the server closes. Resolves with what it sent.
 */
async function keepSending(client: RawClient, build: (n: number) => { pieces: string[]; expect: Sent }): Promise<Sent[]> {
  const sent: Sent[] = []
  for (let n = 0; !client.closed; n++) {
    const { pieces, expect } = build(n)
    // Counted before it goes: a request cut off while being sent is one the server never started.
    sent.push(expect)
    try {
      for (let i = 0; i < pieces.length; i++) {
        if (i > 0) await sleep(2)
        await client.write(pieces[i])
      }
    } catch {
      break // the server closed while we wrote
    }
    await client.waitForResponses(n + 1)
  }
  return sent
}

/** Every byte of a closed connection parsed: throws on malformed framing; `rest` is a cut response. */
function allResponses(client: RawClient): { responses: RawResponse[]; rest: number } {
  const { responses, rest } = parseResponses(client.data, { closed: true })
  return { responses, rest: rest.length }
}

t.test('server.close() under load: started requests complete, the last carry Connection: close, nothing is left', async (t) => {
  const escaped = watchEscapes(t)
  let closing = false
  let releaseHeld!: () => void
  const held = new Promise<void>((resolve) => (releaseHeld = resolve))
  const started = new Set<string>()
  const s: TestServer = await startServer(
    t,
    async (req, res) => {
      const id = req.header('x-id') ?? '?'
      started.add(id)
      res.setHeader('X-Id', id)
      if (req.path === '/hold') await held
      const body = req.method === 'POST' ? await req.body() : null
      await sleep(Math.random() * 10)
      // Whether the head is built after close() was called: then it must say Connection: close.
      res.setHeader('X-Late', closing ? '1' : '0')
      if (req.path === '/stream') {
        for (let i = 0; i < 3; i++) {
          res.write(`${id}:${i};`)
          await sleep(Math.random() * 5)
        }
        res.end()
      } else res.end(body ?? `plain ${id}`)
    },
    // Nothing but the shutdown closes an idle connection during this test; the requests held in
    // the app must not take every dispatch slot from the load.
    { keepAliveTimeout: 60000, threads: 64 },
  )

  const request = (k: number, n: number): { pieces: string[]; expect: Sent } => {
    const id = `${k}-${n}`
    switch ((k + n) % 3) {
      case 0:
        return { pieces: [`GET /plain HTTP/1.1\r\nHost: x\r\nX-Id: ${id}\r\n\r\n`], expect: { id, body: `plain ${id}` } }
      case 1:
        return { pieces: [`GET /stream HTTP/1.1\r\nHost: x\r\nX-Id: ${id}\r\n\r\n`], expect: { id, body: `${id}:0;${id}:1;${id}:2;` } }
      default: {
        // A body sent in two pieces: some requests are mid-body when the shutdown comes.
        const body = `${id};`.repeat(50 + ((k * 37 + n) % 400))
        const half = body.length >> 1
        return {
          pieces: [
            `POST /upload HTTP/1.1\r\nHost: x\r\nX-Id: ${id}\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, half)}`,
            body.slice(half),
          ],
          expect: { id, body },
        }
      }
    }
  }

  // 50 looping clients, 5 idle ones, 5 whose request waits in the app, 5 mid-upload.
  const loopers = await Promise.all(Array.from({ length: 50 }, () => RawClient.connect(s.port)))
  const idle = await Promise.all(Array.from({ length: 5 }, () => RawClient.connect(s.port)))
  const holding = await Promise.all(Array.from({ length: 5 }, () => RawClient.connect(s.port)))
  const uploading = await Promise.all(Array.from({ length: 5 }, () => RawClient.connect(s.port)))
  for (const [i, c] of idle.entries()) {
    await c.write(`GET /plain HTTP/1.1\r\nHost: x\r\nX-Id: idle-${i}\r\n\r\n`)
    await c.waitForResponses(1)
  }
  for (const [i, c] of holding.entries()) await c.write(`GET /hold HTTP/1.1\r\nHost: x\r\nX-Id: hold-${i}\r\n\r\n`)
  // Larger than bufferBody, so that their app starts before the rest of the body comes.
  const uploadBody = 'u'.repeat(200 * KiB)
  for (const [i, c] of uploading.entries()) {
    const head = `POST /upload HTTP/1.1\r\nHost: x\r\nX-Id: up-${i}\r\nContent-Length: ${uploadBody.length}\r\n\r\n`
    await c.write(head + uploadBody.slice(0, 100 * KiB))
  }
  const loads = loopers.map((c, k) => keepSending(c, (n) => request(k, n)))
  await sleep(400)
  const pinned = (): number => [...started].filter((id) => id.startsWith('hold-') || id.startsWith('up-')).length
  t.ok(await eventually(() => pinned() === 10), 'held and uploading requests are in the app')

  closing = true
  const closed = s.server.close()
  // The requests held in the app and the bodies still arriving finish after the close began.
  await sleep(100)
  for (const c of uploading) await c.write(uploadBody.slice(10000))
  releaseHeld()
  t.equal(await within(closed.then(() => 'closed'), 15000), 'closed', 'close() resolves')
  t.equal(s.server.connectionCount, 0, 'no connection left')

  const sentBy = await within(Promise.all(loads), 5000)
  if (sentBy === 'timeout') throw new Error('the load clients did not stop')
  const everyone = [...loopers, ...idle, ...holding, ...uploading]
  t.ok(await eventually(() => everyone.every((c) => c.closed)), 'every client connection is closed')

  const answered = new Set<string>()
  let late = 0
  let total = 0
  const problems: string[] = []
  const check = (c: RawClient, expected: Sent[], who: string): RawResponse[] => {
    const { responses, rest } = allResponses(c)
    if (rest !== 0) problems.push(`${who}: ${rest} bytes of a cut response`)
    if (responses.length > expected.length) problems.push(`${who}: more responses than requests`)
    responses.forEach((res, i) => {
      const id = res.headers['x-id']
      answered.add(id)
      total++
      if (id !== expected[i]?.id || res.body.toString() !== expected[i]?.body) {
        problems.push(`${who}: response ${i} is ${id}, not ${expected[i]?.id}, or its body is wrong`)
      }
      if (res.headers['x-late'] === '1') {
        late++
        if (res.headers.connection !== 'close') problems.push(`${who}: ${id} was made after close() without Connection: close`)
        if (i !== responses.length - 1) problems.push(`${who}: a response follows the Connection: close one`)
      }
    })
    // Only the request in flight when the connection closed may go unanswered, and only if
    // the app never started it.
    for (const missing of expected.slice(responses.length)) {
      if (started.has(missing.id)) problems.push(`${who}: ${missing.id} was started but never answered`)
    }
    if (expected.length - responses.length > 1) problems.push(`${who}: ${expected.length - responses.length} requests unanswered`)
    return responses
  }
  loopers.forEach((c, k) => check(c, sentBy[k], `looper ${k}`))
  idle.forEach((c, i) => {
    const responses = check(c, [{ id: `idle-${i}`, body: `plain idle-${i}` }], `idle ${i}`)
    if (responses.length !== 1) problems.push(`idle ${i}: ${responses.length} responses`)
  })
  holding.forEach((c, i) => {
    const [res] = check(c, [{ id: `hold-${i}`, body: `plain hold-${i}` }], `holding ${i}`)
    if (res?.headers.connection !== 'close') problems.push(`holding ${i}: no complete Connection: close response`)
  })
  uploading.forEach((c, i) => {
    const [res] = check(c, [{ id: `up-${i}`, body: uploadBody }], `uploading ${i}`)
    if (res?.headers.connection !== 'close') problems.push(`uploading ${i}: no complete Connection: close response`)
  })
  const unanswered = [...started].filter((id) => !answered.has(id))
  t.comment(`${total} responses on ${everyone.length} connections, ${late} made after close(); ${started.size} requests started`)
  t.same(problems, [], 'every response whole and in order; every late one closes; every started one answered')
  t.same(unanswered, [], 'every request the app started was answered')
  t.ok(late >= 10, 'the held and uploading requests were answered after close()')

  const refused = await new Promise<string>((resolve) => {
    const socket = net.connect({ port: s.port, host: '127.0.0.1' })
    socket.on('connect', () => resolve('accepted'))
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)))
  })
  t.equal(refused, 'ECONNREFUSED', 'a new connection is refused')
  t.equal(s.errText(), '')
  t.same(escaped, [])
})

const root = realpathSync(fileURLToPath(new URL('..', import.meta.url)))

t.test('the CLI under load: SIGTERM lets requests in flight finish, then exits 0', async (t) => {
  // --threads 64: an app waiting for a body holds its dispatch slot, and the uploads held open
  // across the signal must not take all of them from the load.
  const args = ['--host', '127.0.0.1', '--port', '0', '--threads', '64', '--no-access-log']
  const child = spawn(process.execPath, [`${root}/dist/cli.js`, ...args], { cwd: root })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text))
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const exited = new Promise<number | string | null>((resolve) => child.on('close', (status, signal) => resolve(status ?? signal)))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  t.ok(await eventually(() => /^INFO: Listen at "127\.0\.0\.1:\d+"$/m.test(stdout)), 'the CLI listens')
  const port = Number(/Listen at "127\.0\.0\.1:(\d+)"/.exec(stdout)?.[1])

  // The default echo app: GET gets an empty 200, POST its body back.
  const request = (k: number, n: number): { pieces: string[]; expect: Sent } => {
    const id = `${k}-${n}`
    if ((k + n) % 2 === 0) return { pieces: [get('/')], expect: { id, body: '' } }
    const body = `${id};`.repeat(20 + ((k * 31 + n) % 300))
    const half = body.length >> 1
    return {
      pieces: [`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, half)}`, body.slice(half)],
      expect: { id, body },
    }
  }
  const loopers = await Promise.all(Array.from({ length: 30 }, () => RawClient.connect(port)))
  const uploading = await Promise.all(Array.from({ length: 5 }, () => RawClient.connect(port)))
  const uploadBody = 'u'.repeat(20000)
  for (const c of uploading) {
    await c.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${uploadBody.length}\r\n\r\n${uploadBody.slice(0, 10000)}`)
  }
  const loads = loopers.map((c, k) => keepSending(c, (n) => request(k, n)))
  await sleep(400)

  child.kill('SIGTERM')
  // The uploads were in flight when the signal came: their bodies finish after it.
  await sleep(150)
  for (const c of uploading) await c.write(uploadBody.slice(10000))
  t.equal(await within(exited, 15000), 0, 'the process exits 0')
  const sentBy = await within(Promise.all(loads), 5000)
  if (sentBy === 'timeout') throw new Error('the load clients did not stop')
  t.ok(await eventually(() => [...loopers, ...uploading].every((c) => c.closed)), 'every client connection is closed')

  const problems: string[] = []
  let total = 0
  loopers.forEach((c, k) => {
    const { responses, rest } = allResponses(c)
    const expected = sentBy[k]
    if (rest !== 0) problems.push(`looper ${k}: ${rest} bytes of a cut response`)
    if (expected.length - responses.length > 1 || responses.length > expected.length) {
      problems.push(`looper ${k}: ${responses.length} responses to ${expected.length} requests`)
    }
    responses.forEach((res, i) => {
      total++
      if (res.statusCode !== 200 || res.body.toString() !== expected[i]?.body) {
        problems.push(`looper ${k}: response ${i} is not ${expected[i]?.id}'s`)
      }
    })
  })
  uploading.forEach((c, i) => {
    const { responses, rest } = allResponses(c)
    if (rest !== 0 || responses.length !== 1) {
      problems.push(`uploading ${i}: ${responses.length} responses, ${rest} bytes left over`)
    } else if (responses[0].body.toString() !== uploadBody || responses[0].headers.connection !== 'close') {
      problems.push(`uploading ${i}: not its echo with Connection: close`)
    }
  })
  t.comment(`${total} responses on ${loopers.length} looping connections before the exit`)
  t.same(problems, [], 'every response whole and right; the uploads in flight were answered, with Connection: close')
  t.ok(total > loopers.length, 'the load was real')
  t.match(stdout, /^INFO: Shutting down$/m)
  t.equal(stderr, '', 'nothing on stderr')
})
