// The results as people read them: Markdown tables, an SVG bar chart drawn here, and JSON.
import { OVERLOAD_TITLE, overloadSection } from './overload-report.js'

const MiB = 1024 * 1024

const TITLES = {
  hello: 'hello: GET /, wrk -t1 -c100',
  seed: "seed: the seed's wrk -t4 -c400, GET /",
  rate: 'rate: GET /, a constant 10,000 req/s (--quick: 5,000) over 400 keep-alive connections (rate-client.mjs: open loop, latency from when each request was due)',
  echo: 'echo: POST /echo/a/b/c?foo=echo&bar=69, 1 KiB body',
  pipelined: 'pipelined: GET /, 16 in flight per connection, -t1 -c100',
  'access-log': 'access-log: Pegasus, hello load, access log on (to /dev/null, to a file) vs off',
  close: "close: GET /, a new connection for every request (wrk -H 'Connection: close'), -t1 -c100",
  workers: 'workers: GET /, wrk -t1 -c100 (keep-alive), one worker vs two vs node:cluster',
  'express-json': 'express-json: the Express app only, POST /json, a 118-byte JSON document through express.json(), answered with res.json()',
  websocket: 'websocket: ws echo servers, 1,000 connections, each sending a 64-byte message and awaiting its echo in a loop',
  'wait-c100': 'wait-c100: GET /wait, the handler awaits a 50 ms timer, then answers 13 bytes; wrk -t2 -c100',
  'wait-c1000': 'wait-c1000: the same, wrk -t2 -c1000',
  'db-local': 'db-local: TechEmpower db, one random World row as JSON, PostgreSQL on this machine (pg, a pool of 20); wrk -t2 -c256',
  'db-far': 'db-far: the same, PostgreSQL 2 ms away (every statement waits 2 ms in the database)',
  'queries-local': 'queries-local: TechEmpower queries, GET /queries?queries=20, 20 rows read one by one, as JSON; local; wrk -t2 -c64',
  'queries-far': 'queries-far: the same, 2 ms away',
  'fortunes-local': 'fortunes-local: TechEmpower fortunes, 12 rows and one added, sorted, escaped into an HTML table; local; wrk -t2 -c256',
  'fortunes-far': 'fortunes-far: the same, 2 ms away',
  'updates-local': 'updates-local: TechEmpower updates, GET /updates?queries=20, 20 rows read one by one, then written in one UPDATE; local; wrk -t2 -c64',
  'updates-far': 'updates-far: the same, 2 ms away',
  idle: 'idle: keep-alive connections, each after one GET /',
  streaming: 'streaming: one 100 MiB response to a slow reader',
  overload: OVERLOAD_TITLE,
}

export function title(name) {
  return TITLES[name] ?? name
}

// --- numbers ------------------------------------------------------------------------------------

const int = (n) => Math.round(n).toLocaleString('en-US')
const ratio = (r) => (r === null || r === undefined ? '–' : `${r.toFixed(2)}×`)
const mib = (bytes) => (bytes === null ? '–' : `${(bytes / MiB).toFixed(1)} MiB`)

function ms(value) {
  if (value === null || value === undefined) return '–'
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`
  return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`
}

function kib(bytes) {
  if (bytes === null || bytes === undefined) return '–'
  return `${(bytes / 1024).toFixed(1)} KiB`
}

/** The worst round's errors, spelled out when there are any. */
function errors(row) {
  const worst = row.runs.reduce((a, b) => (b.errorCount > a.errorCount ? b : a))
  if (worst.errorCount === 0) return '0'
  const parts = Object.entries(worst.errors).filter(([, n]) => n > 0).map(([kind, n]) => `${kind} ${int(n)}`)
  return `${int(worst.errorCount)} (${parts.join(', ')})`
}

