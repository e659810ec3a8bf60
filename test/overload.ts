// Concurrency on one event loop: an app that awaits I/O is never throttled by the default bound
// on app calls, a call whose body is still arriving holds no slot, and a saturated event loop
// sheds new requests with a prompt 503 and Retry-After (the connection kept) instead of queueing
// them without bound.
import t from 'tap'
import { performance } from 'node:perf_hooks'
import { createServer, defaultMaxConnections, defaultThreads, type Request, type Response } from '../lib/server.js'
import { LoadGuard } from '../lib/overload.js'
import { Dispatcher } from '../lib/dispatch.js'
import { get, RawClient } from './helpers/raw.js'
import { eventually, httpRequest, memoryLog, sleep, startServer } from './helpers/server.js'
import { loopClock } from '../lib/loop-clock.js'

t.test('the default bound on app calls is the connection bound: never the throttle of an app that waits', async (t) => {
  t.equal(defaultThreads(), defaultMaxConnections())
  t.equal(createServer(() => {}).threads, defaultMaxConnections())
  t.ok(defaultThreads() >= 16)
})

t.test('with default options, 400 app calls that await each other are all in flight at once', async (t) => {
  // Each call waits until all 400 have started: with a bound below 400 this never answers.
  const N = 400
  let started = 0
  let release!: () => void
  const all = new Promise<void>((resolve) => (release = resolve))
  const { port } = await startServer(t, async (_req: Request, res: Response) => {
    if (++started === N) release()
    await all
    res.end('ok\n')
  })
  const clients = await Promise.all(Array.from({ length: N }, () => RawClient.connect(port)))
  await Promise.all(clients.map((c) => c.write(get('/'))))
  const replies = await Promise.all(clients.map((c) => c.waitForResponses(1, { timeout: 60_000 })))
  t.equal(started, N, 'every call started before any answered')
  t.ok(replies.every((r) => r.length === 1 && r[0].statusCode === 200), 'all 400 answered 200')
  for (const c of clients) c.destroy()
})

t.test('a call whose request body is still arriving holds no slot (threads 1)', async (t) => {
  // Bodies larger than bufferBody stream to their app; 4 uploads that trickle must not keep a
  // GET waiting behind them even with one slot.
  const { port, server } = await startServer(
    t,
    async (req: Request, res: Response) => {
      if (req.method === 'POST') {
        let bytes = 0
        for await (const chunk of req) bytes += (chunk as Buffer).length
        res.end(`${bytes}\n`)
        return
      }
      res.end('ok\n')
    },
    { threads: 1, bufferBody: 1024 },
  )
  const uploads = await Promise.all(Array.from({ length: 4 }, () => RawClient.connect(port)))
  for (const u of uploads) await u.write('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n' + 'a'.repeat(5000))
  t.ok(await eventually(() => server.requestCount === 4, 10_000), 'the 4 upload calls started')
  const reply = await httpRequest(`http://127.0.0.1:${port}/`, { agent: false })
  t.equal(reply.status, 200, 'a GET is served while 4 bodies are arriving')
  t.equal(reply.body.toString(), 'ok\n')
  for (const u of uploads) await u.write('b'.repeat(5000))
  const answers = await Promise.all(uploads.map((u) => u.waitForResponses(1, { timeout: 20_000 })))
  t.ok(answers.every((a) => a[0].statusCode === 200 && a[0].body.toString() === '10000\n'), 'the uploads finish as they should')
  for (const u of uploads) u.destroy()
})

t.test('--timeout does not count the time a request body takes to arrive; it starts once the body is in', async (t) => {
  const s = await startServer(
    t,
    async (req: Request, res: Response) => {
      const body = await req.body()
      if (req.url === '/hang') return
      res.end(`${body.length}\n`)
    },
    { appTimeout: 1000, bufferBody: 0 },
  )
  // A body sent over 2.5 s, over twice the app timeout, at a fine rate for its size.
  const c = await RawClient.connect(s.port)
  await c.write('POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\na')
  for (let i = 0; i < 5; i++) {
    await sleep(500)
    await c.write('b')
  }
  const [reply] = await c.waitForResponses(1)
  t.equal(reply.statusCode, 200, 'answered: the wait was the client\'s')
  t.equal(reply.body.toString(), '6\n')
  // An app that hangs once its body is in still gets its 503 after the timeout.
  const started = Date.now()
  await c.write('POST /hang HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz')
  const replies = await c.waitForResponses(2, { timeout: 20_000 })
  t.equal(replies[1].statusCode, 503)
  t.ok(Date.now() - started >= 1000, 'not before the timeout')
  c.destroy()
})

