// The overload scenario (issue 18): a handler with 2 ms of synchronous work (servers/overload/),
// offered twice what the server can do by an open-loop client at a constant rate
// (overload-client.mjs). Per server and round, in this order:
//   capacity  wrk's closed loop, -t1 -c32: 2xx answered per second. A queue of 32 keeps the
//             server busy while wrk waits for a core (with 8, on this busy 2-core machine, the
//             server idled: goodput at 2x then came out at 110-120% of that capacity)
//   overload  the client at 2x that capacity over 400 connections: goodput (2xx/s), latency of
//             the 2xx answers, 503s (with Retry-After or not) and their latency, what was still
//             owed when the client stopped, resets and closes. Right after the capacity, so that
//             a machine busy with other work moves both alike
//   unloaded  the client at 10% of that capacity over 10 connections: p50 and p99
// Targets (the issue's): accepted p99 <= 10x the unloaded p50; goodput >= 90% of capacity; the
// excess answered by a prompt 503 with Retry-After (nothing left owed, every 503 with
// Retry-After, 503 p99 <= 1 s).
import { join } from 'node:path'
import { run } from './processes.js'
import { sampleRss, treeCpuMs } from './procfs.js'
import { exited, fail, finish, launch, newRow, serversFor, settle } from './scenarios.js'
import { medians } from './stats.js'
import { wrk } from './wrk.js'

export const WORK_MS = 2
export const OFFERED = 2
export const UNLOADED_SHARE = 0.1
export const CONNECTIONS = 400
const UNLOADED_CONNECTIONS = 10
const CAPACITY_CONNECTIONS = 32
export const P99_LIMIT = 10
export const GOODPUT_LIMIT = 0.9
const SHED_P99_LIMIT_MS = 1000

/** Seconds of each phase (grace: how long the client waits for answers still owed). */
function phases(h) {
  return h.quick ? { capacity: 2, unloaded: 2, overload: 4, grace: 1 } : { capacity: 5, unloaded: 5, overload: 10, grace: 2 }
}

const APP = join('benchmarks', 'servers', 'overload')

/** How each server is started with the overload app (Pegasus: its CLI with default flags). */
const LAUNCH = {
  pegasus: (h, port) => ({
    command: h.node,
    args: ['dist/cli.js', '--host', '127.0.0.1', '--port', String(port), '--no-access-log', `${APP}/app.mjs:pegasus`],
    cwd: h.root,
  }),
  'node-http': (h, port) => nodeFile(h, 'node-http.mjs', port),
  fastify: (h, port) => nodeFile(h, 'fastify.mjs', port),
  bun: (h, port) => ({ command: join(h.bench, 'node_modules', '.bin', 'bun'), args: [join(h.root, APP, 'bun.mjs'), String(port), '127.0.0.1'], cwd: join(h.root, APP) }),
}

function nodeFile(h, file, port) {
  return { command: h.node, args: [join(h.root, APP, file), String(port), '127.0.0.1'], cwd: join(h.root, APP) }
}

/**
 * Starts every server once (the harness's checks: GET / answers the benchmark's 200), warms
 * each up for a second, then measures them in turn, A B C ... A B C ..., for h.rounds rounds.
 */
export async function overload(h) {
  const secs = phases(h)
  const rows = serversFor(h, 'overload').map((server) => newRow(h, { ...server, launch: LAUNCH[server.name] }, 'overload'))
  const running = []
  try {
    for (const row of rows.filter((r) => r.status === 'ok')) {
      const instance = await launch(h, row, 'overload', {})
      if (instance !== null) running.push(instance)
    }
    for (const instance of running) await wrk({ port: instance.port, seconds: 1, threads: 1, connections: CAPACITY_CONNECTIONS }).catch(() => {})
    for (let round = 1; round <= h.rounds; round++) {
      for (const instance of running) {
        const { row } = instance
        if (row.status !== 'ok') continue
        if (exited(instance)) {
          fail(row, `exited before round ${round}`)
          continue
        }
        try {
          const result = await measure(h, running, instance, secs)
          row.runs.push({ round, ...result })
          h.log(`[overload] round ${round}/${h.rounds} ${row.label}: ${logLine(result)}`)
        } catch (error) {
          fail(row, `round ${round}: ${error.message}`)
        }
        if (exited(instance)) fail(row, `exited during round ${round}`)
      }
    }
  } finally {
    await Promise.all(running.map((instance) => finish(instance)))
  }
  for (const row of rows) summarize(row)
  const load = { workMs: WORK_MS, offered: OFFERED, unloadedShare: UNLOADED_SHARE, connections: CONNECTIONS, capacityConnections: CAPACITY_CONNECTIONS, ...secs }
  return { name: 'overload', kind: 'overload', load, rows }
}

