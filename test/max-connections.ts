// Every connection is a file descriptor: past maxConnections the oldest idle connection is
// closed to make room, and when none is idle new connections wait unread until one closes. A
// flood of idle connections against a low `ulimit -n` neither kills a worker nor keeps a new
// client out, and running out of descriptors altogether (a bound set too high) costs only the
// connections that could not be taken: the worker's heartbeat and its other clients go on.
import t from 'tap'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { defaultMaxConnections, openFileLimit, type Request, type Response } from '../lib/server.js'
import { parseLimit, reservedFiles } from '../lib/fd-limit.js'
import { directReads } from '../lib/direct-reads.js'
import { cli, LOCAL } from './helpers/cli.js'
import { get, probe, RawClient } from './helpers/raw.js'
import { eventually, sleep, startServer } from './helpers/server.js'

t.test('the default bound: the open-file limit less an eighth (at least 128) kept for the app', async (t) => {
  t.equal(defaultMaxConnections(1024), 896)
  t.equal(defaultMaxConnections(20000), 17500)
  t.equal(defaultMaxConnections(100), 16, 'never under 16')
  t.equal(reservedFiles(1024), 128)
  t.equal(parseLimit('unlimited'), 1 << 20)
  t.equal(parseLimit('4096'), 4096)
  t.equal(parseLimit('nonsense'), 1024)
  t.ok(openFileLimit() >= 16)
  t.equal(defaultMaxConnections(), defaultMaxConnections(openFileLimit()))
})

t.test('maxConnections must be a positive integer', async (t) => {
  const { createServer } = await import('../lib/server.js')
  t.throws(() => createServer(() => {}, { maxConnections: 0 }), /maxConnections must be an integer >= 1/)
})

/** Connects `n` clients that send nothing. */
function idle(port: number, n: number): Promise<RawClient[]> {
  return Promise.all(Array.from({ length: n }, () => RawClient.connect(port)))
}

t.test('at the bound, the oldest idle connection is closed to let a new client in', async (t) => {
  const s = await startServer(t, (_req: Request, res: Response) => void res.end('ok\n'), { maxConnections: 8 })
  const clients = await idle(s.port, 8)
  t.ok(await eventually(() => s.server.connectionCount === 8, 10_000))
  // One of them has been used (keep-alive), and is idle again: still the oldest first.
  await clients[0].write(get('/'))
  await clients[0].waitForResponses(1)
  t.ok(await probe(s.port, 10_000), 'a new client is answered')
  await clients[0].waitForClose(10_000)
  t.pass('the oldest idle connection was closed for it')
  t.notOk(clients[1].closed, 'the next oldest is still open')
  t.ok(s.server.connectionCount <= 8, 'never more than the bound')
  for (const c of clients) c.destroy()
})

for (const direct of [true, false]) {
  t.test(`at the bound with nothing idle, new connections wait unread and are served in turn (${direct ? 'direct reads' : 'sockets read as streams'})`, async (t) => {
    directReads.enabled = direct
    t.teardown(() => {
      directReads.enabled = true
    })
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    let calls = 0
    const s = await startServer(
      t,
      async (req: Request, res: Response) => {
        calls++
        if (req.url === '/hold') await gate
        res.end('ok\n')
      },
      // 16 connections: one may wait beyond them (a sixteenth of the bound).
      { maxConnections: 16 },
    )
    const busy = await idle(s.port, 16)
    for (const c of busy) await c.write(get('/hold'))
    t.ok(await eventually(() => calls === 16, 10_000), 'every connection has a call in flight')
    const waiting = await RawClient.connect(s.port)
    await waiting.write(get('/'))
    // The 18th: over the one that may wait, it is closed at once.
    const over = await RawClient.connect(s.port)
    await over.waitForClose(10_000)
    t.pass('past the connections that may wait, a new one is closed')
    await sleep(200)
    t.equal(waiting.responses().length, 0, 'the waiting connection is not read while the bound is reached')
    t.equal(calls, 16)
    release()
    const replies = await waiting.waitForResponses(1, { timeout: 10_000 })
    t.equal(replies[0].statusCode, 200, 'served once a connection went idle')
    for (const c of busy) t.equal((await c.waitForResponses(1))[0].statusCode, 200)
    for (const c of [...busy, waiting]) c.destroy()
  })
}

t.test('a connection that waits longer than the head timeout is closed; close() closes the waiting ones', async (t) => {
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  const s = await startServer(
    t,
    async (_req: Request, res: Response) => {
      await gate
      res.end('ok\n')
    },
    { maxConnections: 16, headersTimeout: 1000 },
  )
  const busy = await idle(s.port, 16)
  for (const c of busy) await c.write(get('/'))
  t.ok(await eventually(() => s.server.requestCount === 16, 10_000))
  const late = await RawClient.connect(s.port)
  await late.waitForClose(20_000)
  t.pass('closed after waiting past the head timeout')
  const another = await RawClient.connect(s.port)
  await sleep(100)
  const closing = s.server.close()
  await another.waitForClose(10_000)
  t.pass('close() closes a connection still waiting')
  release()
  await closing
  for (const c of busy) c.destroy()
})