/** Burns `ms` of CPU on the loop, as a handler with synchronous work does. */
function busy(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end);
}

t.test('a saturated event loop sheds new requests with 503 and Retry-After, keeps the connections, and recovers', async (t) => {
  // 40 clients, each sending its next request 150 ms after the last is answered, to an app that
  // does 10 ms of synchronous work: 250 requests a second where 100 can be served, up to 400 ms
  // of work queued behind the loop, 80x the app's own latency. (The pause is what makes them
  // independent clients: ones that came straight back after a 503 would make shedding futile.)
  const s = await startServer(t, (_req: Request, res: Response) => {
    busy(10)
    res.end('done\n')
  })
  const clients = await Promise.all(Array.from({ length: 40 }, () => RawClient.connect(s.port)))
  let ok = 0
  let shed = 0
  const shedSeen: { headers: Record<string, string>; body: string }[] = []
  const deadline = Date.now() + 60_000
  const loop = async (c: RawClient): Promise<void> => {
    let sent = 0
    // Until 5 have been shed (and at least 50 served) across all clients, or a minute passes.
    while ((shed < 5 || ok < 50) && Date.now() < deadline && !c.closed) {
      await c.write(get('/'))
      sent++
      const responses = await c.waitForResponses(sent, { timeout: 30_000 })
      const last = responses[sent - 1]
      if (last.statusCode === 200) ok++
      else if (last.statusCode === 503) {
        shed++
        if (shedSeen.length < 3) shedSeen.push({ headers: last.headers as unknown as Record<string, string>, body: last.body.toString() })
      }
      await sleep(150)
    }
  }
  await Promise.all(clients.map(loop))
  t.ok(shed >= 1, `requests were shed (${shed} 503s, ${ok} served)`)
  t.ok(ok >= 50, 'and others served')
  t.ok(clients.every((c) => !c.closed), 'every connection stayed open after its 503s')
  const first = shedSeen[0]
  t.match(JSON.stringify(first.headers), /retry-after/i, 'the 503 carries Retry-After')
  t.equal(first.body, 'The server is busy: try again later\n')
  t.match(s.errText(), /WARN: Overloaded: the event loop is saturated \(requests wait \d+ ms behind it, over \d+ ms\); new requests get 503/)
  // The load stops: new requests are served again, on the same connections.
  const guard = (s.server as unknown as { settings: { dispatcher: { guard: LoadGuard } } }).settings.dispatcher.guard
  t.ok(await eventually(() => !guard.saturated, 10_000), 'the loop is no longer saturated')
  const c = clients[0]
  const before = c.responses().length
  await c.write(get('/'))
  const after = await c.waitForResponses(before + 1, { timeout: 10_000 })
  t.equal(after[before].statusCode, 200, 'once the load is gone, the same connection is served')
  for (const client of clients) client.destroy()
})

t.test('clients that come straight back after their 503s (a closed loop): shedding stops, all are served in turn', async (t) => {
  const s = await startServer(t, (_req: Request, res: Response) => {
    busy(10)
    res.end('done\n')
  })
  const guard = (s.server as unknown as { settings: { dispatcher: { guard: LoadGuard } } }).settings.dispatcher.guard
  const clients = await Promise.all(Array.from({ length: 40 }, () => RawClient.connect(s.port)))
  let ok = 0
  let shed = 0
  let futileSeen = false
  const deadline = Date.now() + 60_000
  const loop = async (c: RawClient): Promise<void> => {
    let sent = 0
    while (!(futileSeen && ok >= 200) && Date.now() < deadline) {
      await c.write(get('/'))
      sent++
      const last = (await c.waitForResponses(sent, { timeout: 30_000 }))[sent - 1]
      if (last.statusCode === 200) ok++
      else shed++
      if (guard.futile) futileSeen = true
    }
  }
  await Promise.all(clients.map(loop))
  t.ok(futileSeen, `the guard saw its 503s come straight back (${shed} 503s, ${ok} served)`)
  t.ok(ok >= 200, 'and went on serving')
  for (const client of clients) client.destroy()
})

