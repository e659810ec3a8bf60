// A constant-rate (open-loop) load: GET PATH at RATE requests/s over CONNECTIONS keep-alive
// connections for SECONDS, each request's latency counted from when it was due, not from when a
// connection was free to send it (wrk2's rule): a server that stalls is charged for the queue it
// causes, where wrk's closed loop would just send less. One request in flight per connection.
//
//   node rate-client.mjs PORT RATE CONNECTIONS SECONDS [PATH]
// Prints one JSON line: { due, sent, answered, errors, rps, p50, p90, p99, p999, max } (ms).
import net from 'node:net'

const [port, rate, connections, seconds] = process.argv.slice(2, 6).map(Number)
const path = process.argv[6] ?? '/'
const REQUEST = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 'latin1')
const total = Math.round(rate * seconds)
const interval = 1000 / rate
const latencies = new Float64Array(total)
let answered = 0
let errors = 0
let sent = 0
let due = 0
let start = 0
/** Indices of requests that are due and wait for a free connection, oldest first. */
const queue = []
let queueHead = 0
/**
 * Connections with no request in flight, longest idle first: every connection is used in turn
 * (a server closes one left idle past its keep-alive timeout; a closed one is replaced).
 */
const free = []
let freeHead = 0
let finished = false

function dueAt(i) {
  return start + i * interval
}

/** Hands the oldest due request to `conn`, if there is one. */
function send(conn) {
  if (conn.closed) return
  if (queueHead === queue.length) {
    free.push(conn)
    return
  }
  conn.current = queue[queueHead++]
  sent++
  conn.socket.write(REQUEST)
}

function connect() {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true })
    const conn = { socket, current: -1, buffer: '', closed: false }
    socket.setEncoding('latin1')
    socket.on('connect', () => resolve(conn))
    socket.on('data', (text) => {
      conn.buffer += text
      for (;;) {
        const end = conn.buffer.indexOf('\r\n\r\n')
        if (end === -1) return
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(conn.buffer.slice(0, end))
        const bodyEnd = end + 4 + (length === null ? 0 : Number(length[1]))
        if (conn.buffer.length < bodyEnd) return
        const ok = conn.buffer.startsWith('HTTP/1.1 200')
        conn.buffer = conn.buffer.slice(bodyEnd)
        if (conn.current >= 0) {
          if (ok) latencies[answered++] = performance.now() - dueAt(conn.current)
          else errors++
          conn.current = -1
        }
        send(conn)
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      conn.closed = true
      if (conn.current >= 0) errors++
      conn.current = -1
      // As wrk does: a closed connection is replaced, and joins the free ones once open.
      if (!finished) void connect().then((fresh) => send(fresh))
    })
  })
}

for (let i = 0; i < connections; i++) free.push(await connect())

/** The connection idle longest that is still open, or undefined. */
function nextFree() {
  while (freeHead < free.length) {
    const conn = free[freeHead++]
    if (freeHead > 1024 && freeHead * 2 > free.length) {
      free.splice(0, freeHead)
      freeHead = 0
    }
    if (!conn.closed) return conn
  }
  return undefined
}
start = performance.now()
// Every millisecond, the requests that have come due join the queue and free connections take
// them; a request is late only because the server has not answered the connections yet.
const timer = setInterval(() => {
  const now = performance.now()
  while (due < total && dueAt(due) <= now) queue.push(due++)
  while (queueHead < queue.length) {
    const conn = nextFree()
    if (conn === undefined) break
    send(conn)
  }
  if (due === total && (answered + errors === sent && queueHead === queue.length)) finish()
  else if (now > start + seconds * 1000 + 10_000) finish()
}, 1)

function finish() {
  finished = true
  clearInterval(timer)
  const sorted = latencies.subarray(0, answered).sort()
  const at = (p) => (answered === 0 ? null : sorted[Math.min(answered - 1, Math.ceil((p / 100) * answered) - 1)])
  const elapsed = (performance.now() - start) / 1000
  const result = { due: total, sent, answered, errors: errors + (total - sent), rps: answered / elapsed, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: answered === 0 ? null : sorted[answered - 1] }
  process.stdout.write(JSON.stringify(result) + '\n')
  process.exit(0)
}
