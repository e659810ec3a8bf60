// Server: createServer options, listen / address / close (graceful), the threads limit and the
// dispatch queue, the access log, and the Log and clock underneath.
import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { RawClient, get, rawRequest } from './helpers/raw.js'
import { eventually, httpRequest, memoryLog, sleep, startServer } from './helpers/server.js'
import {
  createServer,
  defaultMaxConnections,
  defaultThreads,
  DEFAULT_HEADERS_TIMEOUT,
  DEFAULT_KEEP_ALIVE_TIMEOUT,
  HttpError,
  InterfaceError,
  Log,
  Server,
} from '../lib/server.js'
import { Dispatcher } from '../lib/dispatch.js'
import { httpDate } from '../lib/clock.js'
import type { Response } from '../lib/response.js'


const ok = (_req: unknown, res: Response): void => {
  res.end('ok')
}

// --- Clock (first in the file: this call starts the shared clock) ------------------------------

t.test('clock: the Date line follows the time, a second at most behind', async (t) => {
  const line = httpDate()
  t.match(line, /^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n$/)
  const parsed = Date.parse(line.slice(6, -2))
  t.ok(Math.abs(parsed - Date.now()) <= 1100)
  await sleep(1200)
  t.ok(Math.abs(Date.parse(httpDate().slice(6, -2)) - Date.now()) <= 1100, 'still current after a second')
  t.not(httpDate(), line, 'the Date line moved on')
})

// --- createServer, listen, address --------------------------------------------------------------

t.test('createServer checks its arguments', async (t) => {
  t.throws(() => createServer('nope' as unknown as () => void), { name: 'InterfaceError', message: 'The app must be a function or an app object, not string' })
  t.ok(new InterfaceError('x') instanceof TypeError, 'an InterfaceError is a TypeError')
  for (const threads of [0, -1, 1.5, NaN]) {
    t.throws(() => createServer(ok, { threads }), RangeError, `threads ${threads}`)
  }
  t.equal(createServer(ok, { threads: 3 }).threads, 3)
  t.equal(createServer(ok).threads, defaultThreads())
  t.equal(defaultThreads(), defaultMaxConnections())
  t.ok(createServer(ok) instanceof Server)
  t.equal(DEFAULT_KEEP_ALIVE_TIMEOUT, 5000)
  t.equal(DEFAULT_HEADERS_TIMEOUT, 10000)
  t.equal(new HttpError(418, 'teapot').status, 418)
})

t.test('listen resolves once bound; address() reports it; it throws before', async (t) => {
  const server = createServer(ok, { log: memoryLog().log, backlog: 16 })
  t.throws(() => server.address(), { message: 'The server is not listening' })
  await server.listen(0, '127.0.0.1')
  t.teardown(() => server.close())
  const address = server.address()
  t.equal(address.address, '127.0.0.1')
  t.equal(address.family, 'IPv4')
  t.ok(address.port > 0)
  const res = await fetch(`http://127.0.0.1:${address.port}/`)
  t.equal(await res.text(), 'ok')
})

t.test('listen on a port in use rejects; the server can listen elsewhere after', async (t) => {
  const first = await startServer(t, ok)
  const second = createServer(ok, { log: memoryLog().log, backlog: -1 })
  await t.rejects(second.listen(first.port, '127.0.0.1'), { code: 'EADDRINUSE' })
  await second.listen(0, '127.0.0.1')
  t.teardown(() => second.close())
  const res = await fetch(`http://127.0.0.1:${second.address().port}/`)
  t.equal(res.status, 200)
  await res.text()
})

t.test('connectionCount follows open connections', async (t) => {
  const s = await startServer(t, ok)
  t.equal(s.server.connectionCount, 0)
  const a = await RawClient.connect(s.port)
  const b = await RawClient.connect(s.port)
  t.ok(await eventually(() => s.server.connectionCount === 2))
  a.destroy()
  t.ok(await eventually(() => s.server.connectionCount === 1))
  b.destroy()
  t.ok(await eventually(() => s.server.connectionCount === 0))
})