t.test('a request shed while its body is arriving gets 503 and its connection closes', async (t) => {
  const s = await startServer(
    t,
    async (req: Request, res: Response) => {
      // The work is synchronous, before the body is read: the guard times it.
      busy(10)
      if (req.method === 'POST') await req.body()
      res.end('done\n')
    },
    { bufferBody: 0 },
  )
  const clients = await Promise.all(Array.from({ length: 40 }, () => RawClient.connect(s.port)))
  let closedOn503 = 0
  const deadline = Date.now() + 60_000
  const loop = async (c: RawClient): Promise<void> => {
    let sent = 0
    while (closedOn503 === 0 && Date.now() < deadline && !c.closed) {
      // A POST whose body follows its head in a later write: shed before the body is in.
      await c.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n')
      sent++
      await sleep(1)
      if (!c.closed) await c.write('abcd').catch(() => {})
      const responses = await c.waitForResponses(sent, { timeout: 30_000 })
      const last = responses[sent - 1]
      if (last !== undefined && last.statusCode === 503) {
        await c.waitForClose(10_000)
        closedOn503++
      }
    }
  }
  await Promise.all(clients.map(loop))
  t.ok(closedOn503 >= 1, 'a 503 for a request whose body was arriving closed its connection')
  for (const client of clients) client.destroy()
})

t.test('LoadGuard: admits everything until the loop is saturated and its calls costly; the budget follows the app', async (t) => {
  const guard = new LoadGuard()
  t.equal(guard.budget, Infinity, 'no app call seen: nothing is shed')
  t.equal(guard.waited(), 0, 'not saturated: no wait counted')
  t.ok(guard.admit())
  for (let i = 0; i < 16; i++) guard.observe(40 + i)
  t.equal(guard.budget, 200, 'five times the quickest call')
  guard.observe(1)
  t.equal(guard.budget, 10, 'never under 10 ms')
  t.ok(guard.warm, 'a guard never started: its calls may be timed')
  guard.start()
  guard.start()
  t.teardown(() => guard.stop())
  t.notOk(guard.warm, "a server's first seconds: its calls are not timed (compiling code looks costly)")
  ;(guard as unknown as { warmAt: number }).warmAt = 0
  // Saturate the loop with calls of 5 ms of synchronous work, yielding for the guard's timer.
  const saturated = await (async () => {
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      busy(60)
      for (let i = 0; i < 25; i++) if (guard.saturated) guard.spent(10)
      await new Promise((resolve) => setImmediate(resolve))
      if (guard.saturated && guard.costly) return true
    }
    return false
  })()
  t.ok(saturated, 'two busy windows in a row: saturated; 10 ms a call: costly')
  t.ok(guard.warm, 'past its first seconds')
  guard.waited()
  busy(30)
  t.ok(guard.waited() >= 30, 'a request read later in the same turn has waited that long')
  t.notOk(guard.admit(), 'over a 10 ms budget: shed')
  guard.stop()
  guard.stop()
  t.notOk(guard.saturated, 'stopped: nothing is shed')
  t.notOk(guard.costly)
  t.ok(guard.admit())
})

/** Drives the guard's judgement by hand: `windows` busy windows with `calls` calls of `ms` each. */
function saturate(guard: LoadGuard, windows: number, calls: number, ms: number): void {
  const g = guard as unknown as { judge(): void }
  for (let round = 0; round < windows; round++) {
    busy(60)
    if (guard.saturated) for (let i = 0; i < calls; i++) guard.spent(ms)
    g.judge()
  }
}

