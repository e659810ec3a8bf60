// The servers under test: how to start each on a port, what keeps one from running here, and
// which scenarios it has no part in. Every one serves the same app (servers/shared.mjs).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import net from 'node:net'
import { request } from './processes.js'

/** The body of the echo scenario: the same 1 KiB as lua/echo.lua. */
export const ECHO_BODY = '0123456789abcdef'.repeat(64)
export const ECHO_PATH = '/echo/a/b/c?foo=echo&bar=69'
const ECHO_ANSWER = `{"body":"${ECHO_BODY}","query_params":{"bar":"69","foo":"echo"},"url_params":["a","b","c"]}\n`

/** The body of the express-json scenario: the same document as lua/express-json.lua. */
export const JSON_BODY = '{"id":12345,"name":"Pegasus","tags":["http","node","fast"],"active":true,"score":9.5,"owner":{"login":"bench","id":1}}'
export const JSON_PATH = '/json'
const JSON_ANSWER = JSON.stringify({ ok: true, echo: JSON.parse(JSON_BODY) })

/** What a server needs from the harness: where things are. */
// h: { root, bench, tmp, node (the Node.js binary the Node servers run on), nodeVersion }

function nodeServer(h, file, port) {
  return { command: h.node, args: [join(h.bench, 'servers', file), String(port), '127.0.0.1'], cwd: join(h.bench, 'servers') }
}

function missingPackages(h, names) {
  const missing = names.filter((name) => !existsSync(join(h.bench, 'node_modules', name, 'package.json')))
  return missing.length === 0 ? null : `${missing.join(', ')} not installed (npm ci --prefix benchmarks)`
}

function packageVersion(h, name) {
  try {
    return JSON.parse(readFileSync(join(h.bench, 'node_modules', name, 'package.json'), 'utf8')).version
  } catch {
    return null
  }
}

/** The first line a command prints (stdout, else stderr), or null when it cannot run. */
function firstLine(command, args) {
  try {
    const out = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 })
    if (out.error !== undefined || out.status !== 0) return null
    return (out.stdout.trim() || out.stderr.trim()).split('\n')[0] || null
  } catch {
    return null
  }
}

function which(command, extra = []) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...extra]) {
    if (dir !== '' && existsSync(join(dir, command))) return join(dir, command)
  }
  return null
}

/** dist/ has the library and its node interface. */
function pegasusLibraryMissing(h) {
  for (const file of ['dist/lib/server.js', 'dist/lib/interfaces/node/adapter.js']) {
    if (!existsSync(join(h.root, file))) return `${file} missing: run npm run build`
  }
  return null
}

const pegasus = {
  name: 'pegasus',
  label: 'Pegasus',
  unavailable(h) {
    for (const file of ['dist/cli.js', 'dist/fixtures/router.js', 'dist/lib/server.js']) {
      if (!existsSync(join(h.root, file))) return `${file} missing: run npm run build`
    }
    return null
  },
  notApplicable: () => null,
  version: (h) => `Pegasus ${JSON.parse(readFileSync(join(h.root, 'package.json'), 'utf8')).version}`,
  launch(h, port, scenario) {
    if (scenario === 'streaming') return nodeServer(h, 'pegasus-stream.mjs', port)
    return {
      command: h.node,
      args: ['dist/cli.js', '--host', '127.0.0.1', '--port', String(port), '--no-access-log', 'dist/fixtures/router.js:app'],
      cwd: h.root,
    }
  },
}

/**
 * Pegasus as above from another checkout, PEGASUS_BASELINE (its dist/ built): an earlier build
 * beside this one in the same run, for "no worse than before" (the machine's noise then moves
 * both alike).
 */
const BASELINE_SCENARIOS = ['hello', 'seed', 'rate', 'echo', 'pipelined']
const pegasusBaseline = {
  name: 'pegasus-baseline',
  label: 'Pegasus, baseline build',
  unavailable() {
    const root = process.env.PEGASUS_BASELINE
    if (root === undefined || root === '') return 'PEGASUS_BASELINE is not set (a checkout of an earlier Pegasus, built, to compare with)'
    return existsSync(join(root, 'dist', 'cli.js')) ? null : `${root}/dist/cli.js missing: build that checkout`
  },
  // The seed's app only.
  scenarios: BASELINE_SCENARIOS,
  notApplicable: () => null,
  version: () => `Pegasus baseline ${process.env.PEGASUS_BASELINE}`,
  launch(h, port) {
    return {
      command: h.node,
      args: ['dist/cli.js', '--host', '127.0.0.1', '--port', String(port), '--no-access-log', 'dist/fixtures/router.js:app'],
      cwd: process.env.PEGASUS_BASELINE,
    }
  },
}

