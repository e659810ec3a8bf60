// AcceptBurst: while connections arrive turn after turn, established ones stop being read (libuv
// accepts one connection a turn); readControl's feature detection, and the fallback when a
// socket's handle cannot stop its reads.
import t from 'tap'
import net from 'node:net'
import tls from 'node:tls'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { AcceptBurst, HOLD_AT_LEAST, HOLD_LIMIT, readControl, type Holdable } from '../lib/accept-burst.js'
import { RawClient, get, parseResponses } from './helpers/raw.js'
import { makeCerts } from './helpers/certs.js'
import { eventually, sleep, startServer } from './helpers/server.js'
import type { Connection } from '../lib/connection.js'
import type { Request, Response, Server } from '../lib/server.js'

const hello = (_req: Request, res: Response): void => {
  res.end('hello')
}

class Fake implements Holdable {
  established: boolean
  held = 0
  released = 0
  canHold = true
  constructor(established: boolean) {
    this.established = established
  }
  holdReading(): boolean {
    if (!this.canHold) return false
    this.held++
    return true
  }
  releaseReading(): void {
    this.released++
  }
}

function fakes(count: number, established = true): Fake[] {
  return Array.from({ length: count }, () => new Fake(established))
}

t.test('the constants', async (t) => {
  t.equal(HOLD_LIMIT, 25)
  t.equal(HOLD_AT_LEAST, 16)
})

t.test('a second turn in a row with a new connection holds the established ones until a turn brings none', async (t) => {
  const open = new Set<Holdable>(fakes(HOLD_AT_LEAST))
  const notYet = new Fake(false)
  open.add(notYet)
  const burst = new AcceptBurst(open)
  const first = new Fake(false)
  burst.arrived(first)
  burst.arrived(new Fake(false)) // two in one turn: one check
  await nextTurn()
  t.notOk(burst.holding, 'one turn with arrivals: no burst yet')
  const second = new Fake(false)
  burst.arrived(second)
  await nextTurn()
  t.ok(burst.holding, 'two turns in a row: the established connections are held')
  for (const conn of open) t.equal((conn as Fake).held, (conn as Fake).established ? 1 : 0)
  t.equal(second.held, 0, 'the connection that arrived before the burst began is not held')
  const during = new Fake(false)
  burst.arrived(during)
  t.equal(during.held, 1, 'a newcomer during the burst waits too')
  await nextTurn()
  t.ok(burst.holding, 'still arriving: still held')
  await nextTurn()
  t.notOk(burst.holding, 'a turn without arrivals ends the burst')
  for (const conn of open) t.equal((conn as Fake).released, (conn as Fake).established ? 1 : 0)
  t.equal(during.released, 1)
  burst.release()
  t.equal(during.released, 1, 'release() with no burst on does nothing')
})

t.test('too few established connections: no burst; one that will not be held is left alone', async (t) => {
  const open = new Set<Holdable>(fakes(HOLD_AT_LEAST - 1))
  const burst = new AcceptBurst(open)
  for (let i = 0; i < 3; i++) {
    burst.arrived(new Fake(false))
    await nextTurn()
  }
  t.notOk(burst.holding, `${HOLD_AT_LEAST - 1} established connections are not worth a burst`)
  const stubborn = new Fake(true)
  stubborn.canHold = false
  open.add(stubborn)
  burst.arrived(new Fake(false))
  await nextTurn()
  t.ok(burst.holding)
  const late = new Fake(false)
  late.canHold = false
  burst.arrived(late)
  await nextTurn()
  await nextTurn()
  t.notOk(burst.holding)
  t.equal(stubborn.released, 0, 'not held, not released')
  t.equal(late.released, 0)
})