/** Runs the CLI with `ulimit -n limit`; resolves once it listens. */
async function startLimited(t: { teardown(fn: () => unknown): void }, limit: number, args: string[]) {
  const child = spawn('/bin/sh', ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, cli, ...LOCAL, ...args])
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text))
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  t.teardown(async () => {
    if (child.exitCode !== null) return
    child.kill('SIGTERM')
    const hung = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(hung)
  })
  const deadline = Date.now() + 60_000
  let match: RegExpMatchArray | null = null
  while ((match = /Listen at "127\.0\.0\.1:(\d+)"/.exec(stdout)) === null && Date.now() < deadline && child.exitCode === null) await sleep(50)
  if (match === null) throw new Error(`the CLI did not start: ${stdout} ${stderr}`)
  return { port: Number(match[1]), child, out: () => stdout, err: () => stderr }
}

/** Opens `n` connections that send nothing, as fast as they connect; failures are counted. */
async function flood(port: number, n: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = []
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve) => {
          const socket = net.connect(port, '127.0.0.1', () => resolve())
          socket.on('error', () => resolve())
          sockets.push(socket)
        }),
    ),
  )
  return sockets
}

/** Probes every 500 ms while `during` runs; returns the probes and how many got a 200 within 2 s. */
async function probing(port: number, during: Promise<unknown>): Promise<{ sent: number; answered: number }> {
  let done = false
  void during.then(() => (done = true))
  let sent = 0
  let answered = 0
  while (!done || sent < 4) {
    sent++
    if (await probe(port, 2000)) answered++
    await sleep(500)
  }
  return { sent, answered }
}

t.test('ulimit -n 1024 and 1,100 idle connections: probes answered within 2 s throughout, no worker restart', async (t) => {
  const { port, child, out, err } = await startLimited(t, 1024, ['--no-access-log'])
  t.match(out(), /INFO: Threads: 896\n/, 'the default bounds follow the limit')
  let sockets: net.Socket[] = []
  const result = await probing(
    port,
    (async () => {
      sockets = await flood(port, 1100)
      await sleep(3000)
    })(),
  )
  t.equal(result.answered, result.sent, `every probe answered (${result.answered} of ${result.sent})`)
  t.equal(child.exitCode, null, 'the worker is still running')
  t.notMatch(out() + err(), /Booting worker|Worker \(pid:\d+\) (exited|was killed)|Uncaught/, 'no worker restart')
  for (const socket of sockets) socket.destroy()
  t.ok(await probe(port, 2000), 'answered once they left')
})

t.test('a bound above the descriptors there are: EMFILE is a WARN line, the worker and its heartbeat live on', async (t) => {
  // 200 descriptors and a bound of 2,000 connections: the worker runs out of descriptors.
  // (--header-timeout 120: the idle connections stay however long the flood takes to arrive.)
  const { port, child, out, err } = await startLimited(t, 200, ['--no-access-log', '--max-connections', '2000', '--worker-timeout', '2', '--header-timeout', '120'])
  // Connections keep coming (a hundred every half second, 3,000 at most) until the worker says
  // it is out of descriptors: whatever frees one (a thread that failed to start, say) is taken.
  const starved = /WARN: Worker \(pid:\d+\) is out of file descriptors \(EMFILE\): lower --max-connections, or raise ulimit -n/
  const sockets: net.Socket[] = []
  const deadline = Date.now() + 60_000
  while (!starved.test(err()) && sockets.length < 3000 && Date.now() < deadline) {
    sockets.push(...(await flood(port, 100)))
    await sleep(500)
  }
  t.match(err(), starved, 'one WARN line says so')
  // Two heartbeat periods with no descriptor to spare: the watchdog (2 s) must not fire.
  await sleep(3000)
  t.equal(child.exitCode, null, 'the worker is still running')
  t.notMatch(out() + err(), /Booting worker|WORKER TIMEOUT|Uncaught|exited/, 'no restart, no timeout')
  for (const socket of sockets) socket.destroy()
  let answered = false
  const until = Date.now() + 20_000
  while (!answered && Date.now() < until) answered = await probe(port, 2000)
  t.ok(answered, 'served again once the flood left')
})

t.test('an accept that fails for want of descriptors is one WARN line a second; other listener errors are ERROR lines', async (t) => {
  const s = await startServer(t, (_req: Request, res: Response) => void res.end('ok\n'))
  const listener = (s.server as unknown as { listeners: net.Server[] }).listeners[0]
  const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' })
  listener.emit('error', emfile)
  listener.emit('error', emfile)
  listener.emit('error', Object.assign(new Error('accept EINVAL'), { code: 'EINVAL' }))
  s.log.flush()
  const text = s.errText()
  t.equal(text.match(/WARN: Out of file descriptors \(EMFILE\) with 0 connections open on 127\.0\.0\.1:\d+/g)?.length, 1, 'once a second at most')
  t.match(text, /ERROR: Server socket error on 127\.0\.0\.1:\d+/)
  t.ok(await probe(s.port), 'the listener goes on')
})