// --- threads and the queue ----------------------------------------------------------------------

t.test('threads: 2 runs at most two app calls at once; ten requests all complete', async (t) => {
  let active = 0
  let most = 0
  const s = await startServer(
    t,
    async (req, res) => {
      most = Math.max(most, ++active)
      await sleep(40)
      active-- // before end(): ending releases the slot and may start the next call at once
      res.end(req.path)
    },
    { threads: 2 },
  )
  const agent = new http.Agent({ keepAlive: false, maxSockets: 20 })
  t.teardown(() => agent.destroy())
  const started = Date.now()
  const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => httpRequest(`${s.origin}/${i}`, { agent })))
  t.same(
    replies.map((r) => r.body.toString()),
    Array.from({ length: 10 }, (_, i) => `/${i}`),
  )
  t.equal(most, 2, 'two calls ran at once, never more')
  t.ok(Date.now() - started >= 4 * 40, 'ten 40 ms calls two at a time take five rounds')
})

t.test('a full queue (maxQueued) stops connections reading until it drains; all are served', async (t) => {
  let active = 0
  let most = 0
  const s = await startServer(
    t,
    async (req, res) => {
      most = Math.max(most, ++active)
      await sleep(10)
      active--
      res.end(req.path)
    },
    { threads: 1, maxQueued: 1 },
  )
  const clients = await Promise.all(Array.from({ length: 6 }, () => RawClient.connect(s.port)))
  await Promise.all(clients.map((c, i) => c.write(get(`/${i}/a`) + get(`/${i}/b`))))
  const all = await Promise.all(clients.map((c) => c.waitForResponses(2)))
  t.same(
    all.map((responses) => responses.map((r) => r.body.toString())),
    clients.map((_, i) => [`/${i}/a`, `/${i}/b`]),
  )
  t.equal(most, 1)
  for (const c of clients) c.destroy()
})

t.test('Dispatcher: running and waiting calls, and a call for a destroyed response is skipped', async (t) => {
  const calls: string[] = []
  const dispatcher = new Dispatcher(
    (res) => {
      calls.push(res.req.url)
    },
    1,
    1,
    -1,
    memoryLog().log,
  )
  const fake = (url: string, destroyed = false) => {
    const res = {
      req: { url, complete: true },
      destroyed,
      release: null as (() => void) | null,
      fail: (error: unknown) => calls.push(`failed ${String(error)}`),
    }
    return res as unknown as Response
  }
  const a = fake('/a')
  t.equal(dispatcher.push(a), true)
  t.equal(dispatcher.running, 1)
  t.equal(dispatcher.waiting, 0)
  t.equal(dispatcher.push(fake('/gone', true)), true)
  const c = fake('/c')
  t.equal(dispatcher.push(c), false, 'over maxQueued')
  t.equal(dispatcher.waiting, 2)
  let unblocked = 0
  dispatcher.block({ unblock: () => unblocked++ })
  ;(a.release as () => void)()
  t.same(calls, ['/a', '/c'], 'the destroyed one was skipped')
  t.equal(dispatcher.running, 1)
  t.equal(dispatcher.waiting, 0)
  // The queue is measured as a call completes, before the next one is taken off it.
  t.equal(unblocked, 0)
  ;(c.release as () => void)()
  t.equal(unblocked, 1, 'the blocked connection was told to read again')
  t.equal(dispatcher.running, 0)
})

// --- Graceful close -----------------------------------------------------------------------------

t.test('the upgrade option takes the socket of an upgrade request (native interface)', async (t) => {
  let taken: { url: string; head: string } | null = null
  const s = await startServer(t, (_req, res) => res.end('plain'), {
    upgrade: ((req: { url: string }, socket: net.Socket, head: Buffer) => {
      taken = { url: req.url, head: head.toString() }
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\nhello')
    }) as never,
  })
  const client = await RawClient.connect(s.port)
  await client.write('GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\nfirst bytes')
  await client.waitForClose()
  t.same(taken, { url: '/chat', head: 'first bytes' })
  t.match(client.data.toString(), /^HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*\r\n\r\nhello$/)
  t.equal(s.server.connectionCount, 0, 'no longer counted as an HTTP connection')
})