/** Pegasus as above with its access log on, written to /dev/null (the access-log scenario). */
const pegasusAccessLog = {
  name: 'pegasus-log',
  label: 'Pegasus, access log to /dev/null',
  unavailable: (h) => pegasus.unavailable(h),
  notApplicable: () => null,
  version: (h) => pegasus.version(h),
  launch(h, port) {
    return {
      command: h.node,
      args: ['dist/cli.js', '--host', '127.0.0.1', '--port', String(port), 'dist/fixtures/router.js:app'],
      cwd: h.root,
      stdoutNull: true,
    }
  },
}

/**
 * Pegasus with its access log on, written by Pegasus itself to a file (`--access-logfile`) in the
 * run's temporary folder; stdout goes to /dev/null, so that a build without the flag writes
 * nothing there and is caught (`logFile`: the harness checks the file grows, and empties it
 * before each run).
 */
const pegasusAccessLogFile = {
  name: 'pegasus-logfile',
  label: 'Pegasus, access log to a file',
  unavailable: (h) => pegasus.unavailable(h) ?? cliLacks(h, '--access-logfile'),
  notApplicable: () => null,
  version: (h) => pegasus.version(h),
  launch(h, port) {
    const file = join(h.tmp, `access-${port}.log`)
    return {
      command: h.node,
      args: ['dist/cli.js', '--host', '127.0.0.1', '--port', String(port), '--access-logfile', file, 'dist/fixtures/router.js:app'],
      cwd: h.root,
      stdoutNull: true,
      logFile: file,
    }
  },
}

// --- workers and the accept path (issue 11) ---------------------------------------------------

let cliHelp
/** null when `node dist/cli.js -h` lists `flag`, else why the row cannot run on this build. */
function cliLacks(h, flag) {
  if (cliHelp === undefined) {
    const out = spawnSync(h.node, ['dist/cli.js', '-h'], { cwd: h.root, encoding: 'utf8', timeout: 10_000 })
    cliHelp = out.status === 0 ? out.stdout : ''
  }
  return new RegExp(`(^|[\\s,\\[])${flag}\\b`).test(cliHelp) ? null : `not supported by this build: \`node dist/cli.js -h\` has no ${flag}`
}

/** SO_REUSEPORT through net's `reusePort` listen option: Node.js 22.12+ (23.1+ on the 23 line). */
function hasReusePort(version) {
  const [major, minor] = version.split('.').map(Number)
  return major >= 24 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12)
}

/** The router fixture served by the library on one event loop: today's single process. */
const pegasusSingle = {
  name: 'pegasus-single',
  label: 'Pegasus single process (library)',
  scenarios: ['hello', 'close', 'workers'],
  unavailable: pegasusLibraryMissing,
  notApplicable: () => null,
  version: (h) => pegasus.version(h),
  launch: (h, port) => nodeServer(h, 'pegasus-single.mjs', port),
}

const BALANCE_LABELS = { 'round-robin': 'round-robin', shared: 'shared socket', reuseport: 'SO_REUSEPORT' }

/**
 * The CLI with `--workers N` (and `--balance MODE` when given): a primary and N workers.
 * `processes`: how many processes the tree must reach once it answers (the primary and its
 * workers); a build that takes the flag but serves from one process is caught by the harness.
 */
function pegasusWorkers({ name, workers, balance, scenarios }) {
  const balanceArgs = balance === undefined ? [] : ['--balance', balance]
  return {
    name,
    label: `Pegasus --workers ${workers}${balance === undefined ? '' : `, ${BALANCE_LABELS[balance]}`}`,
    scenarios,
    processes: 1 + workers,
    flags: ['--workers', String(workers), ...balanceArgs].join(' '),
    unavailable(h) {
      const why = pegasus.unavailable(h) ?? cliLacks(h, '--workers') ?? (balance === undefined ? null : cliLacks(h, '--balance'))
      if (why !== null) return why
      if (balance === 'reuseport' && !hasReusePort(h.nodeVersion)) return `needs Node.js >= 22.12 (net's reusePort): this is ${h.nodeVersion}`
      return null
    },
    notApplicable: () => null,
    version: (h) => pegasus.version(h),
    launch(h, port) {
      return {
        command: h.node,
        args: ['dist/cli.js', '--host', '127.0.0.1', '--port', String(port), '--workers', String(workers), ...balanceArgs, '--no-access-log', 'dist/fixtures/router.js:app'],
        cwd: h.root,
      }
    },
  }
}

