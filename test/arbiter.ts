// The arbiter as its users meet it: the CLI run as a process with workers, sent signals, its
// workers crashed, blocked and recycled (the load tests are in test/arbiter-load.ts).
import t, { type Test } from 'tap'
import { connect } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LOCAL, root, run, start } from './helpers/cli.js'
import { children, sleep, stat, stderrMatch, until } from './helpers/arbiter.js'
import { describeStall, Watchdog } from '../lib/cli/watchdog.js'
import { requestLimit } from '../lib/cli/arbiter.js'
import { reusePortSupported } from '../lib/binds.js'
import { beatInterval } from '../lib/cli/protocol.js'

const APP = 'test/apps/worker.mjs'

/** The pid of the worker that answers, on a new connection each time. */
async function pid(base: string, path = '/'): Promise<number> {
  return Number(await (await fetch(`${base}${path}`, { headers: { connection: 'close' } })).text())
}

/** Waits until `n` workers answer (round-robin spreads new connections over those listening). */
async function allListening(base: string, n: number): Promise<number[]> {
  const seen = new Set<number>()
  while (seen.size < n) seen.add(await pid(base))
  return [...seen].sort((a, b) => a - b)
}

/** A directory holding app.mjs, which answers `text`; removed at the test's end. */
function appDir(t: Test, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pegasus-arbiter-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeApp(dir, text)
  return dir
}

function writeApp(dir: string, text: string): void {
  writeFileSync(join(dir, 'app.mjs'), `export default (req, res) => res.end(${JSON.stringify(text)} + ' ' + process.pid)\n`)
}

t.test('--workers 3: one set of startup lines, a line a worker, and three pids answering', async (t) => {
  const { cli, base } = await start(t, [...LOCAL, '--workers', '3', APP])
  const workers = await allListening(base, 3)
  t.match(cli.stdout, /^INFO: Listen at "127\.0\.0\.1:\d+"\nINFO: Threads: \d+\nINFO: Interface: node \(node:http handler\)\nINFO: Booting worker/, 'the startup lines first')
  t.same(children(cli.child.pid as number), workers, 'its three children answer')
  t.equal((cli.stdout.match(/^INFO: Booting worker with pid \d+$/gm) ?? []).length, 3)
  t.equal(await cli.stop(), 0)
  t.match(cli.stdout, /INFO: Shutting down\n/)
})

for (const path of ['/crash', '/reject']) {
  t.test(`an exception the app lets escape (${path}): logged once, requests in flight finish, the worker is replaced`, async (t) => {
    const { cli, base } = await start(t, [...LOCAL, '--keep-alive', '1', 'test/apps/crash.mjs:app'])
    const [first] = children(cli.child.pid as number)
    const inFlight = fetch(`${base}/slow`).then((res) => res.text())
    await sleep(50)
    t.equal(await (await fetch(`${base}${path}`)).text(), path === '/crash' ? 'answered, then crashed\n' : 'answered, then rejected\n')
    t.equal(await inFlight, '/slow done\n', 'the request in flight is answered')
    await stderrMatch(cli, new RegExp(`^ERROR: Worker \\(pid:${first}\\) exited with code 1$`, 'm'))
    t.equal((await fetch(`${base}/next`)).status, 200, 'its replacement serves')
    const errors = cli.stderr.match(/^ERROR: .*/gm) ?? []
    t.same(errors, [
      'ERROR: Uncaught exception: no new connections; requests in flight get 30 s, then exit 1',
      `ERROR: Worker (pid:${first}) exited with code 1`,
    ])
    t.match(cli.stderr, path === '/crash' ? /Error: boom in a timer\n\s+at / : /Error: rejected in a timer\n\s+at /, 'with its stack')
    t.match(cli.stdout, /^INFO: Booting worker with pid \d+$/m, 'the replacement')
    t.not(children(cli.child.pid as number)[0], first)
  })
}