t.test('serve(): a connection accepted elsewhere is served, and refused once the server is closing', async (t) => {
  const server = createServer((_req: unknown, res: { end(body: string): void }) => res.end('served'), { log: memoryLog().log, interface: 'native' })
  const outer = net.createServer((socket) => server.serve(socket))
  await new Promise<void>((resolve) => outer.listen(0, '127.0.0.1', resolve))
  t.teardown(() => outer.close())
  const port = (outer.address() as net.AddressInfo).port
  const served = await rawRequest(port, get('/', 'Connection: close\r\n'))
  t.equal(served.responses[0]?.body.toString(), 'served')
  await server.close()
  const refused = await rawRequest(port, get('/'))
  t.same(refused.responses, [], 'no answer')
  t.ok(refused.closed, 'the connection is closed at once')
})

t.test('close(): the in-flight response completes with Connection: close, idle ones close, new ones are refused', async (t) => {
  let started!: () => void
  const inFlight = new Promise<void>((resolve) => (started = resolve))
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/slow') {
      started()
      await sleep(300)
      res.setHeader('Content-Type', 'text/plain')
      res.write('slow ')
      return void res.end('and complete')
    }
    res.end('quick')
  })
  // An idle keep-alive connection.
  const idle = await RawClient.connect(s.port)
  await idle.write(get('/quick'))
  await idle.waitForResponses(1)
  // A connection with a request in flight.
  const busy = await RawClient.connect(s.port)
  await busy.write(get('/slow'))
  await inFlight
  const closing = s.server.close()
  t.equal(s.server.close(), closing, 'close() twice gives the same promise')
  await idle.waitForClose()
  t.notOk(busy.ended, 'the busy connection is still open while the idle one closed')
  await t.rejects(
    new Promise((resolve, reject) => net.connect(s.port, '127.0.0.1', () => resolve('connected')).on('error', reject)),
    { code: 'ECONNREFUSED' },
    'new connections are refused',
  )
  let resolved = false
  void closing.then(() => (resolved = true))
  await busy.waitForClose()
  const [res] = busy.responses()
  t.equal(res.statusCode, 200)
  t.equal(res.headers.connection, 'close')
  t.equal(res.body.toString(), 'slow and complete')
  t.ok(await eventually(() => resolved), 'close() resolved')
  t.equal(s.server.connectionCount, 0)
})

t.test('close() waits for a request whose head is still arriving, then closes', async (t) => {
  const s = await startServer(t, ok)
  const client = await RawClient.connect(s.port)
  await client.write('GET / HTTP/1.1\r\nHo')
  // The server holds the start of the head (its connections' parsers, read for the test).
  const connections = (s.server as unknown as { connections: Set<{ parser: { headPending: boolean } }> }).connections
  t.ok(await eventually(() => [...connections].some((conn) => conn.parser.headPending)), 'the head is pending')
  const closing = s.server.close()
  await sleep(20)
  await client.write('st: x\r\n\r\n')
  await client.waitForClose()
  const [res] = client.responses()
  t.equal(res.body.toString(), 'ok')
  t.equal(res.headers.connection, 'close')
  await closing
})

t.test('close() with pipelined requests in flight answers them all', async (t) => {
  let running = 0
  const s = await startServer(t, async (req, res) => {
    running++
    await sleep(100)
    res.end(req.path)
  })
  const client = await RawClient.connect(s.port)
  await client.write(get('/1') + get('/2'))
  t.ok(await eventually(() => running === 2), 'both requests are in the app')
  const closing = s.server.close()
  await client.waitForClose()
  const responses = client.responses()
  t.same(
    responses.map((r) => r.body.toString()),
    ['/1', '/2'],
  )
  t.equal(responses[1]?.headers.connection, 'close')
  await closing
})