const WORKER_SCENARIOS = ['close', 'workers']
const pegasusW1 = pegasusWorkers({ name: 'pegasus-w1', workers: 1, scenarios: WORKER_SCENARIOS })
const pegasusW1Rr = pegasusWorkers({ name: 'pegasus-w1-rr', workers: 1, balance: 'round-robin', scenarios: ['close'] })
const pegasusW1Shared = pegasusWorkers({ name: 'pegasus-w1-shared', workers: 1, balance: 'shared', scenarios: ['close'] })
const pegasusW1Reuseport = pegasusWorkers({ name: 'pegasus-w1-reuseport', workers: 1, balance: 'reuseport', scenarios: ['close'] })
const pegasusW2 = pegasusWorkers({ name: 'pegasus-w2', workers: 2, scenarios: WORKER_SCENARIOS })
const pegasusW2Rr = pegasusWorkers({ name: 'pegasus-w2-rr', workers: 2, balance: 'round-robin', scenarios: WORKER_SCENARIOS })
const pegasusW2Shared = pegasusWorkers({ name: 'pegasus-w2-shared', workers: 2, balance: 'shared', scenarios: WORKER_SCENARIOS })
const pegasusW2Reuseport = pegasusWorkers({ name: 'pegasus-w2-reuseport', workers: 2, balance: 'reuseport', scenarios: WORKER_SCENARIOS })

/**
 * node:http under node:cluster with 2 workers: node:cluster's default (round-robin through the
 * primary on Linux), and as references for Pegasus's --balance modes, SCHED_NONE (one shared
 * socket) and a socket per worker with SO_REUSEPORT.
 */
function nodeCluster({ name, balance, scenarios }) {
  return {
    name,
    label: `node:http, node:cluster ×2${balance === 'round-robin' ? '' : `, ${BALANCE_LABELS[balance]}`}`,
    scenarios,
    processes: 3,
    unavailable: (h) => (balance === 'reuseport' && !hasReusePort(h.nodeVersion) ? `needs Node.js >= 22.12 (net's reusePort): this is ${h.nodeVersion}` : null),
    notApplicable: () => null,
    version: () => null,
    launch(h, port) {
      const server = nodeServer(h, 'node-cluster.mjs', port)
      return { ...server, args: [...server.args, '2', balance] }
    },
  }
}
const nodeClusterRr = nodeCluster({ name: 'node-cluster', balance: 'round-robin', scenarios: WORKER_SCENARIOS })
const nodeClusterShared = nodeCluster({ name: 'node-cluster-shared', balance: 'shared', scenarios: ['close'] })
const nodeClusterReuseport = nodeCluster({ name: 'node-cluster-reuseport', balance: 'reuseport', scenarios: ['close'] })

/**
 * Pegasus's node interface serving servers/node-app.mjs, the handler node:http serves: it takes
 * part wherever node:http does (its ratio is to node:http).
 */
const pegasusNode = {
  name: 'pegasus-node',
  label: 'Pegasus node interface',
  unavailable: pegasusLibraryMissing,
  notApplicable: () => null,
  version: (h) => pegasus.version(h),
  launch: (h, port) => nodeServer(h, 'pegasus-node.mjs', port),
}

// Express and ws: the same app on node:http and on Pegasus's node interface. They take part in
// their own scenarios only (`scenarios`), and Pegasus's row is compared with the node:http one
// (`baseline`), not with the plain node:http handler.
const EXPRESS_ONLY = ['hello', 'express-json']

const express = {
  name: 'express',
  label: 'Express on node:http',
  scenarios: EXPRESS_ONLY,
  unavailable: (h) => missingPackages(h, ['express']),
  notApplicable: () => null,
  version: (h) => `Express ${packageVersion(h, 'express')}`,
  launch: (h, port) => nodeServer(h, 'express.mjs', port),
}

const pegasusExpress = {
  name: 'pegasus-express',
  label: 'Express on Pegasus',
  scenarios: EXPRESS_ONLY,
  baseline: 'express',
  unavailable: (h) => pegasusLibraryMissing(h) ?? missingPackages(h, ['express']),
  notApplicable: () => null,
  version: (h) => express.version(h),
  launch: (h, port) => nodeServer(h, 'pegasus-express.mjs', port),
}

