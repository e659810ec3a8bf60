#!/usr/bin/env node
// Issue 12's measurement: the seed's scenario (wrk -t4 -c400 -d10s, GET /) on Pegasus, node:http,
// a bare node:net server (with and without accept-first) and Bun.serve, servers alternating round
// by round; p50, p99, p99.9, max (wrk's, see benchmarks/README.md on its correction), req/s and
// CPU per 1,000 requests; the medians over rounds as a Markdown table on stdout.
//
//   node benchmarks/tail.mjs [--rounds N] [--seconds S] [--threads T] [--connections C]
//        [--only a,b] [--pegasus-root DIR] [--before DIR] [--out DIR]
//
// --pegasus-root runs the Pegasus rows from another built checkout; --before DIR adds rows
// `pegasus-before` and `pegasus-single-before` from a second one (a before/after comparison).
// The Node.js servers run on the Node.js that runs this script.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort, killAll, run, start, stop, waitUntilAnswering } from './harness/processes.js'
import { treeCpuMs } from './harness/procfs.js'
import { median } from './harness/stats.js'
import { parseWrk } from './harness/wrk.js'

const bench = dirname(fileURLToPath(import.meta.url))
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '10' },
    threads: { type: 'string', default: '4' },
    connections: { type: 'string', default: '400' },
    only: { type: 'string' },
    'pegasus-root': { type: 'string', default: dirname(bench) },
    before: { type: 'string' },
    out: { type: 'string' },
  },
})
const root = resolve(values['pegasus-root'])
const node = process.execPath
const servers = (dir) => join(bench, 'servers', dir)
const SERVERS = {
  pegasus: { label: 'Pegasus (CLI)', command: node, args: (p) => [join(root, 'dist/cli.js'), '--host', '127.0.0.1', '--port', p, '--no-access-log', join(root, 'dist/fixtures/router.js') + ':app'] },
  'pegasus-single': { label: 'Pegasus (one process)', command: node, args: (p) => [join(root, 'benchmarks/servers/pegasus-single.mjs'), p, '127.0.0.1'] },
  'node-http': { label: 'node:http', command: node, args: (p) => [servers('node-http.mjs'), p, '127.0.0.1'] },
  net: { label: 'bare node:net', command: node, args: (p) => [servers('bare-net.mjs'), p, '127.0.0.1'] },
  'net-first': { label: 'bare node:net, accept-first', command: node, args: (p) => [servers('bare-net.mjs'), p, '127.0.0.1', '--accept-first'] },
  bun: { label: 'Bun.serve', command: join(bench, 'node_modules/.bin/bun'), args: (p) => [servers('bun.mjs'), p, '127.0.0.1'] },
}
if (values.before !== undefined) {
  const before = resolve(values.before)
  SERVERS['pegasus-before'] = { label: 'Pegasus (CLI), before', command: node, args: (p) => [join(before, 'dist/cli.js'), '--host', '127.0.0.1', '--port', p, '--no-access-log', join(before, 'dist/fixtures/router.js') + ':app'] }
  SERVERS['pegasus-single-before'] = { label: 'Pegasus (one process), before', command: node, args: (p) => [join(before, 'benchmarks/servers/pegasus-single.mjs'), p, '127.0.0.1'] }
}
const only = values.only === undefined ? Object.keys(SERVERS) : values.only.split(',')
for (const name of only) if (!(name in SERVERS)) throw new Error(`unknown server ${name}: ${Object.keys(SERVERS).join(', ')}`)
const rounds = Number(values.rounds)
const seconds = Number(values.seconds)
const log = (line) => process.stderr.write(`${line}\n`)

async function measure(name) {
  const server = SERVERS[name]
  if (!existsSync(server.command)) return null
  const port = String(await freePort())
  const child = start(server.command, server.args(port), { cwd: bench })
  try {
    await waitUntilAnswering(child, Number(port))
    // As the harness does: one second of the same load first (JIT), on connections of its own.
    await run('wrk', [`-t${values.threads}`, `-c${values.connections}`, '-d1s', `http://127.0.0.1:${port}/`], { timeoutMs: 30_000 })
    const cpuBefore = treeCpuMs(child.pid)
    const args = [`-t${values.threads}`, `-c${values.connections}`, `-d${seconds}s`, '--latency', '-s', join(bench, 'lua/percentiles.lua'), `http://127.0.0.1:${port}/`]
    const { stdout } = await run('wrk', args, { timeoutMs: (seconds + 30) * 1000 })
    const cpu = treeCpuMs(child.pid) - cpuBefore
    const result = parseWrk(stdout)
    const tail = /^tail-percentiles (\d+) (\d+) (\d+)$/m.exec(stdout)
    const max = /Latency\s+\S+\s+\S+\s+([\d.]+)(\w+)/.exec(stdout)
    return {
      rps: result.rps,
      p50: result.p50,
      p99: result.p99,
      p999: tail ? Number(tail[1]) / 1000 : null,
      max: tail ? Number(tail[3]) / 1000 : null,
      cpuPer1k: (cpu / result.requests) * 1000,
      errors: result.errorCount,
      maxText: max ? `${max[1]}${max[2]}` : null,
    }
  } finally {
    await stop(child)
  }
}

const runs = Object.fromEntries(only.map((name) => [name, []]))
process.on('exit', killAll)
for (let round = 0; round < rounds; round++) {
  // A B C, then C B A: no server always runs first.
  const order = round % 2 === 0 ? only : [...only].reverse()
  for (const name of order) {
    const r = await measure(name)
    if (r === null) continue
    runs[name].push(r)
    log(`round ${round + 1} ${name}: p50 ${r.p50} p99 ${r.p99} p99.9 ${r.p999} max ${r.max} ms, ${Math.round(r.rps)} req/s, ${r.cpuPer1k.toFixed(2)} ms CPU/1k, ${r.errors} errors`)
  }
}

const ms = (v) => (v === null ? '–' : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`)
const lines = [
  `wrk -t${values.threads} -c${values.connections} -d${seconds}s, GET /, ${rounds} rounds, Node.js ${process.version}; medians`,
  '',
  '| server | p50 | p99 | p99.9 | max | req/s | CPU ms / 1k req | errors (worst) |',
  '|---|---|---|---|---|---|---|---|',
]
const medians = {}
for (const name of only) {
  const list = runs[name]
  if (list.length === 0) continue
  const m = (key) => median(list.map((r) => r[key]))
  medians[name] = { p50: m('p50'), p99: m('p99'), p999: m('p999'), max: m('max'), rps: m('rps'), cpuPer1k: m('cpuPer1k'), errors: Math.max(...list.map((r) => r.errors)) }
  const x = medians[name]
  lines.push(`| ${SERVERS[name].label} | ${ms(x.p50)} | ${ms(x.p99)} | ${ms(x.p999)} | ${ms(x.max)} | ${Math.round(x.rps).toLocaleString('en')} | ${x.cpuPer1k.toFixed(2)} | ${x.errors} |`)
}
process.stdout.write(lines.join('\n') + '\n')
if (values.out !== undefined) {
  mkdirSync(values.out, { recursive: true })
  writeFileSync(join(values.out, 'tail.json'), JSON.stringify({ node: process.version, options: values, runs, medians }, null, 2) + '\n')
  writeFileSync(join(values.out, 'tail.md'), lines.join('\n') + '\n')
}
