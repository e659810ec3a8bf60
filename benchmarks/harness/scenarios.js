// The scenarios. Each takes the harness (h) and returns its table rows: one per server,
// with every round's measurements, their medians and the ratios to the scenario's baseline.
//
// h: { root, bench, tmp, quick, rounds, servers (chosen by --only), log(line) }
import { fork } from 'node:child_process'
import { readFileSync, statSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { checkAnswers, PEGASUS_ACCESS_LOG, PEGASUS_ACCESS_LOG_FILE } from './servers.js'
import { DATABASE_APPS, WAIT_APPS } from './apps.js'
import { freePort, request, run, start, stop, tail, waitUntilAnswering } from './processes.js'
import { cpuByPid, processTree, sampleRss, treeCpuMs, treeRss } from './procfs.js'
import { wrk } from './wrk.js'
import { median, medians } from './stats.js'

export const STREAM_BYTES = 100 * 1024 * 1024

// Scenarios that only the servers built for them take part in (a server's `scenarios`).
const OWN_SERVERS = ['express-json', 'websocket']

// Issue 11's scenarios: their servers, in the order they run (single process, the CLI's
// primary + workers by balance mode, then node:http alone and under node:cluster).
const MEMBERS = {
  overload: ['pegasus', 'node-http', 'fastify', 'bun'], // harness/overload.js
  close: [
    'pegasus-single', 'pegasus', 'pegasus-w1', 'pegasus-w1-rr', 'pegasus-w1-shared', 'pegasus-w1-reuseport',
    'pegasus-w2', 'pegasus-w2-rr', 'pegasus-w2-shared', 'pegasus-w2-reuseport', 'node-http', 'node-cluster', 'node-cluster-shared', 'node-cluster-reuseport',
  ],
  workers: ['pegasus-single', 'pegasus-w1', 'pegasus-w2', 'pegasus-w2-rr', 'pegasus-w2-shared', 'pegasus-w2-reuseport', 'node-http', 'node-cluster'],
  rate: ['pegasus', 'node-http', 'node-net', 'bun', 'nginx'],
  // Issue 18's: the servers that have an app for them (harness/apps.js).
  wait: Object.keys(WAIT_APPS),
  db: Object.keys(DATABASE_APPS),
  queries: Object.keys(DATABASE_APPS),
  fortunes: Object.keys(DATABASE_APPS),
  updates: Object.keys(DATABASE_APPS),
}

/**
 * The chosen servers that take part in `scenario`: close and workers have their own list; a
 * server with a `scenarios` list (Express, ws, the workers) takes part in those only; every other
 * server in every scenario but express-json and websocket.
 */
export function serversFor(h, scenario) {
  if (scenario === 'access-log') return h.servers.filter((s) => s.name === 'pegasus')
  if (scenario in MEMBERS) return MEMBERS[scenario].map((name) => h.servers.find((s) => s.name === name)).filter((s) => s !== undefined)
  return h.servers.filter((s) => (s.scenarios === undefined ? !OWN_SERVERS.includes(scenario) : s.scenarios.includes(scenario)))
}

/** GET /, one wrk thread, 100 keep-alive connections. */
export function hello(h) {
  // The CLI (a primary and a worker since issue 11) against the single process it replaced.
  const compare = [['pegasus', 'pegasus-single']]
  return throughput(h, 'hello', { servers: serversFor(h, 'hello'), baseline: 'node-http', threads: 1, connections: 100, compare })
}

/** The seed's own measurement: wrk -t4 -c400 -d10s GET /. */
export function seed(h) {
  return throughput(h, 'seed', { servers: serversFor(h, 'seed'), baseline: 'node-http', threads: 4, connections: 400 })
}

/** Requests/s of the rate scenario's constant load (--quick: half). */
export const RATE = 10_000

/**
 * The seed's GET / over 400 connections, but at a constant rate (rate-client.mjs, open loop, each
 * request's latency counted from when it was due, as wrk2 does): wrk's closed loop sends less
 * when a server stalls, and so hides the queue a stall makes.
 */
export function rate(h) {
  return throughput(h, 'rate', { servers: serversFor(h, 'rate'), baseline: 'node-http', threads: 1, connections: 400, rate: h.quick ? RATE / 2 : RATE })
}

/** POST /echo/a/b/c?foo=echo&bar=69 with a 1 KiB body, answered as JSON. */
export function echo(h) {
  const script = join(h.bench, 'lua', 'echo.lua')
  return throughput(h, 'echo', { servers: serversFor(h, 'echo'), baseline: 'node-http', threads: 1, connections: 100, script })
}

/** GET / with 16 requests in flight on each of 100 connections. */
export function pipelined(h) {
  const script = join(h.bench, 'lua', 'pipelined.lua')
  return throughput(h, 'pipelined', { servers: serversFor(h, 'pipelined'), baseline: 'node-http', threads: 1, connections: 100, script })
}

/** The Express app only: POST /json with a small JSON document through express.json(), answered as JSON. */
export function expressJson(h) {
  const script = join(h.bench, 'lua', 'express-json.lua')
  return throughput(h, 'express-json', { servers: serversFor(h, 'express-json'), baseline: 'express', threads: 1, connections: 100, script })
}

/**
 * Pegasus with its access log on, to stdout on /dev/null and to a file of its own
 * (--access-logfile), against off, with hello's load.
 */
export function accessLog(h) {
  const pegasus = h.servers.find((s) => s.name === 'pegasus')
  return throughput(h, 'access-log', { servers: [pegasus, PEGASUS_ACCESS_LOG, PEGASUS_ACCESS_LOG_FILE], baseline: 'pegasus', threads: 1, connections: 100 })
}

/**
 * GET / on a new connection every time (`wrk -H 'Connection: close'`, -t1 -c100): the accept
 * path, where a primary between the kernel and the worker (node:cluster's round-robin) costs
 * the most. Ratios to today's single process.
 */
export function close(h) {
  return throughput(h, 'close', {
    servers: serversFor(h, 'close'),
    baseline: 'pegasus-single',
    threads: 1,
    connections: 100,
    headers: ['Connection: close'],
    compare: [
      ['pegasus', 'pegasus-single'],
      ['pegasus-w1-rr', 'pegasus-w1-shared'],
      ['pegasus-w1-reuseport', 'pegasus-w1-shared'],
      ['pegasus-w2-shared', 'pegasus-w2-rr'],
      ['pegasus-w2-reuseport', 'pegasus-w2-rr'],
      ['pegasus-w2', 'node-cluster'],
      ['node-cluster-shared', 'node-cluster'],
      ['node-cluster-reuseport', 'node-cluster'],
      ['pegasus-single', 'node-http'],
    ],
  })
}

/**
 * hello's load (keep-alive, -t1 -c100) on one worker, on two, and on node:http under
 * node:cluster with two. Ratios to --workers 1. wrk shares the two cores: see the README.
 */
export function workers(h) {
  return throughput(h, 'workers', {
    servers: serversFor(h, 'workers'),
    baseline: 'pegasus-w1',
    threads: 1,
    connections: 100,
    compare: [
      ['pegasus-w1', 'pegasus-single'],
      ['pegasus-w2', 'pegasus-w1'],
      ['pegasus-w2', 'node-cluster'],
      ['pegasus-w2-shared', 'pegasus-w2-rr'],
      ['pegasus-w2-reuseport', 'pegasus-w2-rr'],
      ['node-cluster', 'node-http'],
    ],
  })
}

function seconds(h) {
  return h.quick ? 2 : 10
}

// --- wrk scenarios --------------------------------------------------------------------------

/**
 * Starts every server of the scenario once, warms each up for a second, then measures them in
 * turn, A B C ... A B C ..., for h.rounds rounds. Between runs the harness waits until every
 * server's CPU is quiet, so that no server's leftovers (gunicorn's backlog) slow the next one.
 *
 * `app` (the scenarios that wait, harness/apps.js): what each server runs instead of the
 * benchmark app, its label and baseline there, why it cannot run, a check of its answers, and
 * other processes that must be quiet too (PostgreSQL). `path`, `seconds` and `timeout` (wrk's
 * --timeout) default to GET /, the scenario length of --quick or not, and wrk's 2 s.
 */
export async function throughput(h, name, { servers, app, ...load }) {
  const [result] = await throughputLoads(h, { servers, app, loads: [{ name, ...load }] })
  return result
}

/**
 * throughput() for several loads (each a result of its own: name, baseline, threads,
 * connections, ...) on the same servers, started once and measured load after load: the
 * scenarios that wait measure four requests of one app, or two loads of one handler.
 */
export async function throughputLoads(h, { servers, app, loads }) {
  const first = loads[0]
  const launchRows = servers.map((server) => newRow(h, server, first.name, app))
  const running = []
  const results = []
  try {
    const close = (first.headers ?? []).includes('Connection: close')
    for (const row of launchRows.filter((r) => r.status === 'ok')) {
      const instance = await launch(h, row, first.name, { echo: first.name === 'echo', pipelined: first.name === 'pipelined' ? 16 : 0, json: first.name === 'express-json', close }, app)
      if (instance !== null) running.push({ ...instance, rows: [] })
    }
    for (const load of loads) results.push(await measureLoad(h, load, launchRows, running, app))
  } finally {
    await Promise.all(running.map((instance) => finish(instance)))
  }
  return results
}

/** One load on the running servers: warm-up, rounds, medians and ratios (see throughput()). */
async function measureLoad(h, { name, baseline, threads, connections, script, headers = [], compare = [], rate, path, seconds: runSeconds, timeout }, launchRows, running, app) {
  // A row per server for this load, as the launch left it (skipped, or a note of its checks).
  const rows = launchRows.map((row) => ({ ...row, runs: [] }))
  for (const instance of running) {
    instance.row = rows.find((row) => row.server === instance.row.server)
    instance.rows.push(instance.row)
  }
  const secs = runSeconds ?? seconds(h)
  const load = { threads, connections, script, headers, path, timeout }
  // wrk's closed loop, or the constant rate of rate-client.mjs (the rate scenario).
  const measure = rate === undefined ? (port) => wrk({ port, seconds: secs, ...load }) : (port) => rateLoad(h, port, rate, connections, secs)
  for (const instance of running) {
    if (instance.row.status !== 'ok') continue
    await wrk({ port: instance.port, seconds: 1, ...load }).catch(() => {})
    await checkLogFile(h, name, instance)
  }
  for (let round = 1; round <= h.rounds; round++) {
    for (const instance of running) {
      const { row } = instance
      if (row.status !== 'ok') continue
      await settle(running, app?.quiet ?? [])
      if (app !== undefined && !(await drained(instance)) && !row.note.includes('still busy')) {
        row.note = join2(row.note, `round ${round}: still busy ${DRAIN_MS / 1000} s after the previous run (GET / not answered within ${PROMPT_MS} ms): measured behind that queue`)
      }
      if (exited(instance)) {
        fail(row, `exited before round ${round}: ${tail(instance.log)}`)
        continue
      }
      const pid = instance.child.pid
      // An access log file starts each run empty: what a run writes stays on one disk's worth.
      if (instance.logFile !== undefined) truncateSync(instance.logFile, 0)
      const cpuBefore = treeCpuMs(pid)
      const byPidBefore = cpuByPid(pid)
      const rss = sampleRss(pid)
      let result
      try {
        result = await measure(instance.port)
      } catch (error) {
        rss.stop()
        fail(row, `round ${round}: ${error.message}`)
        continue
      }
      const peakRss = rss.stop()
      const cpuMs = treeCpuMs(pid) - cpuBefore
      const split = cpuSplit(pid, byPidBefore, cpuByPid(pid))
      if (exited(instance)) fail(row, `exited during round ${round}: ${tail(instance.log)}`)
      const per1k = (ms) => (result.requests > 0 ? (ms * 1000) / result.requests : null)
      const run = { round, ...result, peakRss, cpuMs, cpuPer1k: per1k(cpuMs), ...split, primaryCpuPer1k: split.processes > 1 ? per1k(split.primaryCpuMs) : null }
      row.runs.push(run)
      h.log(`[${name}] round ${round}/${h.rounds} ${row.label}: ${Math.round(run.rps).toLocaleString('en-US')} req/s, p99 ${run.p99 ?? "–"} ms, ${run.errorCount} errors`)
    }
  }
  for (const row of rows) {
    if (row.runs.length === 0) continue
    row.median = medians(row.runs, ['rps', 'p50', 'p99', 'p999', 'max', 'errorCount', 'peakRss', 'cpuPer1k'])
    if (row.runs.every((r) => r.primaryCpuPer1k !== null)) Object.assign(row.median, medians(row.runs, ['primaryCpuPer1k', 'busiestShare']))
    row.processes = row.runs[row.runs.length - 1].processes
  }
  const metrics = { rps: (r) => r.rps, cpuPer1k: (r) => r.cpuPer1k }
  addRatios(rows, baseline, metrics)
  const comparisons = []
  for (const [a, b] of compare) {
    const rowA = rows.find((r) => r.server === a && r.runs.length > 0)
    const rowB = rows.find((r) => r.server === b && r.runs.length > 0)
    if (rowA !== undefined && rowB !== undefined) comparisons.push({ a, b, labelA: rowA.label, labelB: rowB.label, ratio: ratiosTo(rowA, rowB, metrics) })
  }
  const summary = { threads, connections, seconds: secs, script: script && script.slice(h.bench.length + 1), headers, rate, path, timeout }
  return { name, kind: 'throughput', baseline, load: summary, rows, comparisons }
}

const DRAIN_MS = 30_000
const PROMPT_MS = 100

/**
 * A waiting app uses next to no CPU while requests queue in its server (the warm-up's, or those
 * of the connections wrk closed at the end of the previous run), so settle() passes while a run
 * would start behind that queue. True once GET / is answered within PROMPT_MS (at most DRAIN_MS).
 */
async function drained(instance) {
  const deadline = Date.now() + DRAIN_MS
  while (Date.now() < deadline && !exited(instance)) {
    const started = performance.now()
    const answered = await request(instance.port, { timeoutMs: 5000 }).then(() => true, () => false)
    if (answered && performance.now() - started < PROMPT_MS) return true
    await sleep(100)
  }
  return false
}

/** One run of rate-client.mjs, in wrk's result's shape. */
async function rateLoad(h, port, rate, connections, secs) {
  const args = [join(h.bench, 'rate-client.mjs'), String(port), String(rate), String(connections), String(secs)]
  const { code, stdout, stderr } = await run(process.execPath, args, { timeoutMs: (secs + 30) * 1000 })
  const line = stdout.trim().split('\n').pop() ?? ''
  if (code !== 0 || !line.startsWith('{')) throw new Error(`rate-client exited ${code}: ${(stderr || stdout).trim().split('\n').pop()}`)
  const r = JSON.parse(line)
  const errors = { connect: 0, read: 0, write: 0, timeout: 0, non2xx: r.errors }
  return { requests: r.answered, durationMs: secs * 1000, rps: r.rps, p50: r.p50, p99: r.p99, p999: r.p999, max: r.max, errors, errorCount: r.errors }
}

/**
 * How a run's CPU fell on the tree's processes: the primary (the process started) on its own,
 * and each other process (a worker) as a share of the workers' CPU, the busiest first. A
 * worker's share is how the load was spread (node:cluster's round-robin against one shared
 * socket against SO_REUSEPORT).
 */
function cpuSplit(root, before, after) {
  const primaryCpuMs = (after.get(root) ?? 0) - (before.get(root) ?? 0)
  const workerMs = [...after].filter(([pid]) => pid !== root).map(([pid, ms]) => ms - (before.get(pid) ?? 0))
  const total = workerMs.reduce((a, b) => a + b, 0)
  const shares = total > 0 ? workerMs.map((ms) => ms / total).sort((a, b) => b - a) : []
  return { processes: after.size, primaryCpuMs, workerShares: shares, busiestShare: shares.length > 0 ? shares[0] : null }
}

/**
 * A server with an access log file (`logFile`) must have written its warm-up's lines there: a
 * build that takes --access-logfile but writes elsewhere would be measured with no file at all.
 */
async function checkLogFile(h, scenario, instance) {
  if (instance.logFile === undefined) return
  let size = 0
  for (let i = 0; i < 20 && size === 0; i++) {
    try {
      size = statSync(instance.logFile).size
    } catch {
      // not created (yet)
    }
    if (size === 0) await sleep(100)
  }
  if (size > 0) return
  const { row } = instance
  row.status = 'skipped'
  row.note = join2(row.note, `not supported by this build: ${instance.logFile.slice(h.tmp.length + 1)} still empty after a second of load (the access lines went elsewhere)`)
  h.log(`[${scenario}] ${row.label}: ${row.note}`)
}

// --- idle connections -------------------------------------------------------------------------

/**
 * Opens N keep-alive connections (10,000; --quick 2,000) that each made one request and stay
 * idle, and reports what they cost the server: (RSS with them - RSS before) / connections held.
 * Each round starts the server afresh, warms it up with a second of load and lets it settle.
 */
export async function idle(h) {
  const total = h.quick ? 2000 : 10000
  const rows = serversFor(h, 'idle').map((server) => newRow(h, server, 'idle'))
  for (let round = 1; round <= h.rounds; round++) {
    for (const row of rows) {
      if (row.status !== 'ok') continue
      const instance = await launch(h, row, 'idle', {})
      if (instance === null) continue
      let client = null
      try {
        await wrk({ port: instance.port, seconds: 1, threads: 1, connections: 10 }).catch(() => {})
        await settle([instance])
        const pid = instance.child.pid
        const rssBefore = await steadyRss(pid)
        client = fork(join(h.bench, 'idle-client.mjs'), [String(instance.port), String(total)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
        const opened = await message(client, 'opened', 120_000)
        const rssWith = await steadyRss(pid)
        const { open } = await message(client, 'count', 5_000, { type: 'count' })
        const run = { round, total, opened: opened.opened, failed: opened.failed, openMs: opened.ms, held: open, rssBefore, rssWith, perConnection: open > 0 ? (rssWith - rssBefore) / open : null }
        row.runs.push(run)
        h.log(`[idle] round ${round}/${h.rounds} ${row.label}: ${open} of ${total} held (opened in ${opened.ms} ms), ${format(run.perConnection)} B each`)
      } catch (error) {
        fail(row, `round ${round}: ${error.message}`)
      } finally {
        if (client !== null) client.kill('SIGKILL')
        await finish(instance)
      }
    }
  }
  for (const row of rows) {
    if (row.runs.length === 0) continue
    row.median = medians(row.runs, ['held', 'rssBefore', 'rssWith', 'perConnection'])
    // A server that cannot hold them all is skipped: its figure would not compare with the rest.
    if (row.median.held < total * 0.99) {
      row.status = 'skipped'
      row.note = join2(row.note, `could not hold ${total.toLocaleString('en-US')}: ${Math.round(row.median.held).toLocaleString('en-US')} held, the rest refused, timed out or closed before the measurement`)
    }
  }
  addRatios(rows.filter((r) => r.status === 'ok'), 'node-http', { perConnection: (r) => r.perConnection })
  return { name: 'idle', kind: 'idle', baseline: 'node-http', load: { connections: total }, rows }
}

/** The median of five RSS samples 100 ms apart. */
async function steadyRss(pid) {
  const samples = []
  for (let i = 0; i < 5; i++) {
    samples.push(treeRss(pid))
    await sleep(100)
  }
  return median(samples)
}

/** Sends `send` (if given) and waits for the child's next message of `type`. */
function message(child, type, timeoutMs, send) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no '${type}' from the client within ${timeoutMs / 1000} s`)), timeoutMs)
    const onMessage = (m) => m.type === type && done(null, m)
    const onExit = (code) => done(new Error(`the client exited (${code})`))
    const done = (error, value) => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
      if (error) reject(error)
      else resolve(value)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
    if (send !== undefined) child.send(send)
  })
}

// --- streaming --------------------------------------------------------------------------------

/**
 * One 100 MiB response to a slow reader (64 KiB, then a 1 ms pause): peak RSS of the server
 * while it streams (backpressure holds it down) and the time the transfer took.
 */
export async function streaming(h) {
  const rows = serversFor(h, 'streaming').map((server) => newRow(h, server, 'streaming'))
  for (let round = 1; round <= h.rounds; round++) {
    for (const row of rows) {
      if (row.status !== 'ok') continue
      const instance = await launch(h, row, 'streaming', {})
      if (instance === null) continue
      try {
        await settle([instance])
        const pid = instance.child.pid
        const rssBefore = treeRss(pid)
        const cpuBefore = treeCpuMs(pid)
        const rss = sampleRss(pid)
        const reader = await run(process.execPath, [join(h.bench, 'slow-reader.mjs'), String(instance.port)], { timeoutMs: 150_000 })
        const peakRss = rss.stop()
        const cpuMs = treeCpuMs(pid) - cpuBefore
        const result = JSON.parse(reader.stdout.trim().split('\n').pop() || '{}')
        if (result.status !== 200 || result.bytes !== STREAM_BYTES || !result.complete) {
          fail(row, `round ${round}: the reader got status ${result.status}, ${result.bytes} of ${STREAM_BYTES} bytes${result.complete ? '' : ', incomplete'}`)
          continue
        }
        row.runs.push({ round, ms: result.ms, rssBefore, peakRss, cpuMs })
        h.log(`[streaming] round ${round}/${h.rounds} ${row.label}: ${(result.ms / 1000).toFixed(2)} s, peak RSS ${format(peakRss)} B`)
      } catch (error) {
        fail(row, `round ${round}: ${error.message}`)
      } finally {
        await finish(instance)
      }
    }
  }
  for (const row of rows) {
    if (row.runs.length === 0) continue
    row.median = medians(row.runs, ['ms', 'rssBefore', 'peakRss', 'cpuMs'])
  }
  addRatios(rows, 'node-http', { peakRss: (r) => r.peakRss })
  return { name: 'streaming', kind: 'streaming', baseline: 'node-http', load: { bytes: STREAM_BYTES }, rows }
}

// --- websocket --------------------------------------------------------------------------------

export const WS_CONNECTIONS = 1000
export const WS_MESSAGE_BYTES = 64

/**
 * `ws` echo servers, on node:http and on Pegasus: ws-client.mjs opens 1,000 connections, then
 * each of them sends a 64-byte text message and waits for its echo, again and again, for 10 s
 * (--quick 2 s). Messages/s, round-trip p50/p99, and the server's CPU and peak RSS over the
 * loop. The servers start once and are warmed up (100 connections, 1 s); every round opens
 * fresh connections, and the timed loop starts once all are open. Rounds alternate the order.
 */
export async function websocket(h) {
  const rows = serversFor(h, 'websocket').map((server) => newRow(h, server, 'websocket'))
  const running = []
  const secs = seconds(h)
  try {
    for (const row of rows.filter((r) => r.status === 'ok')) {
      const instance = await launch(h, row, 'websocket', {})
      if (instance !== null) running.push(instance)
    }
    for (const instance of running) {
      await wsLoad(h, instance.port, 100, 1).catch(() => {})
    }
    for (let round = 1; round <= h.rounds; round++) {
      // Every other round in reverse (A B, B A, ...): here the server measured first in a round
      // came out slower (5 rounds, Pegasus first: 0.93x; by hand, node:http first: 1.08x).
      for (const instance of round % 2 === 1 ? running : [...running].reverse()) {
        const { row } = instance
        if (row.status !== 'ok') continue
        await settle(running)
        if (exited(instance)) {
          fail(row, `exited before round ${round}: ${tail(instance.log)}`)
          continue
        }
        const pid = instance.child.pid
        let cpuBefore = 0
        let rss = null
        let result
        try {
          result = await wsLoad(h, instance.port, WS_CONNECTIONS, secs, () => {
            cpuBefore = treeCpuMs(pid)
            rss = sampleRss(pid)
          })
        } catch (error) {
          rss?.stop()
          fail(row, `round ${round}: ${error.message}`)
          continue
        }
        const peakRss = rss.stop()
        const cpuMs = treeCpuMs(pid) - cpuBefore
        if (exited(instance)) fail(row, `exited during round ${round}: ${tail(instance.log)}`)
        const errors = { refused: result.failed, lost: result.lost, unanswered: result.unanswered, wrong: result.wrong }
        const handled = result.messages + result.late
        const run = {
          round,
          opened: result.opened,
          openMs: result.openMs,
          messages: result.messages,
          rate: result.rate,
          p50: result.p50,
          p99: result.p99,
          errors,
          errorCount: errors.refused + errors.lost + errors.unanswered + errors.wrong,
          peakRss,
          cpuMs,
          cpuPer1k: handled > 0 ? (cpuMs * 1000) / handled : null,
        }
        row.runs.push(run)
        if (result.wrong > 0 && !row.note.includes('echoes')) row.note = join2(row.note, `check failed: ${result.wrong} echoes differed from the message sent`)
        if (result.opened < WS_CONNECTIONS) row.note = join2(row.note, `round ${round}: ${result.opened} of ${WS_CONNECTIONS} connections opened`)
        h.log(`[websocket] round ${round}/${h.rounds} ${row.label}: ${Math.round(run.rate).toLocaleString('en-US')} messages/s, p50 ${run.p50?.toFixed(2)} ms, p99 ${run.p99?.toFixed(2)} ms, ${run.errorCount} errors`)
      }
    }
  } finally {
    await Promise.all(running.map((instance) => finish(instance)))
  }
  for (const row of rows) {
    if (row.runs.length === 0) continue
    row.median = medians(row.runs, ['rate', 'opened', 'p50', 'p99', 'peakRss', 'cpuPer1k'])
  }
  addRatios(rows, 'ws', { rate: (r) => r.rate, cpuPer1k: (r) => r.cpuPer1k })
  return { name: 'websocket', kind: 'websocket', baseline: 'ws', load: { connections: WS_CONNECTIONS, seconds: secs, messageBytes: WS_MESSAGE_BYTES }, rows }
}

/**
 * Runs ws-client.mjs against `port`: opens `connections`, calls `beforeGo` once they are all
 * open, then lets them loop for `secs` seconds; resolves with the client's result.
 */
async function wsLoad(h, port, connections, secs, beforeGo = () => {}) {
  const args = [String(port), String(connections), String(secs), String(WS_MESSAGE_BYTES)]
  const client = fork(join(h.bench, 'ws-client.mjs'), args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  try {
    const opened = await message(client, 'opened', 60_000)
    beforeGo()
    const done = await message(client, 'done', (secs + 20) * 1000, { type: 'go' })
    return { ...done, opened: opened.opened, openMs: opened.ms }
  } finally {
    client.kill('SIGKILL')
  }
}

// --- shared -----------------------------------------------------------------------------------

function newRow(h, server, scenario, app) {
  const own = app?.servers[server.name]
  const label = own?.label ?? server.label
  // Express on Pegasus is compared with Express on node:http (`baseline`), and so on.
  const baseline = app === undefined ? server.baseline : own?.baseline
  const row = { server: server.name, label, baseline, status: 'ok', note: '', runs: [], median: null, ratio: null, def: server }
  const unavailable = server.unavailable(h) ?? app?.unavailable?.() ?? null
  const notApplicable = unavailable === null ? server.notApplicable(scenario) : null
  if (unavailable !== null) {
    row.status = 'skipped'
    row.note = unavailable
  } else if (notApplicable !== null) {
    row.status = 'n/a'
    row.note = notApplicable
  }
  return row
}

/**
 * Starts the row's server on a free port and checks its answers; null (and the row skipped
 * with the reason) when it does not come up.
 */
async function launch(h, row, scenario, checks, app) {
  const port = await freePort()
  const spec = app === undefined ? row.def.launch(h, port, scenario) : { ...app.servers[row.server].launch(h, port), env: app.env }
  const log = join(h.tmp, `${row.server}-${scenario}-${port}.log`)
  const child = start(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, output: log, stdoutNull: spec.stdoutNull })
  try {
    await waitUntilAnswering(child, port)
  } catch (error) {
    await stop(child)
    const why = tail(log)
    row.status = 'skipped'
    row.note = `did not start: ${error.message}${why ? ` (${why})` : ''}`
    h.log(`[${scenario}] ${row.label}: ${row.note}`)
    return null
  }
  // The CLI's workers: a build that takes --workers but serves from one process is not what
  // the row says it measures.
  if (row.def.processes !== undefined) {
    const count = await processCount(child.pid, row.def.processes)
    if (count < row.def.processes) {
      await stop(child)
      row.status = 'skipped'
      row.note = `not supported by this build: \`${row.def.flags ?? row.def.name}\` ran ${count} process${count === 1 ? '' : 'es'}, not ${row.def.processes} (a primary and its workers)`
      h.log(`[${scenario}] ${row.label}: ${row.note}`)
      return null
    }
  }
  let wrong = await checkAnswers(port, checks).catch((error) => error.message)
  if (wrong === null && app?.check !== undefined) wrong = await app.check(port).catch((error) => error.message)
  if (wrong !== null && !row.note.includes(wrong)) {
    row.note = join2(row.note, `check failed: ${wrong}`)
    h.log(`[${scenario}] ${row.label}: check failed: ${wrong}`)
  }
  return { row, child, port, log, logFile: spec.logFile }
}

