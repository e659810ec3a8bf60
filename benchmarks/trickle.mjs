#!/usr/bin/env node
// Trickle (issue 18, "A slow client holds nothing others need"): N connections (4, 100, 1,000)
// that upload a large body, or read a large response, at just above Pegasus's minimum data rate
// (240 B/s after a 5 s grace) must never keep another client waiting more than 1 s.
//
// For every server, attack and N: a fresh server on a free port of 127.0.0.1; an attacker process
// (this file, forked) that opens the N connections and feeds or drains them at --rate bytes a
// second from one shared timer; and, from this process, a probe every 0.5 s (a new connection,
// GET /, Connection: close) during the attack and for 5 s after it, answered when its status
// line comes within 1 s. Prints one Markdown table to stdout (progress to stderr) and writes
// trickle.json and table.md to --out.
//
//   node benchmarks/trickle.mjs [--only pegasus,pegasus-threads4,node-http] [--attacks uploads,readers]
//                               [--n 4,100,1000] [--seconds 40] [--quick] [--rate 300] [--ramp 500]
//                               [--pegasus-root DIR] [--out DIR] [--tcp-mem-budget PAGES]
//
// Pegasus must be built (DIR/dist). Nothing else is needed: the clients are node:net.
import { execFileSync, fork, spawn } from 'node:child_process'
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const thisFile = fileURLToPath(import.meta.url)
const bench = dirname(thisFile)
const repoRoot = dirname(bench)
const APP = join(bench, 'servers', 'trickle-app.mjs')

const PROBE_EVERY_MS = 500
const PROBE_DEADLINE_MS = 1000 // answered: a 200 status line within this
const PROBE_GIVE_UP_MS = 10_000 // a probe's latency is measured up to this, then it failed
const AFTER_MS = 5000 // probing goes on this long after the attack
const PROBE_REQUEST = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'

// The attacker's clock: one shared timer; each connection is visited every SLICES ticks, the
// connections spread over the slices so that their bytes do not all arrive at once.
const TICK_MS = 100
const SLICES = 5
const UPLOAD_LENGTH = 10_000_000 // the Content-Length announced
const UPLOAD_FIRST = 70_000 // sent at once, past Pegasus's 64 KiB --buffer-body: the app streams it
const UPLOAD_MAX_WRITE = 4 * 150 // catching up after a late tick: at most this much at once
const READ_BUFFER = 300 // a slow reader takes at most this many bytes a read
const SWEEP_EVERY_TICKS = 10 // the attacker looks at the server's side of its sockets every second

/** The servers: each serves servers/trickle-app.mjs (GET /, POST /echo, GET /big). */
const SERVERS = {
  pegasus: {
    label: 'Pegasus',
    pegasus: true,
    args: [],
  },
  'pegasus-threads4': {
    label: 'Pegasus --threads 4',
    pegasus: true,
    args: ['--threads', '4'],
  },
  'node-http': {
    label: 'node:http',
    pegasus: false,
  },
}

const ATTACKS = {
  uploads: { label: 'slow uploads', request: 'POST /echo' },
  readers: { label: 'slow readers', request: 'GET /big' },
}

const USAGE = `usage: node benchmarks/trickle.mjs [options]

  --only a,b            servers: ${Object.keys(SERVERS).join(', ')} (default: all)
  --attacks a,b         ${Object.keys(ATTACKS).join(', ')} (default: both)
  --n 4,100,1000        the numbers of slow connections (default 4,100,1000)
  --seconds N           length of each attack (default 40: past Pegasus's 30 s --timeout; --quick: 10)
  --quick               10 s attacks
  --rate B              bytes a second each slow connection sends or reads (default 300)
  --ramp C              connections the attacker opens a second at most (default 500)
  --pegasus-root DIR    the Pegasus checkout whose dist/ runs (default: this repository)
  --out DIR             where trickle.json and table.md go (default benchmarks/results/issue18-trickle)
  --tcp-mem-budget P    kernel TCP memory (pages, /proc/net/sockstat) the attacker stays under when
                        it opens connections; 0: no limit (default: 80% of tcp_mem's first value)
`

function fail(message) {
  process.stderr.write(`trickle: ${message}\n\n${USAGE}`)
  process.exit(2)
}