/** One round on one server: capacity, then 2x capacity, then the unloaded latency. */
async function measure(h, running, instance, secs) {
  const { port } = instance
  const pid = instance.child.pid
  await settle(running)
  const closed = await wrk({ port, seconds: secs.capacity, threads: 1, connections: CAPACITY_CONNECTIONS })
  const capacity = (closed.requests - closed.errors.non2xx) / (closed.durationMs / 1000)
  if (!(capacity > 0)) throw new Error(`no 2xx answers under wrk -c${CAPACITY_CONNECTIONS}`)
  await settle(running)
  const offered = Math.round(capacity * OFFERED)
  const cpuBefore = treeCpuMs(pid)
  const rss = sampleRss(pid)
  let o
  try {
    o = await client(h, port, offered, CONNECTIONS, secs.overload, secs.grace)
  } catch (error) {
    rss.stop()
    throw error
  }
  const peakRss = rss.stop()
  const cpuMs = treeCpuMs(pid) - cpuBefore
  // A server that queued works its queue off first (settle waits for its CPU to go quiet).
  await settle(running)
  const unloadedRate = Math.max(1, Math.round(capacity * UNLOADED_SHARE))
  const unloaded = await client(h, port, unloadedRate, UNLOADED_CONNECTIONS, secs.unloaded, 1)
  return figures({ capacity, closed, unloadedRate, unloaded, offered, o, peakRss, cpuMs })
}

/** A run's numbers, as the table and results.json carry them. */
function figures({ capacity, closed, unloadedRate, unloaded, offered, o, peakRss, cpuMs }) {
  const owed = o.unanswered + o.unsent
  const errors = { reset: o.resets, closed: o.closedInFlight, connect: o.connectErrors, otherStatus: o.other }
  const last = o.timeline[Math.min(o.seconds, o.timeline.length) - 1]
  return {
    capacity,
    capacityErrors: closed.errorCount,
    unloadedRate,
    unloadedP50: unloaded.p50,
    unloadedP99: unloaded.p99,
    // Requests of the unloaded run not answered 2xx (a server that sheds even then, a lost one).
    unloadedNot2xx: unloaded.due - unloaded.ok,
    offered,
    goodput: o.goodput,
    goodputShare: o.goodput / capacity,
    p50: o.p50,
    p99: o.p99,
    p999: o.p999,
    max: o.max,
    p99x: o.p99 !== null && unloaded.p50 > 0 ? o.p99 / unloaded.p50 : null,
    shedRate: o.shedRate,
    shed: o.shed,
    shedRetryAfter: o.shedRetryAfter,
    shedP50: o.shedP50,
    shedP99: o.shedP99,
    otherStatuses: o.otherStatuses,
    due: o.due,
    owed,
    inFlight: o.unanswered,
    unsent: o.unsent,
    errors,
    errorCount: errors.reset + errors.closed + errors.connect + errors.otherStatus,
    firstSecondP50: o.timeline[0]?.p50 ?? null,
    lastSecondP50: last?.p50 ?? null,
    waitedForConnection: o.waitedForConnection,
    reconnects: o.reconnects,
    clientCpu: o.clientCpu,
    clientMaxLag: o.clientMaxLag,
    peakRss,
    cpuMs,
    timeline: o.timeline,
  }
}

/** Runs overload-client.mjs and returns its result. */
async function client(h, port, rate, connections, seconds, grace) {
  const args = [join(h.bench, 'overload-client.mjs'), String(port), String(rate), String(connections), String(seconds), String(grace)]
  const { code, stdout, stderr } = await run(process.execPath, args, { timeoutMs: (seconds + grace + 60) * 1000 })
  const line = stdout.trim().split('\n').pop() ?? ''
  if (code !== 0 || !line.startsWith('{')) throw new Error(`overload-client exited ${code}: ${(stderr || stdout).trim().split('\n').pop()}`)
  return JSON.parse(line)
}