function cell(text) {
  return String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

function note(row) {
  if (row.status === 'ok') return row.note
  return `${row.status}: ${row.note}`
}

function table(header, lines) {
  const out = [`| ${header.join(' | ')} |`, `|${header.map((h, i) => (i < 2 || h === 'note' ? '---' : '---:')).join('|')}|`]
  for (const line of lines) out.push(`| ${line.map(cell).join(' | ')} |`)
  return out.join('\n')
}

// --- tables -------------------------------------------------------------------------------------

/**
 * What a ratio is to, after the number: nothing for node:http, 'log off' for the access-log
 * scenario, else the baseline's label (Express on Pegasus: 'vs Express on node:http').
 */
function ratioSuffix(scenario, row) {
  if (scenario.name === 'access-log') return ' log off'
  if (scenario.name === 'close') return ' single'
  if (scenario.name === 'workers') return ' w1'
  const to = row.ratioTo?.server ?? scenario.baseline
  if (to === 'node-http') return ''
  return ` vs ${row.ratioTo?.label ?? to}`
}

function throughputTable(results) {
  const header = ['scenario', 'server', 'req/s', '× node:http', 'p50', 'p99', 'p99.9', 'max', 'errors + timeouts (worst round)', 'peak RSS', 'CPU / 1k req', 'CPU × node:http', 'note']
  const lines = []
  for (const scenario of results.filter((s) => s.kind === 'throughput')) {
    for (const row of scenario.rows) {
      const suffix = ratioSuffix(scenario, row)
      if (row.median === null) {
        lines.push([scenario.name, row.label, '–', '–', '–', '–', '–', '–', '–', '–', '–', '–', note(row)])
        continue
      }
      const m = row.median
      lines.push([
        scenario.name,
        row.label,
        int(m.rps),
        row.ratio ? `${ratio(row.ratio.rps)}${suffix}` : '–',
        ms(m.p50),
        ms(m.p99),
        ms(m.p999),
        ms(m.max),
        errors(row),
        mib(m.peakRss),
        ms(m.cpuPer1k),
        row.ratio ? `${ratio(row.ratio.cpuPer1k)}${suffix}` : '–',
        note(row),
      ])
    }
  }
  return lines.length === 0 ? '' : table(header, lines)
}

const percent = (share) => `${Math.round(share * 100)}%`

/**
 * Where the CPU went in the scenarios with workers: the processes, the primary's part of the
 * CPU per 1,000 requests (node:cluster's round-robin passes every connection through it), and
 * how the workers shared the rest (the busiest worker's share; round by round).
 */
function processesTable(results) {
  const header = ['scenario', 'server', 'processes', 'CPU / 1k req', "primary's part", "workers' shares of their CPU (each round)", 'note']
  const lines = []
  for (const scenario of results.filter((s) => s.name === 'close' || s.name === 'workers')) {
    for (const row of scenario.rows) {
      if (row.median === null) continue
      const spread = row.runs.filter((run) => run.workerShares.length > 0)
      const shares = spread.length === 0 ? '–' : spread.map((run) => run.workerShares.map(percent).join(' / ')).join('; ')
      lines.push([scenario.name, row.label, row.processes === 1 ? '1' : `1 + ${row.processes - 1}`, ms(row.median.cpuPer1k), ms(row.median.primaryCpuPer1k), shares, row.processes === 1 ? 'one process: all of it is the server' : ''])
    }
  }
  return lines.length === 0 ? '' : table(header, lines)
}

/** The pairs each scenario compares (ratios per round, median), beyond its baseline column. */
function comparisonsTable(results) {
  const header = ['scenario', 'comparison', 'req/s ×', 'CPU / 1k req ×']
  const lines = []
  for (const scenario of results.filter((s) => s.comparisons !== undefined)) {
    for (const c of scenario.comparisons) lines.push([scenario.name, `${c.labelA} / ${c.labelB}`, ratio(c.ratio.rps), ratio(c.ratio.cpuPer1k)])
  }
  return lines.length === 0 ? '' : table(header, lines)
}

function idleTable(scenario) {
  const header = ['server', 'connections held', 'RSS before', 'RSS with them', 'RSS / connection', '× node:http', 'note']
  const lines = scenario.rows.map((row) => {
    if (row.median === null) return [row.label, '–', '–', '–', '–', '–', note(row)]
    const m = row.median
    return [row.label, `${int(m.held)} of ${int(scenario.load.connections)}`, mib(m.rssBefore), mib(m.rssWith), kib(m.perConnection), ratio(row.ratio?.perConnection), note(row)]
  })
  return table(header, lines)
}

function websocketTable(scenario) {
  const header = ['server', 'connections', 'messages/s', '× ws on node:http', 'p50 round trip', 'p99 round trip', 'errors (worst round)', 'peak RSS', 'CPU / 1k messages', 'CPU × ws on node:http', 'note']
  const lines = scenario.rows.map((row) => {
    if (row.median === null) return [row.label, '–', '–', '–', '–', '–', '–', '–', '–', '–', note(row)]
    const m = row.median
    return [
      row.label,
      `${int(m.opened)} of ${int(scenario.load.connections)}`,
      int(m.rate),
      ratio(row.ratio?.rate),
      ms(m.p50),
      ms(m.p99),
      errors(row),
      mib(m.peakRss),
      ms(m.cpuPer1k),
      ratio(row.ratio?.cpuPer1k),
      note(row),
    ]
  })
  return table(header, lines)
}

function streamingTable(scenario) {
  const header = ['server', 'time', 'MiB/s', 'RSS before', 'peak RSS', 'peak × node:http', 'CPU', 'note']
  const lines = scenario.rows.map((row) => {
    if (row.median === null) return [row.label, '–', '–', '–', '–', '–', '–', note(row)]
    const m = row.median
    return [row.label, ms(m.ms), (scenario.load.bytes / MiB / (m.ms / 1000)).toFixed(0), mib(m.rssBefore), mib(m.peakRss), ratio(row.ratio?.peakRss), ms(m.cpuMs), note(row)]
  })
  return table(header, lines)
}

export function machineLines(report) {
  const { machine, versions } = report
  const lines = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; ${machine.os}; Node.js ${machine.node} (Pegasus and the Node.js peers); ${machine.wrk}.`,
  ]
  if (versions.length > 0) lines.push(`Servers: ${versions.join('; ')}.`)
  return lines
}

/** The whole Markdown report: machine, run, then one table per kind of scenario. */
export function markdown(report, { machine = true } = {}) {
  const { options, results } = report
  const out = machine ? machineLines(report).flatMap((line) => [line, '']) : []
  out.push(
    `Run: ${report.started}, ${options.rounds} rounds (servers alternate A B … A B …, medians quoted), ` +
      `${options.quick ? '--quick' : 'full'} durations; ${report.elapsedSeconds} s in all. ` +
      'Load generator and servers share the cores (nothing pinned): compare ratios from the same run.',
  )
  const wrkScenarios = results.filter((s) => s.kind === 'throughput')
  if (wrkScenarios.length > 0) {
    out.push('', '### Throughput (wrk)', '')
    for (const s of wrkScenarios) out.push(`- ${title(s.name)}, ${s.load.seconds} s a run`)
    out.push(
      '',
      throughputTable(results),
      '',
      'Ratios: per round to node:http (access-log: to Pegasus with its log off; close: to the single process; workers: to --workers 1; Express on Pegasus: to Express on node:http; ' +
        'in the database scenarios Hono on Pegasus and on Bun.serve: to Hono on @hono/node-server), median over rounds. ' +
        'CPU: user+system time of the server\'s processes (/proc) over the run, per 1,000 requests. ' +
        "Peak RSS: the server's process tree, sampled every 100 ms. " +
        "p99.9 and max: wrk's own latency record (lua/latency.lua); in the rate scenario every latency counts from when the request was due, so a stall is charged for the queue behind it." +
        (wrkScenarios.some((s) => s.rows.some((r) => r.runs.some((run) => run.p99 === null)))
          ? ' p99 of the rounds where wrk gave one: under pipelining it prints 0 (its latency correction), shown as –.'
          : ''),
    )
    const comparisons = comparisonsTable(results)
    if (comparisons !== '') out.push('', '#### Compared', '', comparisons)
    const processes = processesTable(results)
    if (processes !== '') {
      out.push('', '#### Processes', '', processes, '',
        "Primary's part: the CPU of the process started (the primary) alone, per 1,000 requests; workers' shares: each worker's part of the workers' CPU, the busiest first. " +
          'On two cores wrk competes with the workers: req/s cannot double with a second worker here, CPU / 1k req is the cost to compare (see the README).')
    }
  }
  for (const s of results.filter((r) => r.kind === 'idle')) {
    out.push('', `### ${title(s.name)} (${int(s.load.connections)})`, '', idleTable(s), '',
      'RSS / connection = (RSS with the connections - RSS before) / connections held; RSS is the median of five samples.')
  }
  for (const s of results.filter((r) => r.kind === 'websocket')) {
    out.push('', `### ${title(s.name)}`, '', `${s.load.seconds} s a run, after all ${int(s.load.connections)} connections are open.`, '', websocketTable(s), '',
      'The load client (`ws-client.mjs`, the `ws` client, one Node.js process) shares the two cores with the server and may be the limit: ' +
        "CPU / 1k messages is the server's own cost. Messages/s counts the round trips completed within the run; ratios per round, median over rounds. " +
        'Errors: connections refused or lost, messages never answered, echoes that differed.')
  }
  for (const s of results.filter((r) => r.kind === 'streaming')) {
    out.push('', `### ${title(s.name)}`, '', streamingTable(s), '',
      'The reader takes 64 KiB, then pauses 1 ms; peak RSS of the server while it streams.')
  }
  for (const s of results.filter((r) => r.kind === 'overload')) out.push('', ...overloadSection(s))
  return out.join('\n') + '\n'
}

