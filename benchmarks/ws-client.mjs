// The websocket scenario's load client: opens N WebSocket connections (the `ws` client) to
// ws://127.0.0.1:PORT/, then on each of them, for S seconds, sends a message and waits for its
// echo before sending the next. Counts the round trips completed within the S seconds, their
// p50/p99 times, and whatever went wrong (connections refused or lost, echoes that differ).
//
// Under run.js (forked, IPC):
//   -> { type: 'opened', opened, failed, ms }   every connection open or given up
//   <- { type: 'go' }                             start the timed loop
//   -> { type: 'done', ...result }                the result (see finish())
// Alone: `node ws-client.mjs PORT [CONNECTIONS] [SECONDS] [MESSAGE_BYTES]` goes at once and
// prints the result as JSON. Everything is bounded in time: opening (30 s), the run, and the wait
// for the last echoes (2 s); then every connection is cut and the process exits.
import { WebSocket } from 'ws'

const port = Number(process.argv[2])
const total = Number(process.argv[3] ?? 1000)
const seconds = Number(process.argv[4] ?? 10)
const size = Number(process.argv[5] ?? 64)
if (!Number.isInteger(port) || !(total > 0) || !(seconds > 0) || !(size > 0)) {
  process.stderr.write('usage: node ws-client.mjs PORT [CONNECTIONS] [SECONDS] [MESSAGE_BYTES]\n')
  process.exit(2)
}

const URL = `ws://127.0.0.1:${port}/`
const CONCURRENT_OPENS = 100
const OPEN_TIMEOUT = 30_000
const DRAIN_TIMEOUT = 2_000
// A text message of `size` ASCII bytes; the echo must come back as the same text.
const MESSAGE = 'x'.repeat(size)

const sockets = []
let failed = 0
let errors = 0
let lost = 0 // connections that closed during the timed loop
let wrong = 0 // echoes that were not the message sent
let running = false
let endAt = 0
let completed = 0 // round trips whose echo came back within the timed loop
let late = 0 // echoes of messages sent in time that came back after it
let inFlight = 0
let rtts = new Float64Array(1 << 16)
let rttCount = 0

function record(ms) {
  if (rttCount === rtts.length) {
    const bigger = new Float64Array(rtts.length * 2)
    bigger.set(rtts)
    rtts = bigger
  }
  rtts[rttCount++] = ms
}

/** Opens one connection; resolves with it once open, or null when it fails or times out. */
function openOne() {
  return new Promise((resolve) => {
    const ws = new WebSocket(URL, { perMessageDeflate: false, handshakeTimeout: 10_000 })
    let settled = false
    const settle = (ok) => {
      if (settled) return
      settled = true
      if (!ok) ws.terminate()
      resolve(ok ? ws : null)
    }
    ws.once('open', () => settle(true))
    ws.on('error', () => {
      errors++
      settle(false)
    })
    ws.once('close', () => settle(false))
  })
}

async function openAll() {
  let issued = 0
  const worker = async () => {
    while (issued < total) {
      issued++
      const ws = await openOne()
      if (ws === null) failed++
      else sockets.push(ws)
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_OPENS, total) }, worker))
}

/** One connection's loop: send, wait for the echo, send again until the time is up. */
function loop(ws) {
  let sentAt = 0
  const send = () => {
    sentAt = performance.now()
    inFlight++
    ws.send(MESSAGE)
  }
  ws.on('message', (data, isBinary) => {
    const now = performance.now()
    inFlight--
    if (isBinary || data.length !== size || data.toString('latin1') !== MESSAGE) wrong++
    if (now <= endAt) {
      completed++
      record(now - sentAt)
    } else late++
    if (running) send()
    else if (inFlight === 0) drained()
  })
  ws.on('close', () => {
    if (running) lost++
  })
  send()
}

let drained = () => {}

function percentile(sorted, p) {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

async function go() {
  const started = performance.now()
  endAt = started + seconds * 1000
  running = true
  for (const ws of sockets) loop(ws)
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  running = false
  const elapsed = performance.now() - started
  // The last echoes, for at most DRAIN_TIMEOUT.
  if (inFlight > 0) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, DRAIN_TIMEOUT)
      drained = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
  const sorted = rtts.subarray(0, rttCount).sort()
  return {
    connections: total,
    open: sockets.length - lost,
    failed,
    seconds: elapsed / 1000,
    messages: completed,
    rate: completed / seconds, // the round trips counted are those done by endAt
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length > 0 ? sorted[sorted.length - 1] : null,
    late,
    unanswered: inFlight,
    lost,
    wrong,
    errors,
  }
}

function closeAll() {
  for (const ws of sockets) ws.terminate()
}

const openStarted = performance.now()
const openTimer = setTimeout(() => {
  process.stderr.write(`ws-client: could not open ${total} connections within ${OPEN_TIMEOUT / 1000} s\n`)
  closeAll()
  process.exit(1)
}, OPEN_TIMEOUT)
await openAll()
clearTimeout(openTimer)
const opened = { type: 'opened', opened: sockets.length, failed, ms: Math.round(performance.now() - openStarted) }

if (process.send === undefined) {
  const result = await go()
  closeAll()
  process.stdout.write(JSON.stringify({ ...opened, ...result, type: 'done' }) + '\n')
  process.exit(0)
} else {
  process.on('disconnect', () => {
    closeAll()
    process.exit(0)
  })
  process.on('message', async (message) => {
    if (message.type !== 'go') return
    const result = await go()
    process.send({ type: 'done', ...result }, () => {
      closeAll()
      process.exit(0)
    })
  })
  process.send(opened)
}
