#!/usr/bin/env node
// npm run bench: Pegasus against the servers a user would pick instead, on this machine, in one
// run. Starts each server as its own process on 127.0.0.1, loads it with wrk (and two small
// clients of its own: idle connections, a slow reader, WebSocket echo), and prints a Markdown table; writes results.json, table.md and chart.svg.
// The database scenarios start a PostgreSQL cluster of their own (harness/postgres.js).
//
//   node benchmarks/run.js [--quick] [--rounds N] [--only a,b] [--scenarios x,y] [--placements local,far] [--node PATH] [--out DIR]
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { killAll } from './harness/processes.js'
import { chart, json, machineLines, markdown } from './harness/report.js'
import { overload } from './harness/overload.js'
import { accessLog, close, echo, expressJson, hello, idle, pipelined, rate, seed, serversFor, streaming, websocket, workers } from './harness/scenarios.js'
import { SERVERS } from './harness/servers.js'
import { database, databaseVersions, PLACEMENTS, stopDatabase, wait } from './harness/waiting.js'

const bench = dirname(fileURLToPath(import.meta.url))
const root = dirname(bench)

// The four database tests are one function: it starts their servers once and measures the ones chosen.
const SCENARIOS = { hello, seed, rate, echo, pipelined, idle, streaming, 'access-log': accessLog, close, workers, 'express-json': expressJson, websocket, wait, db: database, queries: database, fortunes: database, updates: database, overload }
const DATABASE_SCENARIOS = ['db', 'queries', 'fortunes', 'updates']

const USAGE = `usage: node benchmarks/run.js [--quick] [--rounds N] [--only a,b] [--scenarios x,y] [--placements local,far] [--node PATH] [--out DIR]

  --quick          short runs (2 s each, 2,000 idle connections) for a development loop
  --rounds N       measure every server N times, alternating servers (default 2)
  --only a,b       servers: ${SERVERS.map((s) => s.name).join(', ')}
  --scenarios x,y  scenarios: ${Object.keys(SCENARIOS).join(', ')}
  --placements p,q where the database scenarios' PostgreSQL is: ${PLACEMENTS.join(', ')} (2 ms away) (default: both)
  --node PATH      the Node.js binary Pegasus and the Node.js peers run on (default: this one)
  --out DIR        where results.json, table.md and chart.svg go (default benchmarks/results)
`

function fail(message) {
  process.stderr.write(`run.js: ${message}\n\n${USAGE}`)
  process.exit(2)
}

function options() {
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        rounds: { type: 'string', default: '2' },
        only: { type: 'string' },
        scenarios: { type: 'string' },
        placements: { type: 'string' },
        node: { type: 'string', default: process.execPath },
        out: { type: 'string', default: join(bench, 'results') },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }))
  } catch (error) {
    fail(error.message)
  }
  if (values.help) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  const rounds = Number(values.rounds)
  if (!Number.isInteger(rounds) || rounds < 1) fail(`--rounds must be an integer >= 1: ${values.rounds}`)
  const list = (text) => text.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const only = values.only === undefined ? SERVERS.map((s) => s.name) : list(values.only)
  for (const name of only) if (!SERVERS.some((s) => s.name === name)) fail(`unknown server: ${name}`)
  const scenarios = values.scenarios === undefined ? Object.keys(SCENARIOS) : list(values.scenarios)
  for (const name of scenarios) if (!(name in SCENARIOS)) fail(`unknown scenario: ${name}`)
  const placements = values.placements === undefined ? PLACEMENTS : list(values.placements)
  for (const name of placements) if (!PLACEMENTS.includes(name)) fail(`unknown placement: ${name}`)
  const node = resolve(values.node)
  const probe = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 10_000 })
  if (probe.status !== 0 || !/^\d+\.\d+\.\d+$/.test(probe.stdout.trim())) fail(`--node ${values.node}: not a Node.js binary that runs here`)
  return { quick: values.quick, rounds, only, scenarios, placements, node, nodeVersion: probe.stdout.trim(), out: resolve(values.out) }
}

/** wrk is the load generator: without it there is nothing to measure. */
function requireWrk() {
  const probe = spawnSync('wrk', ['-v'], { encoding: 'utf8' })
  if (probe.error !== undefined) {
    process.stderr.write('wrk is not installed: it is the load generator of these benchmarks.\nInstall it with: apt-get install -y wrk\n')
    process.exit(1)
  }
  return (probe.stdout + probe.stderr).split('\n')[0].replace(/ Copyright.*$/, '').trim()
}