function logLine(r) {
  const ms = (v) => (v === null ? '–' : `${v.toFixed(1)} ms`)
  return (
    `capacity ${Math.round(r.capacity)}/s, unloaded p50 ${ms(r.unloadedP50)}; offered ${r.offered}/s: ` +
    `goodput ${Math.round(r.goodput)}/s (${Math.round(r.goodputShare * 100)}%), p99 ${ms(r.p99)}, ` +
    `503 ${Math.round(r.shedRate)}/s, owed ${r.owed}, errors ${r.errorCount}; client CPU ${Math.round(r.clientCpu * 100)}%`
  )
}

const MEDIANS = [
  'capacity', 'unloadedRate', 'unloadedP50', 'unloadedP99', 'offered', 'goodput', 'goodputShare', 'p50', 'p99', 'p999', 'max', 'p99x',
  'shedRate', 'shedP50', 'shedP99', 'owed', 'inFlight', 'unsent', 'errorCount', 'firstSecondP50', 'lastSecondP50', 'clientCpu', 'peakRss',
]

/** Medians over the rounds (ratios taken round by round), the targets and what the server did. */
function summarize(row) {
  if (row.runs.length === 0) return
  row.median = medians(row.runs, MEDIANS)
  const shed = row.runs.reduce((n, r) => n + r.shed, 0)
  row.median.retryAfterShare = shed === 0 ? null : row.runs.reduce((n, r) => n + r.shedRetryAfter, 0) / shed
  row.targets = targets(row.median)
  row.behaviour = behaviour(row)
}

/** The three targets, each true or false (null: nothing to judge it by). */
function targets(m) {
  return {
    p99: m.p99x === null ? null : m.p99x <= P99_LIMIT,
    goodput: m.goodputShare >= GOODPUT_LIMIT,
    shed: m.owed === 0 && m.retryAfterShare === 1 && m.shedP99 !== null && m.shedP99 <= SHED_P99_LIMIT_MS,
  }
}

/** One line saying what the server did with the excess, from the figures. */
function behaviour(row) {
  const m = row.median
  const parts = []
  const s = (ms) => (ms === null ? '–' : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`)
  if (m.shedRate > 0) {
    const share = m.retryAfterShare === 1 ? 'all with Retry-After' : `${Math.round((m.retryAfterShare ?? 0) * 100)}% with Retry-After`
    parts.push(`sheds: ${Math.round(m.shedRate)} 503/s (${share}), 503 p99 ${s(m.shedP99)}`)
  }
  const grows = m.lastSecondP50 !== null && m.firstSecondP50 !== null && m.lastSecondP50 > 2 * m.firstSecondP50 && m.lastSecondP50 > P99_LIMIT * m.unloadedP50
  if (grows || m.owed > 0) {
    parts.push(
      `${m.shedRate > 0 ? 'and queues' : 'queues without bound'}: 2xx answered in the first second had waited ${s(m.firstSecondP50)} (p50), ` +
        `in the last second of the run ${s(m.lastSecondP50)}; ${Math.round(m.owed).toLocaleString('en-US')} still owed at the end ` +
        `(${Math.round(m.inFlight).toLocaleString('en-US')} sent, ${Math.round(m.unsent).toLocaleString('en-US')} waiting for one of the ${CONNECTIONS} connections it held)`,
    )
  }
  if (parts.length === 0) parts.push('neither sheds nor queues at this rate: it kept up')
  const unloadedMisses = Math.max(...row.runs.map((r) => r.unloadedNot2xx))
  if (unloadedMisses > 0) parts.push(`at 10% of capacity, ${unloadedMisses} requests got no 2xx (worst round)`)
  if (m.errorCount > 0) parts.push(`${Math.round(m.errorCount)} requests lost (resets, closes, other statuses)`)
  if (m.clientCpu > 0.8) parts.push(`the client used ${Math.round(m.clientCpu * 100)}% of a core: it may have been the limit`)
  return parts.join('; ')
}