/** The number of processes in the tree of `pid`, once it reaches `expected` or 5 s have passed. */
async function processCount(pid, expected) {
  const deadline = Date.now() + 5_000
  let count = processTree(pid).length
  while (count < expected && Date.now() < deadline) {
    await sleep(100)
    count = processTree(pid).length
  }
  return count
}

// What a server's log says when something went wrong in it (Pegasus: ERROR/WARN lines).
const TROUBLE = /\b(ERROR|WARN|WARNING|CRITICAL|FATAL|Traceback|Exception|Uncaught|\[emerg\]|\[alert\]|\[crit\])\b/

/**
 * Notes the first line of trouble the server's log shows, if any, then stops it (read before
 * the stop: gunicorn warns about the SIGTERM its worker gets from the harness).
 */
async function finish(instance) {
  let lines = []
  try {
    lines = readFileSync(instance.log, 'utf8').split('\n').filter((line) => TROUBLE.test(line))
  } catch {
    // no log
  }
  await stop(instance.child)
  if (lines.length === 0) return
  const text = `its log: ${lines[0].trim().slice(0, 160)}${lines.length > 1 ? ` (+${lines.length - 1} more such lines)` : ''}`
  // Every row it was measured under (throughputLoads: one a load), else the one it was started for.
  for (const row of instance.rows ?? [instance.row]) {
    row.note = join2(row.note, text)
    row.logTrouble = (row.logTrouble ?? []).concat(lines.slice(0, 20))
  }
}

