// A descriptor flood against the CLI with its default flags (issue 18): N idle TCP connections
// (no byte sent) against a worker whose open-file limit is LIMIT, held for HOLD seconds, then
// released. Throughout, a probe every 0.5 s (a new connection, GET /, Connection: close) must
// be answered within 2 s; no worker may be restarted; once the flood leaves, the worker's
// descriptors go back to what they were.
//
//   node benchmarks/fd-flood.mjs [N] [LIMIT] [HOLD]     (20000, this shell's ulimit -n, 10)
//
// The connections come from child processes of this script (each holds at most CHILD_SHARE of
// them: a process has LIMIT descriptors too). Prints a line per phase and one JSON line.
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const CHILD_SHARE = 9000
const OPENING_AT_ONCE = 500

if (process.argv[2] === '--child') child(Number(process.argv[3]), Number(process.argv[4]))
else await main()

/** A child: opens `count` connections to `port`, tells how it went, holds them until told. */
async function child(port, count) {
  const sockets = []
  let opened = 0
  let failed = 0
  let closedByServer = 0
  const openOne = () =>
    new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.on('connect', () => {
        opened++
        resolve()
      })
      socket.on('error', () => {})
      socket.on('close', () => {
        if (socket.connecting) failed++
        else closedByServer++
        resolve()
      })
      sockets.push(socket)
    })
  for (let i = 0; i < count; i += OPENING_AT_ONCE) {
    const batch = []
    for (let j = i; j < Math.min(count, i + OPENING_AT_ONCE); j++) batch.push(openOne())
    await Promise.all(batch)
  }
  const report = () => process.stdout.write(JSON.stringify({ opened, failed, closedByServer }) + '\n')
  report()
  setInterval(report, 1000)
  process.stdin.on('data', () => {
    for (const socket of sockets) socket.destroy()
    report()
    process.exit(0)
  })
}

async function main() {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..')
  const n = Number(process.argv[2] ?? 20000)
  const limit = Number(process.argv[3] ?? (await shell('ulimit -n')))
  const hold = Number(process.argv[4] ?? 10)
  const server = spawn('/bin/sh', ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, join(root, 'dist', 'cli.js'), '--host', '127.0.0.1', '--port', '0', '--no-access-log'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  server.stdout.setEncoding('utf8').on('data', (text) => (log += text))
  server.stderr.setEncoding('utf8').on('data', (text) => (log += text))
  let port = 0
  while (port === 0) {
    const match = /Listen at "127\.0\.0\.1:(\d+)"/.exec(log)
    if (match !== null) port = Number(match[1])
    else await sleep(50)
  }
  // The CLI's one worker is its primary's child.
  const worker = Number(readFileSync(`/proc/${server.pid}/task/${server.pid}/children`, 'latin1').trim().split(/\s+/)[0])
  const fdsAtStart = fds(worker)
  say(`server: worker pid ${worker}, open-file limit ${limit}, ${fdsAtStart} descriptors open; ${log.match(/Threads: \d+/)?.[0]}`)

  const probes = []
  let probing = true
  const prober = (async () => {
    while (probing) {
      probes.push(await probe(port))
      await sleep(500)
    }
  })()
  let peakFds = fdsAtStart
  const sampler = setInterval(() => (peakFds = Math.max(peakFds, fds(worker))), 500)

  const started = Date.now()
  const children = []
  for (let left = n; left > 0; left -= CHILD_SHARE) {
    const count = Math.min(CHILD_SHARE, left)
    const proc = spawn('/bin/sh', ['-c', `ulimit -n ${Math.min(limit, 65536)} && exec "$0" "$@"`, process.execPath, fileURLToPath(import.meta.url), '--child', String(port), String(count)], { stdio: ['pipe', 'pipe', 'inherit'] })
    const state = { proc, last: null }
    proc.stdout.setEncoding('utf8').on('data', (text) => {
      const line = text.trim().split('\n').pop()
      if (line.startsWith('{')) state.last = JSON.parse(line)
    })
    children.push(state)
  }
  while (children.some((c) => c.last === null)) await sleep(100)
  const sum = (key) => children.reduce((total, c) => total + c.last[key], 0)
  say(`flood: ${sum('opened')} connected, ${sum('failed')} failed, in ${((Date.now() - started) / 1000).toFixed(1)} s; the worker holds ${fds(worker)} descriptors`)
  await sleep(hold * 1000)
  say(`held ${hold} s: ${sum('closedByServer')} of them closed by the server (idle past --header-timeout, or to make room); the worker holds ${fds(worker)} descriptors`)
  for (const c of children) c.proc.stdin.write('x')
  await Promise.all(children.map((c) => new Promise((resolve) => c.proc.on('exit', resolve))))
  // Released: the worker's descriptors come back (within its sweep of closed connections).
  let fdsAfter = fds(worker)
  for (let i = 0; i < 50 && fdsAfter > fdsAtStart + 5; i++) {
    await sleep(200)
    fdsAfter = fds(worker)
  }
  await sleep(2000)
  probing = false
  await prober
  clearInterval(sampler)
  // Workers booted after the first one listened.
  const restarts = [...log.slice(log.indexOf('Listen at')).matchAll(/Booting worker with pid/g)].length
  const latencies = probes.filter((p) => p.ms !== null).map((p) => p.ms)
  const result = {
    n,
    limit,
    hold,
    connected: sum('opened'),
    failed: sum('failed'),
    closedByServer: sum('closedByServer'),
    probes: probes.length,
    answeredWithin2s: probes.filter((p) => p.ok && p.ms <= 2000).length,
    maxProbeMs: latencies.length === 0 ? null : Math.max(...latencies),
    failures: probes.filter((p) => !p.ok).map((p) => p.error),
    restarts,
    workerAlive: alive(worker),
    fdsAtStart,
    peakFds,
    fdsAfter,
    warnings: [...new Set([...log.matchAll(/WARN: [^\n]*/g)].map((m) => m[0].replace(/\(\d+ since[^)]*\)/, '(...)')))],
  }
  say(`probes: ${result.answeredWithin2s}/${result.probes} answered within 2 s, slowest ${result.maxProbeMs?.toFixed(0)} ms; worker restarts: ${restarts}; descriptors ${fdsAtStart} -> peak ${peakFds} -> ${fdsAfter}`)
  process.stdout.write(JSON.stringify(result) + '\n')
  server.kill('SIGTERM')
}

function say(line) {
  process.stderr.write(`${line}\n`)
}

function fds(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return -1
  }
}

function alive(pid) {
  try {
    readFileSync(`/proc/${pid}/stat`)
    return true
  } catch {
    return false
  }
}

function shell(command) {
  return new Promise((resolve) => {
    const proc = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    proc.stdout.on('data', (chunk) => (out += chunk))
    proc.on('exit', () => resolve(out.trim()))
  })
}

/** GET / on a new connection: { ok, ms, error }; gives up after 10 s. */
function probe(port) {
  return new Promise((resolve) => {
    const start = performance.now()
    const socket = net.connect(port, '127.0.0.1')
    let text = ''
    const done = (ok, error) => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ ok, ms: ok ? performance.now() - start : null, error })
    }
    const timer = setTimeout(() => done(false, 'no answer in 10 s'), 10_000)
    socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n'))
    socket.setEncoding('latin1')
    socket.on('data', (chunk) => {
      text += chunk
      if (text.includes('\r\n')) done(text.startsWith('HTTP/1.1 200'), text.startsWith('HTTP/1.1 200') ? undefined : text.slice(0, 12))
    })
    socket.on('error', (error) => done(false, error.code))
    socket.on('close', () => done(false, 'closed'))
  })
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
