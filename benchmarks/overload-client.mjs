// The overload scenario's client: GET / at a constant RATE requests/s for SECONDS, open loop (a
// request falls due whatever the server does), over at most CONNECTIONS keep-alive connections
// with one request in flight each. A due request waits in the client for a free connection, and
// its latency counts from the tick it fell due in, so a server that holds every connection is
// charged for the queue it causes (wrk2's rule; the client's own timer lag is not charged).
// Answers are counted by status: 2xx (goodput), 503 (with or without Retry-After), others. A
// connection the server closes is replaced; a request it held is lost (reset or closed). After
// SECONDS the client waits GRACE seconds at most for the answers still owed, then stops.
//
//   node overload-client.mjs PORT RATE CONNECTIONS SECONDS [GRACE]
// Prints one JSON line (latencies in ms; see `result()` for the fields).
import net from 'node:net'

const [port, rate, connections, seconds] = process.argv.slice(2, 6).map(Number)
const grace = Number(process.argv[6] ?? 2)
if (![port, rate, connections, seconds, grace].every((n) => Number.isFinite(n) && n >= 0) || rate <= 0 || connections < 1) {
  process.stderr.write('usage: node overload-client.mjs PORT RATE CONNECTIONS SECONDS [GRACE]\n')
  process.exit(2)
}
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 'latin1')
const total = Math.round(rate * seconds)
const interval = 1000 / rate
const windowMs = seconds * 1000

/** When each request fell due (the client's tick that released it). */
const dueAt = new Float64Array(total)
/** 2xx: latency and the second of the run it was answered in; 503s: latency. */
const okMs = new Float64Array(total)
const okSecond = new Uint16Array(total)
const shedMs = new Float64Array(total)
const shedBySecond = []
const count = { ok: 0, okInWindow: 0, shed: 0, shedInWindow: 0, retryAfter: 0, other: 0, resets: 0, closed: 0, connectErrors: 0, reconnects: 0, waited: 0 }
const otherStatuses = {}
let released = 0
let sent = 0
let answered = 0
let lost = 0
let start = 0
let finished = false

/** Requests due and waiting for a connection, oldest first. */
const queue = []
let queueHead = 0
let maxQueue = 0
/** Connections with nothing in flight, longest idle first (so none sits idle into a keep-alive timeout). */
const free = []
let freeHead = 0

/** Gives `conn` the oldest waiting request, or puts it with the free ones. */
function next(conn) {
  if (conn.closed || conn.closing) return
  if (queueHead === queue.length) {
    free.push(conn)
    return
  }
  conn.current = queue[queueHead++]
  sent++
  conn.socket.write(REQUEST)
}

function nextFree() {
  while (freeHead < free.length) {
    const conn = free[freeHead++]
    if (freeHead > 1024 && freeHead * 2 > free.length) {
      free.splice(0, freeHead)
      freeHead = 0
    }
    if (!conn.closed && !conn.closing && conn.current === -1) return conn
  }
  return undefined
}

/** Opens a connection; resolves once it is open (or failed). */
function open() {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true })
    const conn = { socket, current: -1, buffer: '', connected: false, closing: false, closed: false, error: '' }
    socket.setEncoding('latin1')
    socket.on('connect', () => {
      conn.connected = true
      resolve()
      if (start > 0) next(conn)
      else free.push(conn)
    })
    socket.on('data', (text) => {
      conn.buffer += text
      readAnswers(conn)
    })
    socket.on('error', (error) => {
      conn.error = error.code ?? error.message
    })
    socket.on('close', () => {
      onClose(conn)
      resolve()
    })
  })
}

function onClose(conn) {
  conn.closed = true
  if (!conn.connected) count.connectErrors++
  // A response delimited by the close itself (no length, not chunked).
  if (conn.current >= 0 && conn.buffer.includes('\r\n\r\n')) answer(conn, conn.buffer.slice(0, conn.buffer.indexOf('\r\n\r\n')))
  if (conn.current >= 0) {
    lost++
    if (conn.error === 'ECONNRESET') count.resets++
    else count.closed++
    conn.current = -1
  }
  if (finished) return
  // As wrk does: a closed connection is replaced (after a pause when it never opened).
  count.reconnects++
  if (conn.connected) void open()
  else setTimeout(() => void open(), 10)
}

/** Takes every whole response off the connection's buffer. */
function readAnswers(conn) {
  for (;;) {
    const headEnd = conn.buffer.indexOf('\r\n\r\n')
    if (headEnd === -1) return
    const head = conn.buffer.slice(0, headEnd)
    const end = messageEnd(conn.buffer, headEnd, head)
    if (end === -1) return
    conn.buffer = conn.buffer.slice(end)
    answer(conn, head)
  }
}

/** Where the response whose head ends at `headEnd` ends; -1 while incomplete or delimited by the close. */
function messageEnd(buffer, headEnd, head) {
  const bodyStart = headEnd + 4
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)
  if (length !== null) {
    const end = bodyStart + Number(length[1])
    return buffer.length >= end ? end : -1
  }
  if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) return chunkedEnd(buffer, bodyStart)
  const status = Number(head.slice(9, 12))
  return status === 204 || status === 304 || (status >= 100 && status < 200) ? bodyStart : -1
}