function exited(instance) {
  return instance.child.exitCode !== null || instance.child.signalCode !== null
}

/** Records what went wrong; a row with no measurement left is marked failed. */
function fail(row, why) {
  row.note = join2(row.note, why)
  if (row.runs.length === 0) row.status = 'failed'
}

function join2(a, b) {
  return a === '' ? b : `${a}; ${b}`
}

/**
 * Ratios to the baseline row, round by round (runs of the same round ran close together),
 * then their median. A row whose server names its own baseline (Express on Pegasus: Express on
 * node:http) is compared with that one when it ran; `row.ratioTo` says which row it was, and
 * `row.scenarioRatio` keeps the ratio to the scenario's baseline (for the chart).
 */
function addRatios(rows, baselineName, metrics) {
  const usable = (name) => {
    const base = rows.find((r) => r.server === name)
    return base !== undefined && base.runs.length > 0 ? base : null
  }
  const scenarioBase = usable(baselineName)
  for (const row of rows) {
    if (row.runs.length === 0) continue
    const own = row.baseline !== undefined ? usable(row.baseline) : null
    const base = own ?? scenarioBase
    if (base === null) continue
    row.ratioTo = { server: base.server, label: base.label }
    row.ratio = ratiosTo(row, base, metrics)
    if (own !== null && scenarioBase !== null && own !== scenarioBase) row.scenarioRatio = ratiosTo(row, scenarioBase, metrics)
  }
}

