#!/usr/bin/env node
// Slow clients: how a server stays available while slowhttptest holds 1,000 slow connections to
// it (slow body, slowloris, slow read). For every server and mode: a fresh server on a free port
// of 127.0.0.1, slowhttptest against it, and our own probe (a new connection every 0.5 s that
// must get its status line within 1 s) during the attack and for 5 s after it. Prints one
// Markdown table to stdout; progress goes to stderr.
//
//   node benchmarks/slow-clients.mjs [--only pegasus,node-http] [--modes B,H,X] [--seconds 30]
//                                    [--pegasus-root DIR]
//
// Needs slowhttptest (Debian: apt-get install -y slowhttptest). Pegasus must be built (dist/).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort, killAll, start, stop, tail, waitUntilAnswering } from './harness/processes.js'

const bench = dirname(fileURLToPath(import.meta.url))
const repoRoot = dirname(bench)

const PROBE_EVERY_MS = 500
const PROBE_TIMEOUT_MS = 1000
const AFTER_MS = 5000 // probing goes on this long after slowhttptest ends: does the server recover?
const CLOSE_WAIT_AGAIN_MS = 2000
const PROBE_REQUEST = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'

// Slow read's own numbers, used to tell whether a response is big enough for it to matter.
const SLOW_READ_MIN_WINDOW = 512 // -w
const SLOW_READ_PIPELINE = 3 // -k

/** The attacks, as the brief fixes them; `seconds` is the test length (-l). */
const MODES = {
  B: {
    label: 'B slow body',
    path: '/echo',
    args: ['-c', '1000', '-B', '-i', '10', '-r', '200', '-s', '8192', '-t', 'POST', '-x', '10', '-p', '3'],
  },
  H: {
    label: 'H slowloris',
    path: '/',
    args: ['-c', '1000', '-H', '-i', '10', '-r', '200', '-t', 'GET', '-x', '24', '-p', '3'],
  },
  X: {
    label: 'X slow read',
    path: '/',
    args: ['-c', '1000', '-X', '-r', '200', '-w', String(SLOW_READ_MIN_WINDOW), '-y', '1024', '-n', '5', '-z', '32',
      '-k', String(SLOW_READ_PIPELINE), '-p', '3'],
  },
}

/** The servers: both answer GET / ("Blazingly Fast!") and POST /echo (the body back). */
const SERVERS = {
  pegasus: {
    label: 'Pegasus',
    unavailable(o) {
      for (const file of ['dist/cli.js', 'dist/fixtures/router.js']) {
        if (!existsSync(join(o.pegasusRoot, file))) return `${join(o.pegasusRoot, file)} missing: build Pegasus first`
      }
      return null
    },
    launch: (o, port) => ({
      command: process.execPath,
      args: [join(o.pegasusRoot, 'dist/cli.js'), '--host', '127.0.0.1', '--port', String(port), '--no-access-log',
        `${join(o.pegasusRoot, 'dist/fixtures/router.js')}:app`],
      cwd: o.pegasusRoot,
    }),
  },
  'node-http': {
    label: 'node:http',
    unavailable: () => null,
    launch: (o, port) => ({
      command: process.execPath,
      args: [join(bench, 'servers', 'node-http.mjs'), String(port), '127.0.0.1'],
      cwd: join(bench, 'servers'),
    }),
  },
}

const USAGE = `usage: node benchmarks/slow-clients.mjs [--only a,b] [--modes B,H,X] [--seconds N] [--pegasus-root DIR]

  --only a,b          servers: ${Object.keys(SERVERS).join(', ')} (default: all)
  --modes B,H,X       slowhttptest modes: B slow body, H slowloris, X slow read (default: all)
  --seconds N         length of each slowhttptest run (default 30)
  --pegasus-root DIR  the Pegasus checkout whose dist/ runs (default: this repository)
`

function fail(message) {
  process.stderr.write(`slow-clients: ${message}\n\n${USAGE}`)
  process.exit(2)
}

function options() {
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        only: { type: 'string' },
        modes: { type: 'string' },
        seconds: { type: 'string', default: '30' },
        'pegasus-root': { type: 'string', default: repoRoot },
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
  const modes = values.modes === undefined ? Object.keys(MODES) : list(values.modes).map((m) => m.toUpperCase())
  for (const mode of modes) if (!(mode in MODES)) fail(`unknown mode: ${mode}`)
  const seconds = Number(values.seconds)
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) fail(`--seconds must be an integer from 1 to 3600: ${values.seconds}`)
  return { only, modes, seconds, pegasusRoot: resolve(values['pegasus-root']) }
}