const ws = {
  name: 'ws',
  label: 'ws on node:http',
  scenarios: ['websocket'],
  unavailable: (h) => missingPackages(h, ['ws']),
  notApplicable: () => null,
  version: (h) => `ws ${packageVersion(h, 'ws')}`,
  launch: (h, port) => nodeServer(h, 'ws.mjs', port),
}

const pegasusWs = {
  name: 'pegasus-ws',
  label: 'ws on Pegasus',
  scenarios: ['websocket'],
  baseline: 'ws',
  unavailable: (h) => pegasusLibraryMissing(h) ?? missingPackages(h, ['ws']),
  notApplicable: () => null,
  version: (h) => ws.version(h),
  launch: (h, port) => nodeServer(h, 'pegasus-ws.mjs', port),
}

const nodeHttp = {
  name: 'node-http',
  label: 'node:http',
  unavailable: () => null,
  notApplicable: () => null,
  version: () => null, // Node.js's version is in the machine line
  launch: (h, port) => nodeServer(h, 'node-http.mjs', port),
}

/**
 * The floor: node:net answering every read with one constant response (servers/bare-net.mjs,
 * nothing parsed: one request in flight per connection, so not pipelined).
 */
const nodeNet = {
  name: 'node-net',
  label: 'bare node:net (constant reply)',
  scenarios: ['hello', 'seed', 'rate'],
  unavailable: () => null,
  notApplicable: () => null,
  version: () => null,
  launch: (h, port) => nodeServer(h, 'bare-net.mjs', port),
}

const fastify = {
  name: 'fastify',
  label: 'fastify',
  unavailable: (h) => missingPackages(h, ['fastify']),
  notApplicable: () => null,
  version: (h) => `fastify ${packageVersion(h, 'fastify')}`,
  launch: (h, port) => nodeServer(h, 'fastify.mjs', port),
}

const hono = {
  name: 'hono',
  label: '@hono/node-server',
  unavailable: (h) => missingPackages(h, ['hono', '@hono/node-server']),
  notApplicable: () => null,
  version: (h) => `hono ${packageVersion(h, 'hono')} on @hono/node-server ${packageVersion(h, '@hono/node-server')}`,
  launch: (h, port) => nodeServer(h, 'hono.mjs', port),
}

/** Pegasus's fetch interface serving servers/fetch-app.mjs, the handler Bun.serve and srvx serve. */
const pegasusFetch = {
  name: 'pegasus-fetch',
  label: 'Pegasus fetch interface',
  unavailable: pegasusLibraryMissing,
  notApplicable: () => null,
  version: (h) => pegasus.version(h),
  launch: (h, port) => nodeServer(h, 'pegasus-fetch.mjs', port),
}

/** The Hono app of hono.mjs on Pegasus: compared with it on @hono/node-server. */
const pegasusHono = {
  name: 'pegasus-hono',
  label: 'Hono on Pegasus',
  baseline: 'hono',
  unavailable: (h) => pegasusLibraryMissing(h) ?? missingPackages(h, ['hono']),
  notApplicable: () => null,
  version: (h) => `hono ${packageVersion(h, 'hono')}`,
  launch: (h, port) => nodeServer(h, 'pegasus-hono.mjs', port),
}

const srvx = {
  name: 'srvx',
  label: 'srvx',
  unavailable: (h) => missingPackages(h, ['srvx']),
  notApplicable: () => null,
  version: (h) => `srvx ${packageVersion(h, 'srvx')}`,
  launch: (h, port) => nodeServer(h, 'srvx.mjs', port),
}

let bunVersion
const bunBinary = (h) => join(h.bench, 'node_modules', '.bin', 'bun')
const bun = {
  name: 'bun',
  label: 'Bun.serve',
  unavailable(h) {
    if (!existsSync(bunBinary(h))) return 'bun not installed (npm ci --prefix benchmarks)'
    bunVersion ??= firstLine(bunBinary(h), ['--version'])
    return bunVersion === null || !/^\d/.test(bunVersion) ? `the bun binary does not run (${bunVersion ?? 'no output'}): its postinstall could not fetch it` : null
  },
  notApplicable: () => null,
  version: () => `Bun ${bunVersion}`,
  launch(h, port) {
    return { command: bunBinary(h), args: [join(h.bench, 'servers', 'bun.mjs'), String(port), '127.0.0.1'], cwd: join(h.bench, 'servers') }
  },
}