t.test('a second uncaught exception while the worker drains is logged too', async (t) => {
  const { cli, base } = await start(t, [...LOCAL, '--keep-alive', '1', 'test/apps/crash.mjs:app'])
  const inFlight = fetch(`${base}/slow`).then((res) => res.text())
  await sleep(50)
  await (await fetch(`${base}/crash-twice`)).text()
  t.equal(await inFlight, '/slow done\n')
  await stderrMatch(cli, /exited with code 1$/m)
  t.same(cli.stderr.match(/^ERROR: (Uncaught|Another).*/gm), [
    'ERROR: Uncaught exception: no new connections; requests in flight get 30 s, then exit 1',
    'ERROR: Another uncaught exception while shutting down',
  ])
  t.match(cli.stderr, /Error: second boom\n\s+at /)
})

t.test('a worker killed is replaced at once; SIGKILL says perhaps out of memory', async (t) => {
  const { cli, base } = await start(t, [...LOCAL, '--workers', '2', APP])
  const [victim, other] = await allListening(base, 2)
  process.kill(victim, 'SIGKILL')
  await stderrMatch(cli, new RegExp(`^ERROR: Worker \\(pid:${victim}\\) was killed by signal SIGKILL, perhaps out of memory$`, 'm'))
  await until(() => children(cli.child.pid as number).length === 2)
  const now = children(cli.child.pid as number)
  t.ok(now.includes(other) && !now.includes(victim), 'replaced')
  // (Round-robin: node:cluster closes the socket when no worker holds it; wait for the new one.)
  const replacement = now.find((pid) => pid !== other)
  while ((await pid(base)) !== replacement);
  process.kill(other, 'SIGSEGV')
  await stderrMatch(cli, new RegExp(`^ERROR: Worker \\(pid:${other}\\) was killed by signal SIGSEGV$`, 'm'))
  t.equal(await pid(base), replacement)
})

t.test('one worker: a crash keeps the port and the connections waiting on it', async (t) => {
  const { cli, base } = await start(t, [...LOCAL, APP])
  const [first] = children(cli.child.pid as number)
  process.kill(first, 'SIGKILL')
  // The arbiter holds the listening socket: a connection made meanwhile waits for the next worker.
  const answer = await pid(base)
  t.not(answer, first, 'the next worker answers on the same port')
  await stderrMatch(cli, /perhaps out of memory/)
})

t.test('a blocked event loop: named by the watchdog, WORKER TIMEOUT, SIGABRT, replaced', async (t) => {
  // 5 s, not less: a busy machine may hold a healthy worker's beats back a while.
  const { cli, base, port } = await start(t, [...LOCAL, '--workers', '2', '--worker-timeout', '5', APP])
  await allListening(base, 2)
  const socket = connect(port, '127.0.0.1', () => socket.write('GET /block?x=1 HTTP/1.0\r\n\r\n'))
  socket.on('error', () => {})
  const closed = new Promise((resolve) => socket.on('close', resolve))
  const [, blocked] = await stderrMatch(cli, /^ERROR: Worker \(pid:(\d+)\) event loop blocked \(no heartbeat for 5 s\), in the app call for "GET \/block\?x=1 HTTP\/1\.0" \(started [\d.]+ s ago\)$/m)
  await stderrMatch(cli, new RegExp(`^ERROR: WORKER TIMEOUT \\(pid:${blocked}\\)\\n`, 'm'))
  // (SIGKILL a second later when SIGABRT is caught: tap's process hooks catch it in tests.)
  await stderrMatch(cli, new RegExp(`^ERROR: Worker \\(pid:${blocked}\\) was killed by signal SIG(ABRT|KILL)$`, 'm'))
  await closed
  t.pass('its connection is closed')
  await until(() => children(cli.child.pid as number).length === 2)
  t.not(await pid(base), Number(blocked), 'the others serve')
})