/** slowhttptest's banner line, e.g. "version 1.8.2"; exits 1 when it is missing. */
function requireSlowhttptest() {
  const out = spawnSync('slowhttptest', ['-h'], { encoding: 'utf8', timeout: 10_000 })
  if (out.error !== undefined) {
    process.stderr.write('slowhttptest is not installed: it is the attacker here.\nInstall it with: apt-get install -y slowhttptest\n')
    process.exit(1)
  }
  return /version \S+/.exec(out.stdout + out.stderr)?.[0] ?? 'version unknown'
}

const t0 = Date.now()
const log = (line) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${line}\n`)

/**
 * One probe: a new connection, one GET /, answered when a whole `HTTP/1.1 200` status line
 * arrives within PROBE_TIMEOUT_MS of the start. Refused, reset or late all count as unanswered.
 */
function probe(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    let head = ''
    const finish = (answered) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(answered)
    }
    const timer = setTimeout(() => finish(false), PROBE_TIMEOUT_MS)
    socket.setEncoding('latin1')
    socket.on('connect', () => socket.write(PROBE_REQUEST))
    socket.on('data', (text) => {
      head += text
      const end = head.indexOf('\r\n')
      if (end !== -1) finish(/^HTTP\/1\.1 200( |$)/.test(head.slice(0, end)))
      else if (head.length > 1024) finish(false) // no status line of any sensible length
    })
    // Once resolved, later events change nothing: a promise settles once.
    socket.on('error', () => finish(false))
    socket.on('close', () => finish(false))
  })
}

/**
 * Probes on a fixed clock (every PROBE_EVERY_MS, whether or not the last one has finished, so a
 * stalled server does not slow the probing down). `phase` labels the probes started from then on.
 */
function startProbing(port) {
  const probes = []
  let phase = 'during'
  const next = () => probes.push({ phase, answered: probe(port) })
  next()
  const timer = setInterval(next, PROBE_EVERY_MS)
  return {
    set phase(value) { phase = value },
    async stop() {
      clearInterval(timer)
      const answered = await Promise.all(probes.map((p) => p.answered))
      return probes.map((p, i) => ({ phase: p.phase, answered: answered[i] }))
    },
  }
}

/** Answered/sent and the longest run of unanswered probes (as seconds of probing) of one phase. */
function probeSummary(results, phase) {
  const mine = results.filter((r) => r.phase === phase)
  let run = 0
  let longest = 0
  for (const { answered } of mine) {
    run = answered ? 0 : run + 1
    longest = Math.max(longest, run)
  }
  return { sent: mine.length, answered: mine.filter((r) => r.answered).length, gapSeconds: (longest * PROBE_EVERY_MS) / 1000 }
}

/**
 * Sockets in CLOSE-WAIT whose local port is `port`: the peer has closed and the server has not.
 * /proc/net/tcp lines: "sl local_address rem_address st ...", addresses as HEXIP:HEXPORT, state 08
 * is CLOSE_WAIT. tcp6 too, in case a socket is there (the servers bind 127.0.0.1, so it is not).
 */
function closeWaitCount(port) {
  let count = 0
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text
    try {
      text = readFileSync(file, 'latin1')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length < 4 || fields[3] !== '08') continue
      const local = fields[1]
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) count++
    }
  }
  return count
}

/**
 * What slowhttptest printed: a status block every 5 s ("slow HTTP test status on Nth second:"
 * then initializing/pending/connected/error/closed counts and "service available: YES|NO"), then
 * "Test ended on Nth second" and "Exit status: ...". Colours (ANSI escapes) are stripped.
 */
function parseSlowhttptest(raw) {
  const text = raw.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
  const blocks = text.split(/slow HTTP test status on/).slice(1)
  const count = (label) => (text.match(new RegExp(`service available:\\s*${label}\\b`, 'g')) ?? []).length
  const number = (block, name) => {
    const match = new RegExp(`^\\s*${name}:\\s*(\\d+)`, 'm').exec(block)
    return match === null ? null : Number(match[1])
  }
  const last = blocks.at(-1)
  const final = last === undefined ? null : Object.fromEntries(
    ['connected', 'closed', 'pending', 'error'].map((name) => [name, number(last, name)]),
  )
  const peak = blocks.reduce((max, block) => Math.max(max, number(block, 'connected') ?? 0), 0)
  return {
    yes: count('YES'),
    no: count('NO'),
    blocks: blocks.length,
    final,
    peakConnected: peak,
    endedOn: /Test ended on (\d+)/.exec(text)?.[1] ?? null,
    exitStatus: /Exit status:\s*(.+)/.exec(text)?.[1].trim() ?? null,
  }
}

/**
 * The whole answer to one GET / (status line, headers, body), in bytes, read until the server
 * closes (Connection: close). Slow read only bites when this, times its pipeline factor, is more
 * than the client's window and the server's socket buffer take at once.
 */
function responseBytes(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    let bytes = 0
    const timer = setTimeout(() => socket.destroy(), 2000)
    socket.on('connect', () => socket.write(PROBE_REQUEST))
    socket.on('data', (chunk) => { bytes += chunk.length })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(bytes)
    })
  })
}

/** The kernel's default send buffer of a TCP socket (tcp_wmem's middle value), or null. */
function defaultSendBuffer() {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/)[1]) || null
  } catch {
    return null
  }
}

/** Why slow read cannot hold the server's writes with a response this small, or null. */
function slowReadCaveat(bytes) {
  const total = bytes * SLOW_READ_PIPELINE
  if (total <= SLOW_READ_MIN_WINDOW) {
    return `GET / answers ${bytes} bytes; ×${SLOW_READ_PIPELINE} (-k) is ${total} bytes, no more than the smallest receive window slowhttptest advertises (-w ${SLOW_READ_MIN_WINDOW}): the whole response fits in the client's window, the server's writes never wait, so slow read does not bite here`
  }
  const sendBuffer = defaultSendBuffer()
  if (sendBuffer !== null && total <= SLOW_READ_MIN_WINDOW + sendBuffer) {
    return `GET / answers ${bytes} bytes; ×${SLOW_READ_PIPELINE} (-k) is ${total} bytes, which the client's window plus the server's socket send buffer (${sendBuffer} bytes by default) take at once: the server's writes complete, so slow read barely bites here`
  }
  return null
}