t.test('connections that never stop coming: the established ones are read again after the limit', async (t) => {
  const open = new Set<Holdable>(fakes(HOLD_AT_LEAST))
  const burst = new AcceptBurst(open, 5)
  let turns = 0
  let released = false
  const deadline = Date.now() + 2000
  while (!released && Date.now() < deadline) {
    burst.arrived(new Fake(false))
    await nextTurn()
    turns++
    if (turns > 2 && !burst.holding) released = true
  }
  t.ok(released, 'the burst ended while connections still arrived')
  t.ok([...open].every((conn) => (conn as Fake).released === 1))
  burst.arrived(new Fake(false))
  await nextTurn()
  burst.arrived(new Fake(false))
  await nextTurn()
  t.ok(burst.holding, 'and a new burst can begin')
  await nextTurn()
  t.notOk(burst.holding)
})

t.test('readControl: the handle of a plain TCP socket that is reading; null otherwise', async (t) => {
  const server = net.createServer((socket) => socket.on('data', () => {}))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.on('data', () => {})
  const control = readControl(socket)
  t.ok(control !== null, 'a reading socket')
  t.equal(typeof control?.readStop, 'function')
  socket.pause()
  t.equal(readControl(socket), null, 'a paused socket is not being read')
  socket.resume()
  t.ok(readControl(socket) !== null)
  socket.destroy()
  t.equal(readControl(socket), null, 'a destroyed socket has no handle')
  const fake = (handle: unknown, extra: object = {}): net.Socket => ({ _handle: handle, isPaused: () => false, ...extra }) as unknown as net.Socket
  t.equal(readControl(fake(undefined)), null, 'no handle at all')
  t.equal(readControl(fake({ readStart() {}, reading: true })), null, 'a handle without readStop: the fallback')
  t.equal(readControl(fake({ readStop() {}, reading: true })), null, 'a handle without readStart')
  t.equal(readControl(fake({ readStop() {}, readStart() {}, reading: false })), null, 'a handle not reading')
  t.equal(readControl(fake({ readStop() {}, readStart() {} })), null, 'a handle that does not say')
  t.ok(readControl(fake({ readStop() {}, readStart() {}, reading: true })) !== null)
  t.equal(readControl(fake({ readStop() {}, readStart() {}, reading: true }, { encrypted: true })), null, 'TLS: its reads are the TLS layer\'s')
  t.ok(new tls.TLSSocket(new net.Socket()).encrypted, 'a TLSSocket says encrypted')
})

interface Internals {
  burst: AcceptBurst
  connections: Set<Connection>
}

/** Opens `count` connections at once, each sending GET / at once; resolves with their answers. */
function stampede(port: number, count: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, () => new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1')
      const chunks: Buffer[] = []
      socket.on('connect', () => socket.write(get('/', 'Connection: close\r\n')))
      socket.on('data', (chunk) => chunks.push(chunk))
      socket.on('error', reject)
      socket.on('close', () => {
        const { responses } = parseResponses(Buffer.concat(chunks))
        resolve(responses.map((r) => r.body.toString()).join(','))
      })
    })),
  )
}

async function establish(t: { teardown: (fn: () => void) => void }, port: number, count: number): Promise<RawClient[]> {
  const clients: RawClient[] = []
  for (let i = 0; i < count; i++) {
    const client = await RawClient.connect(port)
    t.teardown(() => client.destroy())
    await client.write(get('/'))
    await client.waitForResponses(1)
    clients.push(client)
  }
  return clients
}

/** Watches `holding` once a turn until `stop()`; resolves how many turns it was on. */
function watchHolding(burst: AcceptBurst): { stop: () => Promise<number> } {
  let on = 0
  let running = true
  const done = (async () => {
    while (running) {
      if (burst.holding) on++
      await nextTurn()
    }
    return on
  })()
  return { stop: () => { running = false; return done } }
}

t.test('a server holds its established keep-alive connections while a stampede is accepted', async (t) => {
  const s = await startServer(t, hello)
  const { burst } = s.server as unknown as Internals
  const clients = await establish(t, s.port, HOLD_AT_LEAST + 4)
  const watch = watchHolding(burst)
  const answers = await stampede(s.port, 80)
  const turnsHeld = await watch.stop()
  t.same(answers, Array(80).fill('hello'), 'every newcomer answered')
  t.ok(turnsHeld > 0, `held for ${turnsHeld} turns`)
  t.notOk(burst.holding)
  for (const client of clients) await client.write(get('/again'))
  for (const client of clients) t.equal((await client.waitForResponses(2))[1].body.toString(), 'hello', 'the established ones are read again')
  t.equal(s.errText(), '')
})