/** The peers live in benchmarks/package.json; install them when they are missing. */
function installPeers() {
  if (existsSync(join(bench, 'node_modules'))) return
  process.stderr.write('benchmarks/node_modules is missing: running npm ci --prefix benchmarks\n')
  // npm's output goes to stderr with the progress lines: stdout carries the report only.
  const npm = spawnSync('npm', ['ci', '--prefix', bench], { stdio: ['ignore', 2, 2] })
  if (npm.status !== 0) process.stderr.write('npm ci failed: the peers it should have installed will be skipped\n')
}

function machine(wrkVersion, opts) {
  let cpu = 'unknown CPU'
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim() ?? cpu
  } catch {
    // not Linux: the harness needs /proc anyway
  }
  return {
    cpu,
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: `v${opts.nodeVersion}`,
    nodeBinary: opts.node,
    wrk: wrkVersion,
  }
}

/** A complete default run replaces the Results section of benchmarks/README.md. */
function recordInReadme(table) {
  const path = join(bench, 'README.md')
  const readme = readFileSync(path, 'utf8')
  const start = '<!-- results:start -->'
  const end = '<!-- results:end -->'
  const from = readme.indexOf(start)
  const to = readme.indexOf(end)
  if (from === -1 || to < from) return
  const section = `${start}\n![Requests/s relative to node:http](results/chart.svg)\n\n${table}${end}`
  writeFileSync(path, readme.slice(0, from) + section + readme.slice(to + end.length))
  process.stderr.write('recorded the results in benchmarks/README.md\n')
}

const startedAt = Date.now()
/** Minutes and seconds since the start, for the progress lines. */
function clock() {
  const s = Math.round((Date.now() - startedAt) / 1000)
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`
}

async function main() {
  const opts = options()
  const wrkVersion = requireWrk()
  installPeers()

  const tmp = mkdtempSync(join(os.tmpdir(), 'pegasus-bench-'))
  const h = {
    root,
    bench,
    tmp,
    quick: opts.quick,
    rounds: opts.rounds,
    node: opts.node,
    nodeVersion: opts.nodeVersion,
    servers: SERVERS.filter((s) => opts.only.includes(s.name)),
    placements: opts.placements,
    log: (line) => process.stderr.write(`${clock()} ${line}\n`),
  }
  const cleanUp = () => {
    killAll()
    rmSync(tmp, { recursive: true, force: true })
  }
  process.on('exit', cleanUp)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping every server started\n`)
      process.exit(130)
    })
  }

  const versions = new Set()
  for (const server of h.servers) {
    if (server.unavailable(h) === null) versions.add(server.version(h))
  }
  if (opts.scenarios.some((name) => DATABASE_SCENARIOS.includes(name))) for (const version of databaseVersions(h)) versions.add(version)
  versions.delete(null)
  const report = {
    machine: machine(wrkVersion, opts),
    versions: [...versions],
    options: { quick: opts.quick, rounds: opts.rounds, only: opts.only, scenarios: opts.scenarios, placements: opts.placements, node: opts.node },
    started: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    elapsedSeconds: 0,
    results: [],
  }
  process.stdout.write(machineLines(report).join('\n') + '\n\n')

  const began = Date.now()
  // In the order the issue lists them, whatever order --scenarios gave.
  const chosen = Object.keys(SCENARIOS).filter((n) => opts.scenarios.includes(n))
  const done = new Set()
  for (const name of chosen) {
    // A function behind several names (the database tests) runs once, given the names chosen.
    const scenario = SCENARIOS[name]
    if (done.has(scenario)) continue
    done.add(scenario)
    const names = chosen.filter((n) => SCENARIOS[n] === scenario)
    // A scenario none of the chosen servers takes part in (access-log without pegasus,
    // express-json without the Express servers, workers with none of its servers) is left out.
    if (serversFor(h, name).length === 0) {
      h.log(`== ${names.join(', ')}: none of the chosen servers takes part, skipped`)
      continue
    }
    h.log(`== ${names.join(', ')}`)
    // Issue 18's scenarios give one result per load, test and placement.
    report.results.push(...[await scenario(h, names)].flat())
  }
  await stopDatabase(h)
  report.elapsedSeconds = Math.round((Date.now() - began) / 1000)

  const table = markdown(report)
  process.stdout.write(markdown(report, { machine: false }))
  mkdirSync(opts.out, { recursive: true })
  writeFileSync(join(opts.out, 'results.json'), json(report))
  writeFileSync(join(opts.out, 'table.md'), table)
  writeFileSync(join(opts.out, 'chart.svg'), chart(report))
  const complete = !opts.quick && opts.node === process.execPath && opts.only.length === SERVERS.length && opts.scenarios.length === Object.keys(SCENARIOS).length && opts.out === join(bench, 'results')
  if (complete) recordInReadme(table)
  process.stderr.write(`\nwrote ${['results.json', 'table.md', 'chart.svg'].map((f) => join(opts.out, f)).join(', ')}\n`)
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`)
  process.exit(1)
})