function chunkedEnd(buffer, from) {
  let at = from
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', at)
    if (lineEnd === -1) return -1
    const size = parseInt(buffer.slice(at, lineEnd), 16)
    if (size === 0) {
      const trailersEnd = buffer.indexOf('\r\n\r\n', lineEnd)
      return trailersEnd === -1 ? -1 : trailersEnd + 4
    }
    at = lineEnd + 2 + size + 2
    if (at > buffer.length) return -1
  }
}

/** Counts the answer to the connection's request, then gives the connection its next one. */
function answer(conn, head) {
  const i = conn.current
  conn.current = -1
  if (i < 0) return // nothing asked: not ours to count
  const now = performance.now()
  const latency = now - dueAt[i]
  const second = Math.floor((now - start) / 1000)
  const inWindow = now - start < windowMs
  const status = Number(head.slice(9, 12))
  answered++
  if (status >= 200 && status < 300) {
    okMs[count.ok] = latency
    okSecond[count.ok++] = second
    if (inWindow) count.okInWindow++
  } else if (status === 503) {
    shedMs[count.shed++] = latency
    shedBySecond[second] = (shedBySecond[second] ?? 0) + 1
    if (inWindow) count.shedInWindow++
    if (/\r\nretry-after:/i.test(head)) count.retryAfter++
  } else {
    count.other++
    otherStatuses[status] = (otherStatuses[status] ?? 0) + 1
  }
  if (/\r\nconnection:[^\r]*close/i.test(head)) {
    // The server is closing this one: it gets no more requests, and is replaced once closed.
    conn.closing = true
    conn.socket.end()
    return
  }
  next(conn)
}

let lastTick = 0
let maxLag = 0
/**
 * Every millisecond: the requests that have fallen due join the queue and free connections take
 * them. The tick's own lateness (this process's, not the server's) is recorded as the lag.
 */
function tick() {
  const now = performance.now()
  maxLag = Math.max(maxLag, now - lastTick - 1)
  lastTick = now
  const before = released
  while (released < total && start + released * interval <= now) {
    dueAt[released] = now
    queue.push(released++)
  }
  while (queueHead < queue.length) {
    const conn = nextFree()
    if (conn === undefined) break
    next(conn)
  }
  const waiting = queue.length - queueHead
  count.waited += Math.min(released - before, waiting)
  maxQueue = Math.max(maxQueue, waiting)
  if (queueHead > 4096 && queueHead * 2 > queue.length) {
    queue.splice(0, queueHead)
    queueHead = 0
  }
  const allAnswered = released === total && answered + lost === sent && queueHead === queue.length
  if (allAnswered || now >= start + windowMs + grace * 1000) finish(now)
}

function percentile(sorted, n, p) {
  return n === 0 ? null : sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]
}

/** Per second of the run: 2xx answered, their p50 and p99, and 503s answered. */
function timeline(seconds) {
  const bySecond = Array.from({ length: seconds }, () => [])
  for (let i = 0; i < count.ok; i++) bySecond[Math.min(okSecond[i], seconds - 1)].push(okMs[i])
  return bySecond.map((list, s) => {
    const sorted = Float64Array.from(list).sort()
    return { second: s, ok: list.length, p50: percentile(sorted, list.length, 50), p99: percentile(sorted, list.length, 99), shed: shedBySecond[s] ?? 0 }
  })
}

function result(now, cpu) {
  const ok = okMs.slice(0, count.ok).sort()
  const shed = shedMs.slice(0, count.shed).sort()
  const elapsed = (now - start) / 1000
  return {
    rate, seconds, connections, grace,
    due: total,
    released,
    sent,
    answered,
    ok: count.ok,
    goodput: count.okInWindow / seconds,
    p50: percentile(ok, count.ok, 50),
    p90: percentile(ok, count.ok, 90),
    p99: percentile(ok, count.ok, 99),
    p999: percentile(ok, count.ok, 99.9),
    max: count.ok === 0 ? null : ok[count.ok - 1],
    shed: count.shed,
    shedRate: count.shedInWindow / seconds,
    shedRetryAfter: count.retryAfter,
    shedP50: percentile(shed, count.shed, 50),
    shedP99: percentile(shed, count.shed, 99),
    other: count.other,
    otherStatuses,
    // Owed when the client stopped: sent and never answered, and never sent (no free connection).
    unanswered: sent - answered - lost,
    unsent: total - sent,
    resets: count.resets,
    closedInFlight: count.closed,
    connectErrors: count.connectErrors,
    reconnects: count.reconnects,
    waitedForConnection: count.waited,
    maxClientQueue: maxQueue,
    elapsed,
    clientCpu: (cpu.user + cpu.system) / 1000 / (elapsed * 1000),
    clientMaxLag: maxLag,
    timeline: timeline(Math.max(1, Math.ceil(elapsed))),
  }
}

function finish(now) {
  finished = true
  clearInterval(timer)
  const cpu = process.cpuUsage(cpuStart)
  process.stdout.write(JSON.stringify(result(now, cpu)) + '\n')
  process.exit(0)
}

await Promise.all(Array.from({ length: connections }, open))
const cpuStart = process.cpuUsage()
start = performance.now()
lastTick = start
const timer = setInterval(tick, 1)