const nginxBinary = () => which('nginx', ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'])
const nginx = {
  name: 'nginx',
  label: 'nginx',
  unavailable: () => (nginxBinary() === null ? 'nginx not installed (apt-get install -y nginx-light)' : null),
  notApplicable: (scenario) => (scenario === 'echo' || scenario === 'streaming' ? 'fixed body: serves GET / only' : null),
  version: () => firstLine(nginxBinary(), ['-v'])?.replace(/^nginx version: nginx\//, 'nginx ') ?? null,
  launch(h, port) {
    const dir = join(h.tmp, `nginx-${port}`)
    mkdirSync(dir, { recursive: true })
    const conf = join(dir, 'nginx.conf')
    writeFileSync(conf, nginxConf(dir, port))
    return { command: nginxBinary(), args: ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], cwd: dir }
  },
}

/** One worker (one core's worth, like the single-loop servers), no logging, a fixed answer. */
function nginxConf(dir, port) {
  return `worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events {
  worker_connections 20000;
}
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} backlog=1024;
    location = / {
      default_type "text/plain; charset=utf-8";
      return 200 "Blazingly Fast!\\n";
    }
  }
}
`
}

let flaskProblem
const gunicornBinary = () => which('gunicorn')

/** The Python that runs gunicorn (its script's #! line). */
function gunicornPython() {
  const shebang = /^#!\s*(\S+)/.exec(readFileSync(gunicornBinary(), 'latin1').split('\n')[0] ?? '')
  return shebang?.[1] ?? 'python3'
}

/** gunicorn and a Flask that its Python can import. */
function gunicornUnavailable() {
  if (gunicornBinary() === null) return 'gunicorn not installed (apt-get install -y gunicorn python3-flask)'
  if (flaskProblem === undefined) {
    const python = gunicornPython()
    flaskProblem = firstLine(python, ['-c', 'import flask; print("ok")']) === 'ok' ? null : `Flask not importable by ${python} (apt-get install -y python3-flask)`
  }
  return flaskProblem
}

function gunicornVersion() {
  const version = firstLine(gunicornBinary(), ['--version'])?.replace(/^gunicorn \(version (.*)\)$/, '$1')
  const flask = firstLine(gunicornPython(), ['-c', 'import importlib.metadata as m; print(m.version("flask"))'])
  const python = firstLine(gunicornPython(), ['--version'])
  return `gunicorn ${version} with Flask ${flask} (${python})`
}
const gunicornEnv = { PYTHONDONTWRITEBYTECODE: '1' }

const gunicornSync = {
  name: 'gunicorn-sync',
  label: 'gunicorn sync',
  unavailable: gunicornUnavailable,
  notApplicable(scenario) {
    if (scenario === 'idle') return 'the sync worker closes every connection after its response'
    if (scenario === 'streaming') return "the seed's Flask app has no /stream"
    return null
  },
  version: gunicornVersion,
  launch(h, port) {
    return { command: gunicornBinary(), args: ['--bind', `127.0.0.1:${port}`, 'flaskapp:app'], cwd: join(h.bench, 'servers'), env: gunicornEnv }
  },
}

const gunicornThreads = {
  name: 'gunicorn-gthread',
  label: 'gunicorn gthread ×8',
  unavailable: gunicornUnavailable,
  notApplicable: (scenario) => (scenario === 'streaming' ? "the seed's Flask app has no /stream" : null),
  version: gunicornVersion,
  launch(h, port) {
    return {
      command: gunicornBinary(),
      args: ['--bind', `127.0.0.1:${port}`, '-k', 'gthread', '--threads', '8', 'flaskapp:app'],
      cwd: join(h.bench, 'servers'),
      env: gunicornEnv,
    }
  },
}

/** The servers `--only` chooses from, in the order they run and appear in the table. */
export const SERVERS = [
  pegasus, pegasusBaseline, pegasusNode, pegasusFetch, nodeHttp, nodeNet, pegasusExpress, express, fastify, pegasusHono, hono, srvx, bun, nginx, gunicornSync, gunicornThreads, pegasusWs, ws,
  pegasusSingle, pegasusW1, pegasusW1Rr, pegasusW1Shared, pegasusW1Reuseport, pegasusW2, pegasusW2Rr, pegasusW2Shared, pegasusW2Reuseport, nodeClusterRr, nodeClusterShared, nodeClusterReuseport,
]
export const PEGASUS_ACCESS_LOG = pegasusAccessLog
export const PEGASUS_ACCESS_LOG_FILE = pegasusAccessLogFile

/**
 * Checks that a server answers the benchmark's requests as the seed's app does; returns what
 * is wrong, or null.
 */
export async function checkAnswers(port, { echo = false, pipelined = 0, json = false, close = false } = {}) {
  const hello = await request(port)
  const type = hello.headers['content-type']?.toLowerCase()
  if (hello.status !== 200 || hello.body !== 'Blazingly Fast!\n' || type !== 'text/plain; charset=utf-8') {
    return `GET / answered ${hello.status} ${JSON.stringify(hello.body.slice(0, 40))} as ${type}`
  }
  if (close) {
    const closed = await closedAfterAnswer(port)
    if (closed !== null) return closed
  }
  if (pipelined > 0) {
    const good = await pipelinedAnswers(port, pipelined)
    if (good !== pipelined) return `answered ${good} of ${pipelined} pipelined GET / requests`
  }
  if (json) {
    const answer = await request(port, { method: 'POST', path: JSON_PATH, headers: { 'Content-Type': 'application/json' }, body: JSON_BODY })
    const jsonType = answer.headers['content-type']?.toLowerCase() ?? ''
    if (answer.status !== 200 || answer.body !== JSON_ANSWER || !jsonType.startsWith('application/json')) {
      return `POST ${JSON_PATH} answered ${answer.status} ${JSON.stringify(answer.body.slice(0, 60))} as ${jsonType}`
    }
  }
  if (!echo) return null
  const answer = await request(port, { method: 'POST', path: ECHO_PATH, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: ECHO_BODY })
  const echoType = answer.headers['content-type']?.toLowerCase() ?? ''
  if (answer.status !== 200 || answer.body !== ECHO_ANSWER || !echoType.startsWith('application/json')) {
    return `POST ${ECHO_PATH} answered ${answer.status} ${JSON.stringify(answer.body.slice(0, 60))} as ${echoType}`
  }
  return null
}

/**
 * Sends `depth` GET / requests in one write and counts the whole, right answers that come back
 * (by Content-Length) before the connection closes or 3 s pass.
 */
function pipelinedAnswers(port, depth) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    let data = Buffer.alloc(0)
    let good = 0
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve(good)
    }
    const timer = setTimeout(done, 3000)
    socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(depth)))
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk])
      for (;;) {
        const end = data.indexOf('\r\n\r\n')
        if (end === -1) return
        const head = data.subarray(0, end).toString('latin1')
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)
        if (length === null) return done()
        const bodyEnd = end + 4 + Number(length[1])
        if (data.length < bodyEnd) return
        if (head.startsWith('HTTP/1.1 200') && data.toString('latin1', end + 4, bodyEnd) === 'Blazingly Fast!\n') good++
        data = data.subarray(bodyEnd)
        if (good === depth) return done()
      }
    })
    socket.on('error', done)
    socket.on('close', done)
  })
}

/**
 * Sends one `GET /` with `Connection: close`; null when the answer comes whole and the server
 * then closes the connection (within 2 s), else what happened. wrk reconnects only when the
 * answer says `Connection: close`: a server that kept the connection would be measured on
 * keep-alive instead of on its accept path.
 */
function closedAfterAnswer(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    let data = ''
    const done = (why) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(why)
    }
    const timer = setTimeout(() => done(`GET / with Connection: close: the connection was still open 2 s later (${JSON.stringify(data.slice(0, 40))} received)`), 2000)
    socket.setEncoding('latin1')
    socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'))
    socket.on('data', (text) => { data += text })
    socket.on('end', () => {
      const head = data.slice(0, data.indexOf('\r\n\r\n') + 1)
      if (!data.startsWith('HTTP/1.1 200') || !data.endsWith('Blazingly Fast!\n')) done(`GET / with Connection: close answered ${JSON.stringify(data.slice(0, 40))}`)
      else if (!/\r\nconnection:\s*close/i.test(head)) done('GET / with Connection: close: the answer has no Connection: close (wrk would keep the connection)')
      else done(null)
    })
    socket.on('error', (error) => done(`GET / with Connection: close: ${error.message}`))
  })
}