function options() {
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        only: { type: 'string' },
        attacks: { type: 'string' },
        n: { type: 'string', default: '4,100,1000' },
        seconds: { type: 'string' },
        quick: { type: 'boolean', default: false },
        rate: { type: 'string', default: '300' },
        ramp: { type: 'string', default: '500' },
        'pegasus-root': { type: 'string', default: repoRoot },
        out: { type: 'string', default: join(bench, 'results', 'issue18-trickle') },
        'tcp-mem-budget': { type: 'string' },
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
  const list = (text) => text.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const only = values.only === undefined ? Object.keys(SERVERS) : list(values.only)
  for (const name of only) if (!(name in SERVERS)) fail(`unknown server: ${name}`)
  const attacks = values.attacks === undefined ? Object.keys(ATTACKS) : list(values.attacks)
  for (const name of attacks) if (!(name in ATTACKS)) fail(`unknown attack: ${name}`)
  const counts = list(values.n).map(Number)
  const files = openFileLimit()
  for (const n of counts) {
    if (!Number.isInteger(n) || n < 1) fail(`--n takes positive integers: ${values.n}`)
    if (files !== null && n + 200 > files) fail(`--n ${n}: the open-file limit here is ${files} (ulimit -n); raise it`)
  }
  const seconds = Number(values.seconds ?? (values.quick ? 10 : 40))
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 600) fail(`--seconds must be an integer from 1 to 600: ${values.seconds}`)
  const rate = Number(values.rate)
  if (!Number.isInteger(rate) || rate < 1 || rate > 1_000_000) fail(`--rate must be an integer from 1 to 1000000: ${values.rate}`)
  const ramp = Number(values.ramp)
  if (!Number.isInteger(ramp) || ramp < 1 || ramp > 100_000) fail(`--ramp must be an integer from 1 to 100000: ${values.ramp}`)
  const tcpMem = tcpMemLimits()
  const budget = values['tcp-mem-budget'] === undefined
    ? (tcpMem === null ? 0 : Math.floor(tcpMem[0] * 0.8))
    : Number(values['tcp-mem-budget'])
  if (!Number.isInteger(budget) || budget < 0) fail(`--tcp-mem-budget takes a number of pages: ${values['tcp-mem-budget']}`)
  return {
    only, attacks, counts, seconds, rate, ramp, budget, files, tcpMem,
    pegasusRoot: resolve(values['pegasus-root']),
    out: resolve(values.out),
  }
}

// ---------------------------------------------------------------------------------------------
// What the kernel says (Linux /proc)

/** `ulimit -n` of this process (children inherit it), or null. */
function openFileLimit() {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
    return Number(line.trim().split(/\s+/)[3]) || null
  } catch {
    return null
  }
}

/** tcp_mem: [low, pressure, high] in pages, or null. */
function tcpMemLimits() {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_mem', 'utf8').trim().split(/\s+/).map(Number)
  } catch {
    return null
  }
}

/** The pages the kernel has allocated to TCP sockets, all of them on this machine, or 0. */
function tcpMemPages() {
  try {
    return Number(/^TCP:.* mem (\d+)/m.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1] ?? 0)
  } catch {
    return 0
  }
}

const TCP_STATES = { '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '06': 'TIME_WAIT', '07': 'CLOSE', '09': 'LAST_ACK', '0B': 'CLOSING' }

/**
 * The server's side of its TCP connections: `fn(state, remotePort)` for every socket in
 * /proc/net/tcp whose local port is `port` (lines "sl local rem st ...", HEXIP:HEXPORT, the state
 * in hex: 01 ESTABLISHED, 04 FIN_WAIT1, 08 CLOSE_WAIT, 0A LISTEN ...). 127.0.0.1 only: tcp4.
 * The file is not a snapshot: read while sockets come and go (here, and in whatever else runs on
 * the machine), it can list a socket twice or not at all. Twice is undone here (one call for each
 * remote address); not at all is the caller's to allow for.
 */
function eachServerSocket(port, fn) {
  let text
  try {
    text = readFileSync('/proc/net/tcp', 'latin1')
  } catch {
    return
  }
  const suffix = ':' + port.toString(16).toUpperCase().padStart(4, '0')
  const seen = new Set()
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields.length < 4 || !fields[1].endsWith(suffix) || seen.has(fields[2])) continue
    seen.add(fields[2])
    fn(fields[3], Number.parseInt(fields[2].slice(fields[2].indexOf(':') + 1), 16))
  }
}

// ---------------------------------------------------------------------------------------------
// The attacker (a child process): N slow connections, fed or drained from one timer

/**
 * Runs one attack and sends its result to the parent. `c`: { attack, n, seconds, rate, port,
 * budget }. Every connection is visited every SLICES ticks: an upload gets the bytes its rate
 * owes it (so a late tick is made up for), a reader is let read once (up to READ_BUFFER bytes)
 * when it has read less than its rate allows. Once a second the server's side of the sockets is
 * looked up in /proc/net/tcp: a reader does not see the server close while it is not reading (the
 * FIN waits behind the unread bytes), the server's socket state shows it at once.
 */