t.test('TTIN and TTOU add and remove workers, never below one', async (t) => {
  const { cli, base } = await start(t, [...LOCAL, '--balance', 'round-robin', APP])
  const primary = cli.child.pid as number
  // One at a time: signals of a kind sent together may arrive as one.
  cli.child.kill('SIGTTIN')
  await cli.waitFor(/^INFO: SIGTTIN: 2 workers$/m)
  await allListening(base, 2)
  cli.child.kill('SIGTTIN')
  await cli.waitFor(/^INFO: SIGTTIN: 3 workers$/m)
  const three = await allListening(base, 3)
  cli.child.kill('SIGTTOU')
  await cli.waitFor(/^INFO: SIGTTOU: 2 workers$/m)
  cli.child.kill('SIGTTOU')
  await cli.waitFor(/^INFO: SIGTTOU: 1 worker$/m)
  cli.child.kill('SIGTTOU')
  await cli.waitFor(/^INFO: SIGTTOU: 1 worker\n(.|\n)*^INFO: SIGTTOU: 1 worker$/m)
  // The oldest go first: the last one booted stays.
  await until(() => children(primary).length === 1)
  t.same(children(primary), [three[2]])
  t.not(stat(primary)?.state, 'T', 'the primary is not stopped')
  t.equal(await cli.stop(), 0)
})

/** True when something listens on 127.0.0.1:9229 (the inspector's port). */
function inspectorOpen(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(9229, '127.0.0.1', () => {
      socket.destroy()
      resolve(true)
    })
    socket.on('error', () => resolve(false))
  })
}

t.test('signals meant for the arbiter do nothing to a worker; USR1 opens no inspector', async (t) => {
  const before = await inspectorOpen()
  const { cli, base } = await start(t, [...LOCAL, APP])
  const primary = cli.child.pid as number
  const [worker] = children(primary)
  for (const signal of ['SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGUSR1', 'SIGUSR2'] as const) process.kill(worker, signal)
  await sleep(200)
  t.equal(await pid(base), worker, 'the same worker serves')
  t.not(stat(worker)?.state, 'T', 'not stopped')
  // (A worker reopens its files when its arbiter tells it: on Node >= 22.14 it runs with
  // --disable-sigusr1, where a SIGUSR1 sent to it reaches nothing.)
  cli.child.kill('SIGUSR1')
  await cli.waitFor(/^INFO: SIGUSR1: reopening log files\n/m)
  await cli.waitFor(new RegExp(`^INFO: Worker \\(pid:${worker}\\) reopened its log files$`, 'm'))
  t.pass('the primary tells its workers')
  cli.child.kill('SIGUSR2')
  await cli.waitFor(/^INFO: SIGUSR2 ignored: Pegasus does not re-exec itself; SIGHUP reloads the app$/m)
  t.equal(await inspectorOpen(), before, 'no inspector port opened')
  t.same(children(primary), [worker])
  t.equal(await cli.stop(), 0)
})

t.test('SIGTERM during a long stream: the stream is cut after --graceful-timeout, exit 0', async (t) => {
  const { cli, base } = await start(t, [...LOCAL, '--graceful-timeout', '1', APP])
  const res = await fetch(`${base}/stream`)
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  await reader.read()
  const exited = cli.stop('SIGTERM')
  const ended = (async () => {
    try {
      while (!(await reader.read()).done);
      return 'ended'
    } catch {
      return 'cut'
    }
  })()
  t.equal(await exited, 0)
  t.ok(['ended', 'cut'].includes(await ended), 'the client is not left waiting')
  t.match(cli.stderr, /^WARN: Worker \(pid:\d+\) graceful timeout: closing 1 connection\(s\) still open$/m)
})

t.test('SIGINT: quick, requests in flight are not waited for', async (t) => {
  const { cli, base } = await start(t, [...LOCAL, '--workers', '2', APP])
  const slow = fetch(`${base}/slow`).then(
    () => 'answered',
    () => 'cut',
  )
  await sleep(100)
  t.equal(await cli.stop('SIGINT'), 0)
  t.equal(await slow, 'cut')
})