/** One server under one attack: the row of the table. */
async function measure(o, tmp, serverName, modeName) {
  const server = SERVERS[serverName]
  const mode = MODES[modeName]
  const row = { server: server.label, mode: mode.label }
  const reason = server.unavailable(o)
  if (reason !== null) return { ...row, note: `skipped: ${reason}` }

  const port = await freePort()
  const serverLog = join(tmp, `${serverName}-${modeName}.log`)
  const { command, args, cwd } = server.launch(o, port)
  log(`${serverName} ${modeName}: starting on 127.0.0.1:${port}`)
  const child = start(command, args, { cwd, output: serverLog })
  try {
    try {
      await waitUntilAnswering(child, port)
    } catch (error) {
      return { ...row, note: `did not start: ${error.message} ${tail(serverLog)}`.trim() }
    }
    if (modeName === 'X') row.responseBytes = await responseBytes(port)

    const attackLog = join(tmp, `slowhttptest-${serverName}-${modeName}.txt`)
    const url = `http://127.0.0.1:${port}${mode.path}`
    log(`${serverName} ${modeName}: slowhttptest ${[...mode.args, '-l', String(o.seconds), '-u', url].join(' ')}`)
    const began = Date.now()
    // start() raises the open-file limit (ulimit -n 65536, else the hard limit) before exec.
    const attacker = start('slowhttptest', [...mode.args, '-l', String(o.seconds), '-u', url], { cwd: tmp, output: attackLog })
    const probing = startProbing(port)
    // slowhttptest stops itself after -l seconds; past a minute more it is stuck, and goes. The
    // timer is unref'd: the child keeps the process alive meanwhile, and the timer must not after.
    const limitMs = (o.seconds + 60) * 1000
    const deadline = sleep(limitMs, false, { ref: false })
    const ended = await Promise.race([attacker.exited.then(() => true), deadline])
    if (!ended) await stop(attacker)
    row.attackSeconds = (Date.now() - began) / 1000

    probing.phase = 'after'
    row.closeWait = [closeWaitCount(port)]
    await sleep(CLOSE_WAIT_AGAIN_MS)
    row.closeWait.push(closeWaitCount(port))
    await sleep(AFTER_MS - CLOSE_WAIT_AGAIN_MS)
    const probes = await probing.stop()
    row.during = probeSummary(probes, 'during')
    row.after = probeSummary(probes, 'after')

    row.slow = parseSlowhttptest(readFileSync(attackLog, 'latin1'))
    const notes = []
    if (!ended) notes.push(`slowhttptest still running after ${limitMs / 1000} s: killed`)
    if (row.slow.blocks === 0) notes.push(`no status from slowhttptest: ${tail(attackLog)}`)
    if (row.slow.exitStatus !== null) notes.push(`slowhttptest: ${row.slow.exitStatus} (${row.slow.endedOn ?? '?'} s)`)
    if (child.exitCode !== null || child.signalCode !== null) {
      notes.push(`server exited (${child.exitCode ?? child.signalCode}) ${tail(serverLog)}`.trim())
    }
    row.note = notes.join('; ')
    log(`${serverName} ${modeName}: probes ${row.during.answered}/${row.during.sent} during (longest gap ${row.during.gapSeconds} s), ` +
      `${row.after.answered}/${row.after.sent} after; service available YES ${row.slow.yes} NO ${row.slow.no}; ` +
      `CLOSE-WAIT ${row.closeWait.join(' / ')}`)
    return row
  } finally {
    await stop(child)
  }
}