// --- chart ----------------------------------------------------------------------------------------

const COLORS = {
  pegasus: '#d62728',
  'pegasus-log': '#ff9896',
  'pegasus-logfile': '#c5b0d5',
  'pegasus-single': '#8b0000',
  'pegasus-w1': '#ff7f50',
  'pegasus-w1-rr': '#ffa07a',
  'pegasus-w1-shared': '#ff6347',
  'pegasus-w1-reuseport': '#e9967a',
  'pegasus-w2': '#b22222',
  'pegasus-w2-rr': '#cd5c5c',
  'pegasus-w2-shared': '#f08080',
  'pegasus-w2-reuseport': '#fa8072',
  'node-cluster': '#4d4d4d',
  'node-cluster-shared': '#6b6b6b',
  'node-cluster-reuseport': '#a0a0a0',
  'pegasus-node': '#e377c2',
  'node-http': '#7f7f7f',
  'node-net': '#17becf',
  'pegasus-express': '#bcbd22',
  express: '#dbdb8d',
  fastify: '#1f77b4',
  hono: '#ff7f0e',
  bun: '#9467bd',
  nginx: '#2ca02c',
  'gunicorn-sync': '#8c564b',
  'gunicorn-gthread': '#c49c94',
}

function xml(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** Requests/s of each server relative to the baseline, one group of bars per wrk scenario. */
export function chart(report) {
  const groups = report.results.filter((s) => s.kind === 'throughput')
  const bar = 26
  const gap = 6
  const groupGap = 44
  const left = 64
  const top = 92
  const plotHeight = 320
  const servers = [...new Map(groups.flatMap((g) => g.rows).map((r) => [r.server, r.label])).entries()]
  const groupLabel = (g) => {
    if (g.baseline === 'node-http') return g.name
    if (g.name === 'access-log') return `${g.name} (× log off)`
    if (g.name === 'close') return `${g.name} (× single process)`
    if (g.name === 'workers') return `${g.name} (× --workers 1)`
    return `${g.name} (× ${g.rows.find((r) => r.server === g.baseline)?.label ?? g.baseline})`
  }
  // A group is as wide as its bars or its label, whichever is wider; the bars sit in its middle.
  const barsWidth = (g) => g.rows.length * (bar + gap) - gap
  const groupWidths = groups.map((g) => Math.max(barsWidth(g), groupLabel(g).length * 8))
  const plotWidth = groupWidths.reduce((a, b) => a + b, 0) + groupGap * Math.max(groups.length, 1)
  const width = Math.max(left + plotWidth + 24, 640)
  const height = top + plotHeight + 90
  const max = Math.max(1.5, ...groups.flatMap((g) => g.rows.map((r) => (r.scenarioRatio ?? r.ratio)?.rps ?? 0)))
  const step = max > 6 ? 1 : 0.5
  const yMax = Math.ceil(max / step) * step
  const y = (v) => top + plotHeight - (v / yMax) * plotHeight

  const out = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`)
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`)
  out.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">Requests/s relative to node:http (= 1.0), same run, median of per-round ratios</text>`)
  out.push(`<text x="${left}" y="42" font-size="11" fill="#555">${xml(machineLines(report)[0])}</text>`)
  // legend
  let lx = left
  for (const [name, label] of servers) {
    out.push(`<rect x="${lx}" y="56" width="12" height="12" fill="${COLORS[name] ?? '#333'}"/>`)
    out.push(`<text x="${lx + 16}" y="66" font-size="11">${xml(label)}</text>`)
    lx += 24 + label.length * 6.2
  }
  // grid
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    out.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${left - 8}" y="${y(v) + 4}" font-size="11" text-anchor="end">${v.toFixed(1)}</text>`)
  }
  out.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${y(1)}" y2="${y(1)}" stroke="#333" stroke-dasharray="5,4"/>`)
  // bars
  let x = left + groupGap / 2
  groups.forEach((group, gi) => {
    const groupStart = x
    x += (groupWidths[gi] - barsWidth(group)) / 2
    for (const row of group.rows) {
      // In node:http's groups, Express on Pegasus is drawn against node:http as every bar is.
      const value = (row.scenarioRatio ?? row.ratio)?.rps ?? null
      const color = COLORS[row.server] ?? '#333'
      if (value !== null) {
        out.push(`<rect x="${x}" y="${y(value)}" width="${bar}" height="${y(0) - y(value)}" fill="${color}"><title>${xml(`${group.name}, ${row.label}: ${value.toFixed(2)}×`)}</title></rect>`)
        out.push(`<text x="${x + bar / 2}" y="${y(value) - 4}" font-size="10" text-anchor="middle">${value.toFixed(2)}</text>`)
      } else {
        const why = row.status === 'ok' ? 'no ratio' : row.status
        out.push(`<text x="${x + bar / 2}" y="${y(0) - 6}" font-size="9" fill="#999" text-anchor="start" transform="rotate(-90 ${x + bar / 2} ${y(0) - 6})">${xml(`${row.label}: ${why}`)}</text>`)
      }
      x += bar + gap
    }
    const center = groupStart + groupWidths[gi] / 2
    out.push(`<text x="${center}" y="${y(0) + 20}" font-size="13" text-anchor="middle" font-weight="bold">${xml(groupLabel(group))}</text>`)
    out.push(`<text x="${center}" y="${y(0) + 36}" font-size="10" text-anchor="middle" fill="#555">${xml(group.load.rate !== undefined ? `${int(group.load.rate)} req/s, c${group.load.connections}` : `wrk -t${group.load.threads} -c${group.load.connections}${group.name === 'pipelined' ? ', 16 deep' : ''}${group.name === 'close' ? ', Connection: close' : ''}`)}</text>`)
    x = groupStart + groupWidths[gi] + groupGap
  })
  out.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`)
  out.push(`<text x="${left}" y="${height - 14}" font-size="10" fill="#555">${xml(`${report.started}, ${report.options.rounds} rounds${report.options.quick ? ', --quick' : ''}. access-log is relative to Pegasus with its access log off, close to Pegasus's single process, workers to --workers 1, express-json to Express on node:http.`)}</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}

/** The report as JSON: every round's numbers, medians and ratios. */
export function json(report) {
  const results = report.results.map((s) => ({ ...s, rows: s.rows.map(({ def, ...row }) => row) }))
  return JSON.stringify({ ...report, results }, null, 2) + '\n'
}