async function attacker(c) {
  const started = performance.now()
  const now = () => performance.now() - started
  const conns = []
  const byPort = new Map()
  let connected = 0
  let failed = 0
  let shed = 0
  let tick = 0
  let lastTickAt = 0
  let maxTickLate = 0
  let peakMem = 0
  let heldBack = 0 // ticks on which the memory budget kept connections from opening
  const limits = tcpMemLimits()
  const shedAbove = limits === null ? Infinity : limits[0]
  // A reader's worst cost in the kernel: the server's send buffer grown to its most, and the
  // reader's receive buffer at its default (it never grows: the reader is slow).
  const wmem = readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/).map(Number)
  const rmem = readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'utf8').trim().split(/\s+/).map(Number)
  const costPages = c.attack === 'readers' ? Math.ceil((wmem[2] + rmem[1]) / 4096) : Math.ceil((2 * UPLOAD_FIRST) / 4096)
  const upload = c.attack === 'uploads'
  const filler = Buffer.alloc(UPLOAD_MAX_WRITE, 'x')

  const finish = (conn, how, code) => {
    if (conn.end !== null) return
    conn.end = how
    conn.endedAt = now()
    conn.code = code ?? null
    if (how !== 'client') conn.socket.destroy()
  }

  const open = (index) => {
    const conn = {
      index, slice: index % SLICES, openedAt: now(), connectedAt: null, port: 0,
      sent: 0, got: 0, head: '', status: null, end: null, endedAt: null, code: null, socket: null, missing: 0,
    }
    const options = { port: c.port, host: '127.0.0.1' }
    if (!upload) {
      options.onread = {
        buffer: Buffer.alloc(READ_BUFFER),
        callback: (bytes, buffer) => {
          conn.got += bytes
          if (conn.head.length < 256) readHead(conn, buffer.latin1Slice(0, bytes))
          return false // one read, then paused until the next visit
        },
      }
    }
    const socket = net.connect(options)
    conn.socket = socket
    socket.on('connect', () => {
      connected++
      conn.connectedAt = now()
      conn.port = socket.localPort
      byPort.set(conn.port, conn)
      if (upload) {
        socket.write(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${UPLOAD_LENGTH}\r\n\r\n`)
        socket.write(Buffer.alloc(UPLOAD_FIRST, 'x'))
      } else {
        socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n')
      }
    })
    if (upload) socket.on('data', (chunk) => { conn.got += chunk.length; if (conn.head.length < 256) readHead(conn, chunk.latin1Slice(0, Math.min(256, chunk.length))) })
    socket.on('end', () => finish(conn, 'server'))
    socket.on('error', (error) => {
      if (conn.connectedAt === null) failed++
      finish(conn, conn.connectedAt === null ? 'connect-error' : 'server', error.code)
    })
    socket.on('close', () => finish(conn, conn.connectedAt === null ? 'connect-error' : 'server'))
    conns.push(conn)
  }

  const visit = (conn, t) => {
    if (conn.end !== null || conn.connectedAt === null) return
    const due = Math.floor(((t - conn.connectedAt) / 1000) * c.rate)
    if (upload) {
      const owed = due - conn.sent
      if (owed <= 0 || conn.socket.writableLength > 64 * 1024) return
      const bytes = Math.min(owed, UPLOAD_MAX_WRITE)
      conn.sent += bytes
      conn.socket.write(filler.subarray(0, bytes))
    } else if (conn.got < due) {
      conn.socket.resume()
    }
  }

  // The server's side of each socket: gone or no longer ESTABLISHED once the server has closed.
  const sweep = (t) => {
    const seen = new Set()
    eachServerSocket(c.port, (state, remotePort) => {
      const conn = byPort.get(remotePort)
      if (conn === undefined) return
      seen.add(remotePort)
      if (state !== '01' && state !== '08') finish(conn, 'server', `server's socket ${TCP_STATES[state] ?? state}`)
    })
    // Missing from two reads in a row: one read of /proc/net/tcp can skip a socket.
    for (const conn of byPort.values()) {
      if (conn.end !== null || t - conn.connectedAt < 1000) continue
      conn.missing = seen.has(conn.port) ? 0 : conn.missing + 1
      if (conn.missing >= 2) finish(conn, 'server', "server's socket gone")
    }
    for (const [port, conn] of byPort) if (conn.end !== null) byPort.delete(port)
  }

  await new Promise((done) => {
    const timer = setInterval(() => {
      const t = now()
      if (lastTickAt !== 0) maxTickLate = Math.max(maxTickLate, t - lastTickAt - TICK_MS)
      lastTickAt = t
      tick++
      const mem = tcpMemPages()
      peakMem = Math.max(peakMem, mem)
      if (t >= c.seconds * 1000) {
        clearInterval(timer)
        done()
        return
      }
      // Ramp up, within the kernel memory budget: connections less than 2 s old count at their
      // worst cost, their buffers are still filling.
      if (conns.length < c.n) {
        const young = conns.reduce((k, x) => k + (x.end === null && t - x.openedAt < 2000 ? 1 : 0), 0)
        const room = c.budget === 0 ? Infinity : Math.floor((c.budget - mem) / costPages) - young
        const due = Math.min(c.n, Math.floor((c.ramp * t) / 1000) + 1) - conns.length // --ramp a second
        if (room < due) heldBack++
        for (let i = 0; i < Math.min(due, room); i++) open(conns.length)
      }
      // Above tcp_mem's low mark (other work on the machine grew, or our estimate was short):
      // close our newest connections, so the kernel never goes into memory pressure.
      if (mem > shedAbove) {
        let k = 0
        for (let i = conns.length - 1; i >= 0 && k < 20; i--) {
          if (conns[i].end === null) {
            finish(conns[i], 'shed')
            shed++
            k++
          }
        }
      }
      const slice = tick % SLICES
      for (const conn of conns) if (conn.slice === slice) visit(conn, t)
      if (tick % SWEEP_EVERY_TICKS === 0) sweep(t)
    }, TICK_MS)
  })

  const end = now()
  sweep(end)
  const result = summarize(c, conns, end, { connected, failed, shed, maxTickLate, peakMem, heldBack, costPages })
  for (const conn of conns) {
    if (conn.end === null) finish(conn, 'client')
    conn.socket.destroy()
  }
  return result
}

function readHead(conn, text) {
  conn.head += text
  if (conn.status !== null) return
  const end = conn.head.indexOf('\r\n')
  if (end === -1) return
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(conn.head.slice(0, end))
  conn.status = match === null ? 0 : Number(match[1])
}

const median = (xs) => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}
const round = (x, digits = 1) => (x === null ? null : Number(x.toFixed(digits)))