function ratiosTo(row, base, metrics) {
  const ratio = {}
  for (const [key, pick] of Object.entries(metrics)) {
    const ratios = []
    for (const run of row.runs) {
      const baseRun = base.runs.find((r) => r.round === run.round)
      const a = pick(run)
      const b = baseRun === undefined ? null : pick(baseRun)
      if (a !== null && b !== null && b > 0) ratios.push(a / b)
    }
    ratio[key] = ratios.length > 0 ? median(ratios) : null
  }
  return ratio
}

/**
 * Waits until the servers' processes (and `others`: PostgreSQL's) use next to no CPU (at most
 * 5 % of a core over 250 ms), for at most 15 s.
 */
async function settle(instances, others = []) {
  const pids = instances.filter((i) => !exited(i)).map((i) => i.child.pid).concat(others)
  const total = () => pids.reduce((sum, pid) => sum + treeCpuMs(pid), 0)
  const deadline = Date.now() + 15_000
  let before = total()
  while (Date.now() < deadline) {
    await sleep(250)
    const now = total()
    if (now - before <= 12.5) return
    before = now
  }
}

function format(bytes) {
  return bytes === null ? '?' : Math.round(bytes).toLocaleString('en-US')
}

// For scenarios kept in modules of their own (harness/overload.js).
export { exited, fail, finish, launch, newRow, settle }