const cell = (text) => String(text).replaceAll('|', '\\|').replaceAll('\n', ' ')

function markdown(rows) {
  const lines = [
    '| server | mode | probes answered (during) | longest gap | probes answered (after) | slowhttptest \'service available\' YES/NO | CLOSE-WAIT right after / +2 s | slowhttptest last status: connected / closed / pending / error | note |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
  ]
  for (const r of rows) {
    if (r.during === undefined) {
      lines.push(`| ${r.server} | ${r.mode} | – | – | – | – | – | – | ${cell(r.note)} |`)
      continue
    }
    const f = r.slow.final
    const end = f === null ? '–' : ['connected', 'closed', 'pending', 'error'].map((k) => f[k] ?? '?').join(' / ')
    lines.push(`| ${r.server} | ${r.mode} | ${r.during.answered}/${r.during.sent} | ${r.during.gapSeconds} s | ` +
      `${r.after.answered}/${r.after.sent} | ${r.slow.yes}/${r.slow.no} | ${r.closeWait.join(' / ')} | ${end} | ${cell(r.note)} |`)
  }
  return lines.join('\n')
}

async function main() {
  const o = options()
  const version = requireSlowhttptest()
  const tmp = mkdtempSync(join(os.tmpdir(), 'pegasus-slow-clients-'))
  process.on('exit', () => {
    killAll()
    rmSync(tmp, { recursive: true, force: true })
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      log(`\n${signal}: stopping every process started`)
      process.exit(130)
    })
  }

  const rows = []
  for (const serverName of o.only) {
    for (const modeName of o.modes) rows.push(await measure(o, tmp, serverName, modeName))
  }

  const out = [
    `slowhttptest ${version}, 1,000 connections at 200/s, ${o.seconds} s a run; Pegasus from ${o.pegasusRoot}; ${new Date().toISOString()}`,
    '',
    markdown(rows),
    '',
    `Probes: a new connection every ${PROBE_EVERY_MS / 1000} s sending GET / (Connection: close), answered when a whole ` +
      `\`HTTP/1.1 200\` status line arrives within ${PROBE_TIMEOUT_MS / 1000} s; "during" while slowhttptest runs, "after" for ` +
      `${AFTER_MS / 1000} s once it has exited. Longest gap: the longest run of unanswered probes during the attack, ` +
      `× ${PROBE_EVERY_MS / 1000} s. slowhttptest prints its status (and its own probe's verdict, -p 3) every 5 s. ` +
      'CLOSE-WAIT: sockets on the server\'s port in /proc/net/tcp state 08 right after slowhttptest exits and 2 s later.',
  ]
  const caveats = new Map()
  for (const r of rows) {
    if (r.responseBytes === undefined) continue
    const caveat = slowReadCaveat(r.responseBytes)
    if (caveat !== null) caveats.set(r.server, caveat)
  }
  for (const [server, caveat] of caveats) out.push('', `Slow read (X), ${server}: ${caveat}.`)
  process.stdout.write(`${out.join('\n')}\n`)
}

await main()