function summarize(c, conns, end, counters) {
  const open = conns.filter((x) => x.connectedAt !== null)
  const cut = open.filter((x) => x.end === 'server')
  const statuses = {}
  for (const x of open) if (x.status !== null) statuses[x.status] = (statuses[x.status] ?? 0) + 1
  // What each connection really sent or read, over the time it lived.
  const rates = open.filter((x) => x.end !== 'shed').map((x) => {
    const lived = ((x.endedAt ?? end) - x.connectedAt) / 1000
    const bytes = c.attack === 'uploads' ? x.sent : x.got
    return lived > 0 ? bytes / lived : 0
  })
  const snippets = {}
  for (const x of cut) {
    if (x.status === null || x.status === 200 || snippets[x.status] !== undefined) continue
    const body = x.head.indexOf('\r\n\r\n')
    snippets[x.status] = body === -1 ? x.head.split('\r\n')[0] : x.head.slice(body + 4).trim().slice(0, 80)
  }
  return {
    opened: conns.length,
    connected: counters.connected,
    connectFailed: counters.failed,
    shed: counters.shed,
    heldBackTicks: counters.heldBack,
    costPagesAssumed: counters.costPages,
    cut: cut.length,
    cutStatuses: Object.fromEntries(Object.entries(cut.reduce((m, x) => {
      const key = x.status === null || x.status === 200 ? (x.code ?? 'closed') : String(x.status)
      m[key] = (m[key] ?? 0) + 1
      return m
    }, {}))),
    cutAfterSeconds: {
      min: round(cut.length === 0 ? null : Math.min(...cut.map((x) => (x.endedAt - x.connectedAt) / 1000))),
      median: round(median(cut.map((x) => (x.endedAt - x.connectedAt) / 1000))),
      max: round(cut.length === 0 ? null : Math.max(...cut.map((x) => (x.endedAt - x.connectedAt) / 1000))),
    },
    snippets,
    heldToTheEnd: open.filter((x) => x.end === null).length,
    statuses,
    rateBytesPerSecond: { min: round(rates.length === 0 ? null : Math.min(...rates)), median: round(median(rates)) },
    bytes: {
      sent: open.reduce((k, x) => k + x.sent, 0) + (c.attack === 'uploads' ? open.length * UPLOAD_FIRST : 0),
      got: open.reduce((k, x) => k + x.got, 0),
    },
    maxTickLateMs: Math.round(counters.maxTickLate),
    peakTcpMemPages: counters.peakMem,
    lastOpenedAtSeconds: round(conns.length === 0 ? null : conns.at(-1).openedAt / 1000),
  }
}

// ---------------------------------------------------------------------------------------------
// The driver: servers, probes, rows