t.test('HUP loads the changed app; a reload whose workers cannot boot keeps the old ones', async (t) => {
  const dir = appDir(t, 'v1')
  const { cli, base } = await start(t, [...LOCAL, '--chdir', dir, 'app.mjs'])
  t.match(await (await fetch(base)).text(), /^v1 \d+$/)
  writeApp(dir, 'v2')
  cli.child.kill('SIGHUP')
  await cli.waitFor(/^INFO: SIGHUP: reloading: booting 1 new worker; the old ones drain once they listen$/m)
  await until(() => children(cli.child.pid as number).length === 1 && cli.stdout.includes('Booting worker'))
  let text = ''
  for (;;) {
    text = await (await fetch(base)).text()
    if (text.startsWith('v2')) break
  }
  t.match(text, /^v2 \d+$/, 'the new code answers')
  writeFileSync(join(dir, 'app.mjs'), 'export default {{ broken\n')
  cli.child.kill('SIGHUP')
  await stderrMatch(cli, /^ERROR: Reload failed after 5 boot failures; the previous workers go on serving$/m)
  t.match(cli.stderr, /failed to boot \(1 in a row\): Cannot load module .*app\.mjs: /)
  t.match(await (await fetch(base)).text(), /^v2 \d+$/, 'the old workers serve')
  // Then no worker at all can boot: a crash leaves the arbiter giving up.
  process.kill(children(cli.child.pid as number)[0], 'SIGKILL')
  t.equal(await cli.exited, 1)
  t.match(cli.stderr, /^ERROR: Giving up after 5 boot failures in a row: Cannot load module /m)
})

t.test('--reload: a change under --chdir restarts the workers; node_modules and dot folders are ignored', async (t) => {
  const dir = appDir(t, 'r1')
  const { cli, base } = await start(t, [...LOCAL, '--reload', '--chdir', dir, 'app.mjs'])
  const first = await (await fetch(base)).text()
  t.match(first, /^r1 \d+$/)
  writeFileSync(join(dir, '.hidden'), 'x')
  writeApp(dir, 'r2')
  await cli.waitFor(/^INFO: .*app\.mjs changed: reloading/m)
  let text = first
  while (!text.startsWith('r2')) text = await (await fetch(base)).text()
  t.match(text, /^r2 \d+$/)
  t.notMatch(cli.stdout, /\.hidden changed/)
})

t.test('--max-worker-memory: a worker over it is recycled, its replacement listening first', async (t) => {
  // --worker-timeout 0: no watchdog (the beats still carry the RSS), which a busy machine could
  // set off while a worker boots.
  const { cli, base } = await start(t, [...LOCAL, '--max-worker-memory', '1', '--worker-timeout', '0', APP])
  const [, recycled] = await cli.waitFor(/^INFO: Worker \(pid:(\d+)\) uses \d+ MiB \(--max-worker-memory 1\): recycling it once its replacement listens$/m)
  await until(() => !children(cli.child.pid as number).includes(Number(recycled)))
  t.not(await pid(base), Number(recycled))
  t.equal(await cli.stop(), 0)
})

/** Sends a request to `/hold` on a socket of its own; resolves with the head of the answer. */
function hold(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n'))
    let text = ''
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      text += chunk
      if (!text.includes('\r\n\r\n')) return
      socket.end()
      resolve(text.slice(0, text.indexOf('\r\n\r\n')))
    })
    socket.on('error', reject)
  })
}