t.test('close() resolves even when a client never closes its side (after the linger time)', async (t) => {
  const s = await startServer(t, ok)
  const socket = net.connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true })
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  let data = ''
  let ended = false
  socket.on('data', (chunk) => (data += chunk))
  socket.on('end', () => (ended = true))
  socket.write(get())
  t.ok(await eventually(() => data.endsWith('ok')))
  const started = Date.now()
  await s.server.close()
  t.ok(ended, 'the idle connection was ended')
  const waited = Date.now() - started
  t.ok(waited >= 1000 && waited < 4500, `resolved after the linger time (${waited} ms)`)
})

t.test('close() of a server that never listened resolves', async (t) => {
  const server = createServer(ok, { log: memoryLog().log })
  await server.close()
  t.pass('resolved')
})

t.test('a server that is closing destroys connections it accepts late', async (t) => {
  const s = await startServer(t, async (_req, res) => {
    await sleep(200)
    res.end('done')
  })
  const busy = await RawClient.connect(s.port)
  await busy.write(get())
  await sleep(20)
  // A connection net accepted just as close() began reaches accept() while closing: it is
  // destroyed rather than served. The listening socket is gone, so hand one over as net would.
  const closing = s.server.close()
  const [late, peer] = await socketPair()
  ;(s.server as unknown as { accept(socket: net.Socket): void }).accept(late)
  t.ok(late.destroyed, 'the late socket is destroyed')
  peer.destroy()
  await busy.waitForClose()
  await closing
})