const t0 = Date.now()
const log = (line) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${line}\n`)
const live = new Set()

/** A detached child (its own process group, so that the CLI's workers go with it). */
function startServer(command, args, cwd, output) {
  const fd = openSync(output, 'a')
  const child = spawn(command, args, { cwd, stdio: ['ignore', fd, fd], detached: true })
  closeSync(fd)
  live.add(child)
  child.exited = new Promise((done) => child.once('exit', (code, signal) => {
    live.delete(child)
    done({ code, signal })
  }))
  return child
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal)
  } catch {
    // gone already
  }
}

async function stopServer(child) {
  if (child.exitCode === null && child.signalCode === null) {
    killGroup(child, 'SIGTERM')
    const ended = await Promise.race([child.exited.then(() => true), sleep(3000).then(() => false)])
    if (!ended) killGroup(child, 'SIGKILL')
  }
  killGroup(child, 'SIGKILL')
  await child.exited
}

function freePort() {
  return new Promise((done, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => done(port))
    })
  })
}

/**
 * One probe: a new connection sending GET /; its latency is the time from connecting to a whole
 * status line. `ok`: a 200 within PROBE_DEADLINE_MS. Failures: refused, reset, closed without a
 * status line, another status, nothing within PROBE_GIVE_UP_MS.
 */
function probe(port) {
  return new Promise((done) => {
    const began = performance.now()
    const socket = net.connect({ port, host: '127.0.0.1' })
    let head = ''
    let settled = false
    let connectMs = null
    const finish = (status, failure) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      const endedAt = performance.now()
      const ms = endedAt - began
      done({ ms, connectMs, status, failure, ok: failure === null && status === 200 && ms <= PROBE_DEADLINE_MS, began, endedAt })
    }
    const timer = setTimeout(() => finish(null, `no status line in ${PROBE_GIVE_UP_MS / 1000} s`), PROBE_GIVE_UP_MS)
    socket.setEncoding('latin1')
    socket.on('connect', () => {
      connectMs = Math.round(performance.now() - began)
      socket.write(PROBE_REQUEST)
    })
    socket.on('data', (text) => {
      head += text
      const end = head.indexOf('\r\n')
      if (end === -1) {
        if (head.length > 1024) finish(null, 'no status line')
        return
      }
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head.slice(0, end))?.[1] ?? 0)
      finish(status, status === 200 ? null : `status ${status}`)
    })
    socket.on('error', (error) => finish(null, error.code ?? error.message))
    socket.on('close', () => finish(null, 'closed without a status line'))
  })
}

/**
 * This process's own stalls (a busy machine can keep it off the CPU): a 10 ms timer that fires
 * more than STALL_MS late marks the time in between as stalled. A probe that lasted through a
 * stall may have been answered during it and seen late: its `stalledMs` says how long.
 */
const STALL_MS = 50

function watchStalls() {
  const stalls = []
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    if (now - last > 10 + STALL_MS) stalls.push([last + 10, now])
    last = now
  }, 10)
  return {
    stop() {
      clearInterval(timer)
      return stalls
    },
    /** Milliseconds of [from, to] that this process was stalled. */
    within(from, to) {
      let ms = 0
      for (const [a, b] of stalls) ms += Math.max(0, Math.min(b, to) - Math.max(a, from))
      return ms
    },
  }
}

/** Probes on a fixed clock, whether or not the last one has finished; `phase` labels new ones. */
function startProbing(port) {
  const probes = []
  let phase = 'during'
  const began = Date.now()
  const next = () => probes.push({ phase, at: (Date.now() - began) / 1000, result: probe(port) })
  next()
  const timer = setInterval(next, PROBE_EVERY_MS)
  return {
    set phase(value) { phase = value },
    async stop() {
      clearInterval(timer)
      const results = await Promise.all(probes.map((p) => p.result))
      return probes.map((p, i) => ({ phase: p.phase, at: p.at, ...results[i] }))
    },
  }
}

/** The attacker process: resolves with its result, or with { error } if it dies or hangs. */
function runAttacker(config) {
  const child = fork(thisFile, ['--attacker', JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  live.add(child)
  return new Promise((done) => {
    let result = null
    const limit = setTimeout(() => child.kill('SIGKILL'), (config.seconds + 60) * 1000)
    child.on('message', (message) => { result = message })
    child.once('exit', (code, signal) => {
      clearTimeout(limit)
      live.delete(child)
      done(result ?? { error: `the attacker exited (${code ?? signal}) without a result` })
    })
  })
}

/** The command line of a server. */
function launch(o, serverName, port) {
  const server = SERVERS[serverName]
  if (server.pegasus) {
    return {
      command: process.execPath,
      args: [join(o.pegasusCopy, 'dist/cli.js'), '--host', '127.0.0.1', '--port', String(port), '--no-access-log',
        ...server.args, `${APP}:handle`],
      cwd: o.pegasusCopy,
    }
  }
  return { command: process.execPath, args: [join(bench, 'servers', 'trickle-node-http.mjs'), String(port), '127.0.0.1'], cwd: bench }
}

async function waitUntilAnswering(child, port, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode})`)
    const result = await probe(port)
    if (result.status === 200) return
    await sleep(100)
  }
  throw new Error(`did not answer GET / within ${timeoutMs / 1000} s`)
}

