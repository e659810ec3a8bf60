// The overload scenario's section of the Markdown report (harness/overload.js measures it). Its
// own small formatters, so that report.js only has to call it.
import { CONNECTIONS, GOODPUT_LIMIT, OFFERED, P99_LIMIT, UNLOADED_SHARE, WORK_MS } from './overload.js'

export const OVERLOAD_TITLE =
  `overload: GET / with ${WORK_MS} ms of synchronous work a request, offered ${OFFERED}× each server's capacity ` +
  `by an open-loop client at a constant rate over ${CONNECTIONS} keep-alive connections (overload-client.mjs)`

const int = (n) => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'))
const pct = (share) => (share === null || share === undefined ? '–' : `${Math.round(share * 100)}%`)
const mib = (bytes) => (bytes === null || bytes === undefined ? '–' : `${(bytes / 2 ** 20).toFixed(1)} MiB`)

function ms(value) {
  if (value === null || value === undefined) return '–'
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`
  return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`
}

const mark = (ok) => (ok === null ? '–' : ok ? '✓' : '✗')

function cell(text) {
  return String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

function table(header, lines) {
  const out = [`| ${header.join(' | ')} |`, `|${header.map((h, i) => (i === 0 || h === 'what it did' || h === 'targets' ? '---' : '---:')).join('|')}|`]
  for (const line of lines) out.push(`| ${line.map(cell).join(' | ')} |`)
  return out.join('\n')
}

/** The worst round's lost requests, by kind. */
function lost(row) {
  const worst = row.runs.reduce((a, b) => (b.errorCount > a.errorCount ? b : a))
  if (worst.errorCount === 0) return '0'
  const parts = Object.entries(worst.errors).filter(([, n]) => n > 0).map(([kind, n]) => `${kind} ${int(n)}`)
  return `${int(worst.errorCount)} (${parts.join(', ')})`
}

function line(row) {
  if (row.median === null) return [row.label, '–', '–', '–', '–', '–', '–', '–', '–', '–', '–', '–', '–', '–', '–', `${row.status}: ${row.note}`]
  const m = row.median
  const t = row.targets
  const shed = m.shedRate > 0 ? `${int(m.shedRate)} (${pct(m.retryAfterShare)} Retry-After)` : '0'
  const what = row.status === 'ok' && row.note === '' ? row.behaviour : `${row.behaviour}; ${row.note}`
  return [
    row.label,
    int(m.capacity),
    ms(m.unloadedP50),
    int(m.offered),
    `${int(m.goodput)} (${pct(m.goodputShare)})`,
    ms(m.p50),
    `${ms(m.p99)} (${m.p99x === null ? '–' : `${m.p99x.toFixed(1)}×`})`,
    ms(m.p999),
    ms(m.max),
    shed,
    m.shedP50 === null ? '–' : `${ms(m.shedP50)} / ${ms(m.shedP99)}`,
    int(m.owed),
    lost(row),
    mib(m.peakRss),
    `p99 ${mark(t.p99)} goodput ${mark(t.goodput)} 503 ${mark(t.shed)}`,
    what,
  ]
}

/** The client's busiest run: its CPU (share of a core) and its timer's worst lag. */
function clientLoad(scenario) {
  const runs = scenario.rows.flatMap((row) => row.runs)
  if (runs.length === 0) return ''
  const cpu = Math.max(...runs.map((r) => r.clientCpu))
  const lag = Math.max(...runs.map((r) => r.clientMaxLag))
  return ` The client used at most ${pct(cpu)} of a core in a run; its 1 ms timer lagged ${ms(lag)} at worst.`
}

/** The section: a title, how it was run, the table and how to read it. */
export function overloadSection(scenario) {
  const l = scenario.load
  const header = [
    'server', 'capacity (req/s)', 'unloaded p50', 'offered (req/s)', 'goodput (2xx/s, % of capacity)', 'accepted p50', 'accepted p99 (× unloaded p50)',
    'p99.9', 'max', '503/s', '503 p50 / p99', 'owed at the end', 'lost (worst round)', 'peak RSS', 'targets', 'what it did',
  ]
  return [
    `### ${OVERLOAD_TITLE}`,
    '',
    `Per server and round: capacity by wrk's closed loop (-t1 -c${l.capacityConnections}, ${l.capacity} s, 2xx/s); then ${OFFERED}× it for ${l.overload} s, ` +
      `answers awaited ${l.grace} s more; then the unloaded p50 at ${pct(UNLOADED_SHARE)} of it (open loop, 10 connections, ${l.unloaded} s).`,
    '',
    table(header, scenario.rows.map(line)),
    '',
    `Latency counts from when each request fell due (a request waits in the client while every one of the ${CONNECTIONS} connections has one in flight). ` +
      `Goodput: 2xx answered during the ${l.overload} s. Owed: requests due that had no answer when the client stopped (sent, or still waiting for a connection). ` +
      'Lost: connections reset or closed with a request in flight, and statuses other than 2xx and 503. ' +
      `Targets: accepted p99 ≤ ${P99_LIMIT}× the unloaded p50; goodput ≥ ${pct(GOODPUT_LIMIT)} of capacity; ` +
      'the excess answered by 503 with Retry-After (nothing owed at the end, every 503 with Retry-After, 503 p99 ≤ 1 s). Medians over rounds.' +
      clientLoad(scenario),
  ]
}
