// The arbiter under load: a worker killed, a HUP reload, --max-requests recycling, each while
// a load loop of keep-alive clients runs; the failed requests are counted (and printed as
// comments with the reload time and the workers' RSS).
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LOCAL, start } from './helpers/cli.js'
import { children, stat, stderrMatch, until } from './helpers/arbiter.js'
import { Load } from './helpers/load.js'

const CLIENTS = 8
// The arbiter's lines about a recycle and a boot.
const RECYCLE = /INFO: Worker \(pid:(\d+)\) served \d+ requests \(--max-requests\): recycling it once its replacement listens/
const BOOT = /INFO: Booting worker with pid (\d+)/

function rss(pids: number[]): string {
  return pids.map((pid) => `${Math.round((stat(pid)?.rss ?? 0) / 1048576)} MiB`).join(', ')
}

function writeApp(dir: string, text: string): void {
  writeFileSync(join(dir, 'app.mjs'), `export default (req, res) => res.end(${JSON.stringify(text)})\n`)
}

for (const workers of [1, 2]) {
  t.test(`HUP under load, ${workers} worker(s) (${workers === 1 ? 'shared socket' : 'round-robin'}): no failed request, the new code answers`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pegasus-load-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    writeApp(dir, 'v1')
    const { cli, port } = await start(t, [...LOCAL, '--workers', String(workers), '--no-access-log', '--chdir', dir, 'app.mjs'])
    const primary = cli.child.pid as number
    await until(() => children(primary).length === workers)
    const old = children(primary)
    const load = new Load(port, '/', CLIENTS)
    await load.answers(500)
    writeApp(dir, 'v2')
    const started = Date.now()
    cli.child.kill('SIGHUP')
    // Reloaded: the old workers are gone and the new code answers.
    await until(() => !children(primary).some((pid) => old.includes(pid)) && (load.result.bodies.get('v2') ?? 0) > 0)
    const reloadTime = Date.now() - started
    await load.answers(500)
    const result = await load.stop()
    t.comment(`${result.ok} answers, ${result.failed} failed; reload ${reloadTime} ms (the old workers drain their keep-alive connections); workers' RSS: ${rss(children(primary))}`)
    t.equal(result.failed, 0, `no failed request (${result.errors.slice(0, 3).join('; ')})`)
    t.ok((result.bodies.get('v1') ?? 0) > 0 && (result.bodies.get('v2') ?? 0) > 0, 'v1 before, v2 after')
  })
}

t.test('kill -9 a worker under load: only its requests in flight fail', { timeout: 60_000 }, async (t) => {
  const { cli, port } = await start(t, [...LOCAL, '--workers', '2', '--no-access-log', 'test/apps/worker.mjs'])
  const primary = cli.child.pid as number
  // Both listen before the load's keep-alive connections are made (round-robin spreads those).
  const seen = new Set<string>()
  while (seen.size < 2) seen.add(await (await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } })).text())
  const load = new Load(port, '/', CLIENTS)
  await until(() => load.result.bodies.size === 2)
  const [victim] = children(primary)
  process.kill(victim, 'SIGKILL')
  await stderrMatch(cli, new RegExp(`Worker \\(pid:${victim}\\) was killed by signal SIGKILL`))
  await until(() => children(primary).length === 2)
  await load.answers(1000)
  const result = await load.stop()
  t.comment(`${result.ok} answers, ${result.failed} failed (${result.errors.slice(0, 4).join('; ')})`)
  // At most one request a connection was in flight, and about half the connections were its.
  t.ok(result.failed <= CLIENTS, 'no more failures than connections')
})

t.test('--max-requests under load: recycled one at a time, no failed request', async (t) => {
  // --worker-timeout 0: no watchdog. This test is about recycling; a tight timeout (1 s) also
  // counts a worker's start-up (node and Pegasus loading, before its first beat), which on a
  // busy machine takes longer: the arbiter then aborts booting workers and boots others.
  const { cli, port } = await start(t, [
    ...LOCAL,
    '--workers',
    '2',
    '--no-access-log',
    '--max-requests',
    '300',
    '--max-requests-jitter',
    '50',
    '--worker-timeout',
    '0',
    'test/apps/worker.mjs',
  ])
  const load = new Load(port, '/', CLIENTS)
  // Four recycles, each written with its replacement's boot (one write); the last replacement
  // listens once it answers.
  const [four] = await cli.waitFor(new RegExp(`(?:${RECYCLE.source}\n${BOOT.source}\n[^]*?){4}`))
  const last = [...four.matchAll(new RegExp(BOOT, 'g'))].at(-1)?.[1]
  await until(() => load.result.bodies.has(`${last}\n`))
  const result = await load.stop()
  t.equal(result.failed, 0, `no failed request (${result.errors.slice(0, 3).join('; ')})`)
  t.equal(cli.stderr, '', 'no worker timed out, failed to boot or crashed')
  // One at a time: the first two boots, then each recycle and the one replacement it boots. (A
  // retired worker may still be draining when the next recycle starts: once the load stops, they
  // all exit and the two workers remain.)
  const events = [...cli.stdout.matchAll(new RegExp(`^(?:${RECYCLE.source}|${BOOT.source})$`, 'gm'))].map((m) =>
    m[1] !== undefined ? `recycle ${m[1]}` : `boot ${m[2]}`,
  )
  t.comment(`${result.ok} answers; ${events.join(', ')}`)
  const booted = new Set<string>()
  events.forEach((event, i) => {
    const [kind, pid] = event.split(' ')
    if (i < 2 || i % 2 === 1) {
      t.equal(kind, 'boot', `${event}: ${i < 2 ? 'one of the first two workers' : 'the replacement of the recycle before it'}`)
      booted.add(pid)
    } else {
      t.equal(kind, 'recycle', `${event}: a recycle, after the previous one's replacement booted`)
      t.ok(booted.delete(pid), `${event}: a worker that was serving, recycled once`)
    }
  })
  t.ok(events.length >= 2 + 2 * 4, 'at least four recycles')
  await until(() => children(cli.child.pid as number).length === 2)
  t.pass('the recycled workers exit: two workers remain')
})