/** CPU time (user + system, ms) of every process in the group led by `pid`, from /proc. */
function groupCpuMs(pid) {
  let ticks = 0
  let entries = []
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name))
  } catch {
    return null
  }
  for (const name of entries) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1')
      // After "pid (comm) ": state ppid pgrp ... utime (14th field) stime (15th)
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[2]) === pid) ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // gone meanwhile
    }
  }
  return ticks * 10 // USER_HZ is 100 on Linux
}

function tail(path, lines = 3) {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-lines).join(' | ')
  } catch {
    return ''
  }
}

/** Waits (up to 20 s) for the kernel's TCP memory to come back near where it was before. */
async function settle(baseline) {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline && tcpMemPages() > baseline + 25_600) await sleep(250)
}

/** One server, one attack, one N: a row. */
async function measure(o, serverName, attackName, n) {
  const server = SERVERS[serverName]
  const row = { server: server.label, serverName, attack: ATTACKS[attackName].label, attackName, n }
  if (server.pegasus && o.pegasusCopy === null) {
    return { ...row, note: `skipped: ${join(o.pegasusRoot, 'dist/cli.js')} missing: build Pegasus first` }
  }
  const port = await freePort()
  const logFile = join(o.logs, `${serverName}-${attackName}-${n}.log`)
  writeFileSync(logFile, '')
  const { command, args, cwd } = launch(o, serverName, port)
  log(`${serverName} ${attackName} ×${n}: starting on 127.0.0.1:${port}`)
  const child = startServer(command, args, cwd, logFile)
  try {
    try {
      await waitUntilAnswering(child, port)
    } catch (error) {
      return { ...row, note: `did not start: ${error.message} ${tail(logFile)}`.trim() }
    }
    row.serverSays = readFileSync(logFile, 'utf8').split('\n').filter((l) => /Threads:|Interface:/.test(l))
    row.loadBefore = os.loadavg().map((x) => round(x, 2))
    const stalls = watchStalls()
    // The server's side of its port, every second: how many connections it holds.
    const held = []
    const sampler = setInterval(() => {
      const count = { established: 0, closing: 0 }
      eachServerSocket(port, (state) => {
        if (state === '01' || state === '08') count.established++
        else if (state !== '0A') count.closing++
      })
      held.push({ at: Math.round((Date.now() - began) / 100) / 10, ...count, tcpMem: tcpMemPages() })
    }, 1000)
    const cpuBefore = groupCpuMs(child.pid)
    const began = Date.now()
    const probing = startProbing(port)
    const attack = await runAttacker({ attack: attackName, n, seconds: o.seconds, rate: o.rate, ramp: o.ramp, port, budget: o.budget })
    row.attackSeconds = (Date.now() - began) / 1000
    const cpuAfter = groupCpuMs(child.pid)
    row.serverCpuMs = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore
    probing.phase = 'after'
    await sleep(AFTER_MS)
    const probes = (await probing.stop()).map(({ began, endedAt, ms, ...p }) => ({
      ...p, ms: Math.round(ms), stalledMs: Math.round(stalls.within(began, endedAt)),
    }))
    clearInterval(sampler)
    const stallList = stalls.stop()
    row.loadAfter = os.loadavg().map((x) => round(x, 2))
    row.attacker = attack
    row.serverHeldPeak = held.reduce((m, h) => Math.max(m, h.established), 0)
    row.serverHeld = held
    row.probes = probes
    const summary = (list) => ({
      sent: list.length,
      ok: list.filter((p) => p.ok).length,
      maxMs: list.reduce((m, p) => Math.max(m, p.ms), 0),
      failures: list.filter((p) => p.failure !== null).length,
    })
    row.probeSummary = { all: summary(probes), during: summary(probes.filter((p) => p.phase === 'during')), after: summary(probes.filter((p) => p.phase === 'after')) }
    row.failureKinds = [...new Set(probes.filter((p) => p.failure !== null).map((p) => p.failure))]
    row.proberStalls = { count: stallList.length, maxMs: Math.round(stallList.reduce((m, [a, b]) => Math.max(m, b - a), 0)) }
    // The slowest probe, and how much of its wait this process itself was stalled.
    const slowest = probes.reduce((m, p) => (m === null || p.ms > m.ms ? p : m), null)
    row.slowestProbe = slowest
    const logLines = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.trim() !== '')
    row.serverLogLines = logLines.length
    // What the server said, each kind of line once (numbers and addresses left out of the kind).
    const kinds = new Map()
    for (const line of logLines) {
      const kind = line.replace(/[0-9]+/g, '#')
      if (!kinds.has(kind)) kinds.set(kind, { first: line, count: 0 })
      kinds.get(kind).count++
    }
    row.serverLog = [...kinds.values()].slice(0, 20)
    row.serverExited = child.exitCode !== null || child.signalCode !== null ? `${child.exitCode ?? child.signalCode}` : null
    row.note = notes(o, row)
    const s = row.probeSummary.all
    log(`${serverName} ${attackName} ×${n}: probes ${s.ok}/${s.sent} within 1 s, max ${s.maxMs} ms, ${s.failures} failed; ` +
      (attack.error ?? `opened ${attack.opened}, cut ${attack.cut}, held to the end ${attack.heldToTheEnd}; server held at most ${row.serverHeldPeak}`))
    return row
  } finally {
    await stopServer(child)
  }
}