/** Two connected sockets (a server side and a client side) on a throwaway listener. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const listener = net.createServer()
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve))
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1')
  client.on('error', () => {})
  client.on('data', () => {})
  const server = await accepted
  listener.close()
  return [server, client]
}

// --- Access log ---------------------------------------------------------------------------------

t.test('access log: one exact line per response', async (t) => {
  const s = await startServer(
    t,
    async (req, res) => {
      if (req.path === '/boom') throw new Error('boom')
      if (req.path === '/missing') res.statusCode = 404
      await req.body()
      res.end('logged')
    },
    { accessLog: true },
  )
  const client = await RawClient.connect(s.port)
  const port = client.localPort
  await client.write('POST /submit?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi')
  await client.write(get('/missing'))
  await client.write(get('/boom'))
  await client.waitForResponses(3)
  client.destroy()
  const ten = await rawRequest(s.port, 'GET /old HTTP/1.0\r\n\r\n')
  const tenPort = ten.client.localPort
  const lines = s.outLines()
  t.same(lines, [
    `INFO: 127.0.0.1:${port} - "POST /submit?x=1 HTTP/1.1" 200 OK`,
    `INFO: 127.0.0.1:${port} - "GET /missing HTTP/1.1" 404 Not Found`,
    `INFO: 127.0.0.1:${port} - "GET /boom HTTP/1.1" 500 Internal Server Error`,
    `INFO: 127.0.0.1:${tenPort} - "GET /old HTTP/1.0" 200 OK`,
  ])
})

t.test('access log: pipelined responses are logged in order', async (t) => {
  const s = await startServer(
    t,
    async (req, res) => {
      if (req.path === '/slow') await sleep(20)
      res.end(req.path)
    },
    { accessLog: true, threads: 1 },
  )
  const { client } = await rawRequest(s.port, get('/slow') + get('/sync'), { responses: 2 })
  client.destroy()
  t.same(
    s.outLines().map((line) => line.replace(/^.* - /, '')),
    ['"GET /slow HTTP/1.1" 200 OK', '"GET /sync HTTP/1.1" 200 OK'],
  )
})

t.test('access log: a bad request is logged with its status; a 408 is not', async (t) => {
  const s = await startServer(t, ok, { accessLog: true, headersTimeout: 300 })
  const bad = await rawRequest(s.port, 'GET / HTTP/1.1\r\n\r\n')
  const badPort = bad.client.localPort
  const slow = await RawClient.connect(s.port)
  await slow.write('GET / HT')
  await slow.waitForClose()
  t.equal(slow.responses()[0].statusCode, 408)
  t.same(s.outLines(), [`INFO: 127.0.0.1:${badPort} - "- - HTTP/1.1" 400 Bad Request`])
})

t.test('no access lines without accessLog', async (t) => {
  const s = await startServer(t, ok)
  const res = await fetch(s.origin)
  await res.text()
  t.same(s.outLines(), [])
})

t.test('access lines are flushed by the timer without an explicit flush', async (t) => {
  const memory = memoryLog({ flushDelay: 10 })
  const s = await startServer(t, ok, { accessLog: true, log: memory.log })
  const res = await fetch(s.origin)
  await res.text()
  t.ok(await eventually(() => memory.out.join('').includes('"GET / HTTP/1.1" 200 OK')))
})

// --- Log ----------------------------------------------------------------------------------------

t.test('Log: INFO, WARN and ERROR lines; ERROR carries the stack', async (t) => {
  const { log, out, err } = memoryLog()
  log.info('Listen at "127.0.0.1:8080"')
  log.warn('careful')
  log.error('plain')
  log.error('with an error', new RangeError('bad range'))
  log.error('with a value', 42)
  const noStack = new Error('no stack')
  noStack.stack = undefined
  log.error('stackless', noStack)
  t.same(out, ['INFO: Listen at "127.0.0.1:8080"\n'])
  t.equal(err[0], 'WARN: careful\n')
  t.equal(err[1], 'ERROR: plain\n')
  t.match(err[2], /^ERROR: with an error\nRangeError: bad range\n\s+at /)
  t.equal(err[3], 'ERROR: with a value\n42\n')
  t.equal(err[4], 'ERROR: stackless\nError: no stack\n')
})

t.test('Log: access lines are buffered, flushed in order before other lines', async (t) => {
  const { log, out, err } = memoryLog({ flushDelay: 10000 })
  log.access('127.0.0.1', 1, 'GET', '/a', '1.1', 200)
  log.access('::1', 2, 'PUT', '/b', '1.0', 299)
  t.same(out, [], 'buffered')
  log.info('after the access lines')
  t.same(out, [
    'INFO: 127.0.0.1:1 - "GET /a HTTP/1.1" 200 OK\nINFO: ::1:2 - "PUT /b HTTP/1.0" 299 Success\n',
    'INFO: after the access lines\n',
  ])
  log.access('127.0.0.1', 3, 'GET', '/c', '1.1', 404)
  log.error('an error flushes too')
  t.equal(out[2], 'INFO: 127.0.0.1:3 - "GET /c HTTP/1.1" 404 Not Found\n')
  t.same(err, ['ERROR: an error flushes too\n'])
  log.flush()
  t.equal(out.length, 3, 'nothing left to flush')
})

t.test('Log: an access line for a peer whose socket is gone shows dashes', async (t) => {
  const { log, out } = memoryLog()
  log.access(undefined, undefined, 'GET', '/', '1.1', 200)
  log.flush()
  t.same(out, ['INFO: -:- - "GET / HTTP/1.1" 200 OK\n'])
})

t.test('Log: a full buffer flushes at once; the timer flushes the rest', async (t) => {
  const { log, out } = memoryLog({ flushBytes: 100, flushDelay: 20 })
  log.access('127.0.0.1', 1, 'GET', '/first', '1.1', 200)
  t.same(out, [])
  log.access('127.0.0.1', 2, 'GET', `/${'x'.repeat(60)}`, '1.1', 200)
  t.equal(out.length, 1, 'past flushBytes: written at once')
  t.equal(out[0].split('\n').length, 3)
  log.access('127.0.0.1', 3, 'GET', '/later', '1.1', 500)
  t.equal(out.length, 1)
  await sleep(60)
  t.same(out.slice(1), ['INFO: 127.0.0.1:3 - "GET /later HTTP/1.1" 500 Internal Server Error\n'])
})

t.test('Log: the default sinks are stdout and stderr', async (t) => {
  const log = new Log()
  const written: string[] = []
  const original = process.stdout.write
  process.stdout.write = ((text: string) => {
    written.push(text)
    return true
  }) as typeof process.stdout.write
  try {
    log.info('to stdout')
  } finally {
    process.stdout.write = original
  }
  t.same(written, ['INFO: to stdout\n'])
})