t.test("a recycled worker drains once its own replacement listens, not when another worker does (a crash's)", async (t) => {
  // test/apps/gated.mjs: once `gated` is written, a worker listens when the test says so.
  const dir = mkdtempSync(join(tmpdir(), 'pegasus-gated-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const open = (name: string | number): void => writeFileSync(join(dir, typeof name === 'number' ? `${name}.go` : name), '')
  const args = ['--workers', '2', '--max-requests', '20', '--no-access-log', '--chdir', dir, join(root, 'test/apps/gated.mjs')]
  const { cli, base, port } = await start(t, [...LOCAL, ...args])
  const primary = cli.child.pid as number
  const [recycled, victim] = await allListening(base, 2)
  open('gated')
  // A crash: its replacement boots, and waits.
  process.kill(victim, 'SIGKILL')
  await stderrMatch(cli, new RegExp(`^ERROR: Worker \\(pid:${victim}\\) was killed by signal SIGKILL`, 'm'))
  await until(() => children(primary).length === 2)
  const crashReplacement = children(primary).find((pid) => pid !== recycled) as number
  // The one worker listening holds a request, and serves until it is recycled; its replacement
  // boots, and waits too.
  const held = hold(port)
  // (The replacement's line is the arbiter's next one; a worker's line may come between.)
  const recycle = new RegExp(`^INFO: Worker \\(pid:${recycled}\\) served \\d+ requests \\(--max-requests\\): recycling it once its replacement listens\n[^]*?^INFO: Booting worker with pid (\\d+)$`, 'm')
  const answered = new Set<number>()
  while (!recycle.test(cli.stdout)) answered.add(await pid(base))
  t.same([...answered], [recycled], 'only the recycled worker listened')
  const replacement = Number((cli.stdout.match(recycle) as RegExpMatchArray)[1])
  t.not(replacement, crashReplacement)
  // The crash's replacement listens. Its 'ready' went to the arbiter before its answer, the USR1
  // after it: what the arbiter tells the recycled worker on that 'ready' (the old code: drain)
  // reaches it before the reopen.
  open(crashReplacement)
  while ((await pid(base)) !== crashReplacement);
  cli.child.kill('SIGUSR1')
  await cli.waitFor(new RegExp(`^INFO: Worker \\(pid:${recycled}\\) reopened its log files$`, 'm'))
  open('release')
  t.notMatch(await held, /connection: close/i, 'the recycled worker was not told to drain: its request in flight is answered as usual')
  t.ok(children(primary).includes(recycled), 'it still serves')
  // Its own replacement listens: now it drains and exits.
  open(replacement)
  await until(() => !children(primary).includes(recycled))
  t.same(children(primary), [crashReplacement, replacement].sort((a, b) => a - b))
  t.same(await allListening(base, 2), children(primary), 'both serve')
  t.equal((cli.stderr.match(/^ERROR: .*/gm) ?? []).length, 1, 'no error but the crash')
  t.equal(await cli.stop(), 0)
})

t.test('--balance reuseport', async (t) => {
  if (!(await reusePortSupported())) {
    const result = await run([...LOCAL, '--balance', 'reuseport', APP])
    t.equal(result.status, 1)
    t.match(result.stderr, /^ERROR: --balance reuseport needs Node\.js 22\.12 or newer/)
    return
  }
  const { cli, base } = await start(t, [...LOCAL, '--workers', '2', '--balance', 'reuseport', APP])
  // The kernel spreads connections by their addresses' hash: a new connection each time.
  t.same(await allListening(base, 2), children(cli.child.pid as number))
})

t.test('the watchdog names what it finds', async (t) => {
  const shared = new SharedArrayBuffer(4 * 4 + 8 + 512)
  t.equal(describeStall(shared, 7, 2000, 0), 'ERROR: Worker (pid:7) event loop blocked (no heartbeat for 2 s); no app call had started\n')
  const ints = new Int32Array(shared, 0, 4)
  Buffer.from(shared, 24).write('GET / HTTP/1.1', 'latin1')
  ints[1] = 3
  ints[2] = 3
  ints[3] = 14
  new Float64Array(shared, 0, 3)[2] = 1000
  t.equal(
    describeStall(shared, 7, 2000, 3500),
    'ERROR: Worker (pid:7) event loop blocked (no heartbeat for 2 s); the last app call to start was "GET / HTTP/1.1" (2.5 s ago), which had returned\n',
  )
})

t.test('the watchdog is ready once its thread runs; a thread that cannot start is an error, not a crash', async (t) => {
  const running = new Watchdog(60_000, 7)
  t.equal(await running.ready, null, 'its thread runs')
  const failing = new Watchdog(60_000, 7, '-', new URL('data:text/javascript,throw new Error("no descriptor left")'))
  const error = await failing.ready
  t.match(error, { message: 'no descriptor left' }, "the thread's failure, settled")
})

t.test('--max-requests jitter, the beat, reusePort by version', async (t) => {
  t.equal(requestLimit(0, 5), 0, 'never')
  t.equal(requestLimit(100, 10, () => 0), 90)
  t.equal(requestLimit(100, 10, () => 1), 110)
  t.equal(requestLimit(1, 10, () => 0), 1, 'at least one')
  t.equal(beatInterval(30_000), 1000)
  t.equal(beatInterval(1000), 250)
  t.equal(beatInterval(1), 10)
})

t.test('round-robin: an address taken is reported by the worker that could not listen, exit 1', async (t) => {
  const { createServer } = await import('node:net')
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => taken.close())
  const { port } = taken.address() as { port: number }
  const result = await run(['--host', '127.0.0.1', '--port', String(port), '--workers', '2', APP])
  t.equal(result.status, 1)
  t.match(result.stderr, new RegExp(`^ERROR: [^\\n]*EADDRINUSE[^\\n]*${port}\\n$`))
  t.equal(result.stdout, '')
})

t.test('a unix socket bind goes through node:cluster', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pegasus-unix-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'p.sock')
  const { Running } = await import('./helpers/cli.js')
  const cli = new Running(['--bind', `unix:${path}`, APP], process.cwd())
  await cli.waitFor(new RegExp(`^INFO: Listen at "unix:${path}"$`, 'm'))
  const http = await import('node:http')
  const body = await new Promise<string>((resolve, reject) => {
    http.get({ socketPath: path, path: '/' }, (res) => {
      let text = ''
      res.on('data', (chunk) => (text += chunk))
      res.on('end', () => resolve(text))
    }).on('error', reject)
  })
  t.same(children(cli.child.pid as number), [Number(body)])
  t.equal(await cli.stop(), 0)
})