function notes(o, row) {
  const a = row.attacker
  if (a.error !== undefined) return a.error
  const out = []
  if (a.cut > 0) {
    const kinds = Object.entries(a.cutStatuses).map(([k, v]) => `${/^\d+$/.test(k) ? k : k} ×${v}`).join(', ')
    const said = Object.entries(a.snippets).map(([status, text]) => `${status}: "${text}"`).join('; ')
    out.push(`cut after ${a.cutAfterSeconds.min}-${a.cutAfterSeconds.max} s (median ${a.cutAfterSeconds.median}): ${kinds}${said === '' ? '' : ` (${said})`}`)
  }
  const budget = `kernel TCP memory budget (${o.budget} pages, ~${a.costPagesAssumed} a connection)`
  if (a.opened < row.n) out.push(`opened ${a.opened} of ${row.n}: ${a.heldBackTicks > 0 ? budget : `--ramp ${o.ramp} a second`}`)
  else if (a.heldBackTicks > 0) out.push(`the last opened at ${a.lastOpenedAtSeconds} s: ${budget}`)
  if (a.connectFailed > 0) out.push(`${a.connectFailed} connects failed`)
  if (a.shed > 0) out.push(`${a.shed} closed by the attacker above tcp_mem's low mark`)
  out.push(`${row.attackName === 'uploads' ? 'sent' : 'read'} ${a.rateBytesPerSecond.median} B/s a connection (median)`)
  if (row.serverCpuMs !== null) out.push(`server CPU ${(row.serverCpuMs / 1000).toFixed(1)} s`)
  if (a.maxTickLateMs > 250) out.push(`attacker timer up to ${a.maxTickLateMs} ms late`)
  if (row.slowestProbe !== null && row.slowestProbe.stalledMs >= 100) {
    out.push(`the slowest probe's prober was itself stalled ${row.slowestProbe.stalledMs} ms of its ${row.slowestProbe.ms} ms`)
  }
  const late = row.probes.filter((p) => !p.ok && p.failure === null)
  const lateAnyway = late.filter((p) => p.ms - p.stalledMs > PROBE_DEADLINE_MS).length
  if (late.length > 0 && lateAnyway < late.length) out.push(`${late.length - lateAnyway} of the ${late.length} late probes within 1 s but for the prober's own stalls`)
  if (row.failureKinds.length > 0) out.push(`probe failures: ${row.failureKinds.join(', ')}`)
  if (row.serverExited !== null) out.push(`server exited (${row.serverExited})`)
  return out.join('; ')
}

const cell = (text) => String(text).replaceAll('|', '\\|').replaceAll('\n', ' ')