t.test('fallback: sockets whose handle cannot stop reading are never held, and all is answered', async (t) => {
  const s = await startServer(t, hello)
  const { burst, connections } = s.server as unknown as Internals
  const clients = await establish(t, s.port, HOLD_AT_LEAST + 4)
  // As on a Node.js whose stream handle has no readStop: readControl finds none.
  for (const conn of connections) {
    ;(conn.socket as unknown as { _handle: Record<string, unknown> })._handle.readStop = undefined
  }
  const watch = watchHolding(burst)
  const answers = await stampede(s.port, 40)
  await watch.stop()
  t.same(answers, Array(40).fill('hello'))
  t.notOk(burst.holding)
  for (const conn of connections) t.notOk(conn.holdReading(), 'holdReading refuses')
  for (const client of clients) await client.write(get('/again'))
  for (const client of clients) t.equal((await client.waitForResponses(2))[1].body.toString(), 'hello')
})

t.test('Connection.holdReading / releaseReading on a real connection', async (t) => {
  const s = await startServer(t, hello)
  const { connections } = s.server as unknown as Internals
  const [client] = await establish(t, s.port, 1)
  const conn = [...connections][0]
  t.ok(conn.established)
  t.ok(conn.holdReading(), 'held')
  t.notOk(conn.holdReading(), 'held already')
  await client.write(get('/while-held'))
  await sleep(50)
  t.equal(client.responses().length, 1, 'not read while held')
  conn.releaseReading()
  t.equal((await client.waitForResponses(2))[1].body.toString(), 'hello', 'read once released')
  conn.releaseReading()
  // Paused while held (by the connection's own backpressure): release leaves it to resume().
  t.ok(conn.holdReading())
  conn.socket.pause()
  conn.releaseReading()
  const handle = (conn.socket as unknown as { _handle: { reading: boolean } })._handle
  t.notOk(handle.reading, 'still paused after the release')
  conn.socket.resume()
  await client.write(get('/after-pause'))
  t.equal((await client.waitForResponses(3))[2].body.toString(), 'hello', 'read again once resumed')
  t.ok(conn.holdReading())
  conn.destroy()
  conn.releaseReading()
  t.notOk(conn.holdReading(), 'a destroyed connection is not held')
  t.ok(await eventually(() => client.closed))
})

t.test('a connection that has ended (Connection: close sent) is not held; close() releases a burst', async (t) => {
  const s = await startServer(t, async (_req, res) => {
    await sleep(200)
    res.end('late')
  })
  const { burst, connections } = s.server as unknown as Internals
  const client = await RawClient.connect(s.port)
  t.teardown(() => client.destroy())
  await client.write(get('/', 'Connection: close\r\n'))
  await eventually(() => connections.size === 1)
  const conn = [...connections][0]
  t.notOk(conn.established, 'nothing answered yet')
  await client.waitForResponses(1)
  t.notOk(conn.holdReading(), 'ended: not held')
  ;(burst as unknown as { held: Holdable[] }).held = []
  await s.server.close()
  t.notOk(burst.holding, 'close() ends a burst')
})

t.test('a TLS server: its connections are never held (encrypted)', async (t) => {
  const certs = makeCerts()
  if (typeof certs === 'string') {
    t.skip(certs)
    return
  }
  const s = await startServer(t, hello, { tls: { cert: certs.serverCert, key: certs.serverKey } })
  const { connections } = s.server as unknown as Internals
  const socket = tls.connect({ port: s.port, host: '127.0.0.1', rejectUnauthorized: false })
  t.teardown(() => socket.destroy())
  await new Promise((resolve) => socket.once('secureConnect', resolve))
  await eventually(() => connections.size === 1)
  t.notOk([...connections][0].holdReading())
})