t.test('two binds: a Listen line each, both served', async (t) => {
  const { Running } = await import('./helpers/cli.js')
  const cli = new Running(['--bind', '127.0.0.1:0', '--bind', '127.0.0.1:0', APP], process.cwd())
  const [, first, second] = await cli.waitFor(/^INFO: Listen at "127\.0\.0\.1:(\d+)"\nINFO: Listen at "127\.0\.0\.1:(\d+)"\nINFO: Threads/m)
  t.not(first, second)
  const [worker] = children(cli.child.pid as number)
  t.equal(await pid(`http://127.0.0.1:${first}`), worker)
  t.equal(await pid(`http://127.0.0.1:${second}`), worker)
  t.equal(await cli.stop(), 0)
})

t.test('--worker-timeout 0: no heartbeat timeout, a busy worker is left alone', async (t) => {
  const { cli, base } = await start(t, [...LOCAL, '--worker-timeout', '0', APP])
  const first = await pid(base)
  // Several beat intervals go by; with a timeout of 0 read as "kill at once" the worker would go.
  for (let i = 0; i < 6; i++) {
    await sleep(400)
    t.equal(await pid(base), first, `the same worker after ${(i + 1) * 0.4} s`)
  }
  t.notMatch(cli.stderr, /WORKER TIMEOUT|event loop blocked/)
  t.equal(beatInterval(0), 1000, 'beats still carry the request count and RSS, once a second')
})