function markdown(rows) {
  const lines = [
    '| server | attack | N | opened | probes answered ≤ 1 s / sent | max probe latency | probe failures | cut by the server | held by the server (peak / end) | notes |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ]
  for (const r of rows) {
    if (r.probeSummary === undefined || r.attacker?.error !== undefined) {
      lines.push(`| ${r.server} | ${r.attack} | ${r.n} | – | – | – | – | – | – | ${cell(r.note)} |`)
      continue
    }
    const s = r.probeSummary.all
    const a = r.attacker
    const atEnd = r.serverHeld.filter((h) => h.at <= r.attackSeconds).at(-1)?.established ?? '?'
    lines.push(`| ${r.server} | ${r.attack} | ${r.n} | ${a.connected} | ${s.ok}/${s.sent} | ${s.maxMs} ms | ${s.failures} | ` +
      `${a.cut} | ${r.serverHeldPeak} / ${atEnd} | ${cell(r.note)} |`)
  }
  return lines.join('\n')
}

function machine() {
  const cpus = os.cpus()
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Linux ${os.release()}; Node.js ${process.version}`
}

async function main() {
  const o = options()
  mkdirSync(o.out, { recursive: true })
  o.logs = mkdtempSync(join(os.tmpdir(), 'pegasus-trickle-'))
  log(`server logs in ${o.logs}`)
  process.on('exit', () => {
    if (o.pegasusCopy) rmSync(o.pegasusCopy, { recursive: true, force: true })
    for (const child of live) {
      killGroup(child, 'SIGKILL') // a server's group
      child.kill('SIGKILL') // the attacker (no group of its own)
    }
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      log(`${signal}: stopping every process started`)
      process.exit(130)
    })
  }
  // Pegasus runs from a copy of its dist/ taken now: a checkout others build in may change under a
  // run of several minutes, and every row is to measure the same build.
  o.distBuiltAt = distBuiltAt(o.pegasusRoot)
  o.pegasusCopy = o.only.some((name) => SERVERS[name].pegasus) ? copyPegasus(o.pegasusRoot, o.logs) : null
  const baseline = tcpMemPages()
  const startedAt = new Date().toISOString()
  const loadAtStart = os.loadavg()
  const pegasusCommit = gitHead(o.pegasusRoot)
  const rows = []
  for (const attackName of o.attacks) {
    for (const n of o.counts) {
      for (const serverName of o.only) {
        rows.push(await measure(o, serverName, attackName, n))
        await settle(baseline)
      }
    }
  }
  const header = [
    `Machine: ${machine()}; open-file limit ${o.files ?? 'unknown'} (ulimit -n); tcp_mem ${o.tcpMem?.join(' ') ?? 'unknown'} pages. ` +
      `Load average at the start ${loadAtStart.map((x) => x.toFixed(2)).join(' ')} (a shared machine: other work runs alongside).`,
    `Run: ${startedAt}; ${o.seconds} s attacks at ${o.rate} B/s a connection, opened at up to ${o.ramp} a second; Pegasus from ${o.pegasusRoot}${pegasusCommit === null ? '' : ` (HEAD ${pegasusCommit})`}` +
      `${o.distBuiltAt === null ? '' : `, its dist/ as built ${o.distBuiltAt} (copied at the start)`}, ` +
      `CLI defaults unless named; kernel TCP memory budget ${o.budget} pages.`,
  ]
  const footer = [
    `Uploads: POST /echo with Content-Length ${UPLOAD_LENGTH}, ${UPLOAD_FIRST} bytes at once, then ${o.rate} B/s. ` +
      `Readers: GET /big (${10_000_000} bytes), read ${READ_BUFFER} bytes at a time at ${o.rate} B/s. ` +
      `Probes: a new connection every ${PROBE_EVERY_MS / 1000} s (GET /, Connection: close) during the attack and ${AFTER_MS / 1000} s after; ` +
      `answered when a 200 status line comes within ${PROBE_DEADLINE_MS / 1000} s; latency measured up to ${PROBE_GIVE_UP_MS / 1000} s. ` +
      'Opened: connections the attacker got. Cut: attack connections the server closed before the attack ended (an upload sees ' +
      'the answer or the close; a reader, which does not read the FIN behind its unread bytes, is seen closed on the server\'s ' +
      'side of the socket in /proc/net/tcp). Held: the server\'s ESTABLISHED sockets on its port, sampled every second.',
  ]
  const table = [...header, '', markdown(rows), '', ...footer].join('\n')
  process.stdout.write(`${table}\n`)
  writeFileSync(join(o.out, 'table.md'), `${table}\n`)
  writeFileSync(join(o.out, 'trickle.json'), `${JSON.stringify({ startedAt, machine: machine(), loadAtStart, pegasusCommit, options: o, rows }, null, 1)}\n`)
  log(`wrote ${join(o.out, 'table.md')} and trickle.json`)
}

/** When the checkout's dist/ was last built (its newest dist/lib/*.js), as an ISO string, or null. */
function distBuiltAt(dir) {
  try {
    const lib = join(dir, 'dist', 'lib')
    const newest = readdirSync(lib).filter((f) => f.endsWith('.js')).reduce((m, f) => Math.max(m, statSync(join(lib, f)).mtimeMs), 0)
    return newest === 0 ? null : new Date(newest).toISOString()
  } catch {
    return null
  }
}

/** DIR/dist and DIR/package.json copied under `into` (node_modules linked), or null without a build. */
function copyPegasus(dir, into) {
  if (!existsSync(join(dir, 'dist', 'cli.js'))) return null
  const copy = join(into, 'pegasus')
  mkdirSync(copy)
  cpSync(join(dir, 'dist'), join(copy, 'dist'), { recursive: true })
  cpSync(join(dir, 'package.json'), join(copy, 'package.json'))
  if (existsSync(join(dir, 'node_modules'))) symlinkSync(realpathSync(join(dir, 'node_modules')), join(copy, 'node_modules'))
  return copy
}

/** "abc1234 subject" of the checkout's HEAD, or null. */
function gitHead(dir) {
  try {
    return execFileSync('git', ['-C', dir, 'log', '-1', '--format=%h %s'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim().slice(0, 100) || null
  } catch {
    return null
  }
}

if (process.argv[2] === '--attacker') {
  const result = await attacker(JSON.parse(process.argv[3]))
  process.send(result, () => process.exit(0))
} else {
  await main()
}