t.test('LoadGuard: calls that cost the loop little are never shed (a 503 would save nothing)', async (t) => {
  const guard = new LoadGuard()
  for (let i = 0; i < 16; i++) guard.observe(0)
  saturate(guard, 4, 5, 10)
  t.ok(guard.saturated)
  t.notOk(guard.costly, 'too few calls timed to tell')
  saturate(guard, 1, 6, 10)
  t.ok(guard.costly, 'calls timed over several windows: costly')
  saturate(guard, 1, 16, 0.05)
  t.notOk(guard.costly, 'then cheap: the verdict follows the last calls timed')
  saturate(guard, 4, 100, 0.05)
  t.ok(guard.saturated, 'saturated')
  t.notOk(guard.costly, '0.05 ms a call: the loop is busy with many cheap requests')
  guard.waited()
  busy(30)
  t.ok(guard.waited() >= 30)
  t.ok(guard.admit(), 'a 30 ms wait is served')
  saturate(guard, 2, 40, 0.5)
  t.notOk(guard.costly, '0.5 ms a call: under the 1.5 ms bar')
  saturate(guard, 2, 40, 2)
  t.ok(guard.costly, '2 ms a call')
  guard.waited()
  busy(30)
  t.notOk(guard.admit(), 'and now a 30 ms wait is shed')
  // A quieter window (shedding itself lowers the loop's utilization) does not end saturation;
  // two calm windows in a row do. What a call costs is kept for the next episode.
  const g = guard as unknown as { judge(): void }
  await sleep(60)
  g.judge()
  t.ok(guard.saturated, 'one calm window: still saturated')
  saturate(guard, 1, 0, 0)
  await sleep(60)
  g.judge()
  t.ok(guard.saturated, 'calm windows not in a row: still saturated')
  await sleep(60)
  g.judge()
  t.notOk(guard.saturated, 'two calm windows in a row: saturation has ended')
  t.ok(guard.admit(), 'nothing is shed')
  t.ok(guard.costly, 'the cost of a call is remembered')
  saturate(guard, 1, 0, 0)
  t.ok(guard.saturated, 'costly calls known: one busy window saturates')
  guard.waited()
  busy(30)
  t.notOk(guard.admit(), 'the next episode sheds from its first saturated window')
})

t.test('LoadGuard: shedding is futile when most clients shed come straight back', async (t) => {
  const guard = new LoadGuard()
  for (let i = 0; i < 15; i++) guard.cameBack(1)
  t.notOk(guard.futile, 'judged by batches of 16')
  guard.cameBack(1)
  t.ok(guard.futile, 'a batch that came straight back')
  for (let i = 0; i < 16; i++) guard.cameBack(i % 3 === 0 ? 1 : 500)
  t.notOk(guard.futile, 'a batch of clients that waited: shedding works')
  for (let i = 0; i < 16; i++) guard.cameBack(1)
  t.ok(guard.futile)
  for (let i = 0; i < 16; i++) guard.observe(1)
  saturate(guard, 4, 40, 10)
  guard.waited()
  busy(30)
  t.ok(guard.admit(), 'futile: nothing is shed')
})

t.test('LoadGuard: a period without calls keeps the app latency known before it', async (t) => {
  const guard = new LoadGuard()
  for (let i = 0; i < 16; i++) guard.observe(20)
  const g = guard as unknown as { periodStart: number; judge(): void; fastestBefore: number }
  g.periodStart = 0
  g.judge()
  t.equal(g.fastestBefore, 20, 'a full period moves to the previous one')
  t.equal(guard.budget, 100)
  g.periodStart = 0
  g.judge()
  t.equal(guard.budget, 100, 'an empty period changes nothing')
})

t.test('Dispatcher: while the loop is saturated it times about one call a millisecond of app time, counted in calls', async (t) => {
  let cost = 0
  // The app's cost on the loop's own clock, whatever the machine's other work takes from it.
  const work = (): void => {
    const end = loopClock() + cost
    while (loopClock() < end);
  }
  const dispatcher = new Dispatcher(work, 1_000_000, 1_000_000, -1, memoryLog().log)
  const guard = dispatcher.guard
  const timed: number[] = []
  const spent = guard.spent.bind(guard)
  guard.spent = (ms: number) => {
    timed.push(ms)
    spent(ms)
  }
  const res = { req: { url: '/', complete: true }, destroyed: false, release: null } as unknown as import('../lib/response.js').Response
  const release = (): void => {}
  for (let i = 0; i < 300; i++) dispatcher.call(res, release)
  t.equal(timed.length, 0, 'not saturated: nothing timed')
  guard.saturated = true
  for (let i = 0; i < 1000; i++) dispatcher.call(res, release)
  // (A call of no cost still costs the two clock reads: one in 50 to 256 is timed.)
  t.ok(timed.length >= 3 && timed.length <= 25, `calls of no cost: a few timed (${timed.length} of 1,000)`)
  timed.length = 0
  cost = 2
  for (let i = 0; i < 400; i++) dispatcher.call(res, release)
  const first = 400 - timed.length
  t.ok(first <= 256, `calls of 2 ms: every one timed from the first one timed (the first after ${first})`)
  t.ok(timed.every((ms, i) => i === 0 || ms >= 2), 'each at its cost')
  ;(guard as unknown as { judge(): void }).judge()
  t.ok(guard.costly, 'and they are costly')
})
