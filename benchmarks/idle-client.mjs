// Opens N keep-alive connections to 127.0.0.1:PORT, sends one `GET /` on each and reads its
// answer, then leaves them open and idle. Runs as a child of run.js and talks to it over IPC:
//   -> { type: 'opened', opened, failed, ms }   once every connection answered or gave up
//   <- { type: 'count' }  -> { type: 'count', open }   connections still open now
//   <- { type: 'exit' }   closes them all and exits
// Usage: node idle-client.mjs PORT N
import net from 'node:net'

const port = Number(process.argv[2])
const total = Number(process.argv[3])
const CONCURRENT_OPENS = 200
const ANSWER_TIMEOUT = 10_000
const REQUEST = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'

const sockets = new Set()
let opened = 0
let failed = 0
let open = 0

/** Opens one connection; resolves once its response arrived (true) or it failed (false). */
function openOne() {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true })
    let received = ''
    let settled = false
    const settle = (ok) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (ok) {
        open++
        sockets.add(socket)
        socket.once('close', () => { open--; sockets.delete(socket) })
      } else socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => settle(false), ANSWER_TIMEOUT)
    socket.on('error', () => settle(false))
    socket.on('close', () => settle(false))
    socket.on('connect', () => socket.write(REQUEST))
    socket.setEncoding('latin1')
    socket.on('data', (text) => {
      if (settled) return
      received += text
      if (answered(received)) settle(true)
    })
  })
}

/** A whole response: the head, then Content-Length bytes or the last chunk. */
function answered(text) {
  const end = text.indexOf('\r\n\r\n')
  if (end === -1) return false
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end))
  if (length !== null) return text.length - end - 4 >= Number(length[1])
  return text.endsWith('0\r\n\r\n')
}

async function worker(next) {
  for (let i = next(); i !== -1; i = next()) {
    if (await openOne()) opened++
    else failed++
  }
}

const started = performance.now()
let issued = 0
const next = () => (issued < total ? issued++ : -1)
await Promise.all(Array.from({ length: Math.min(CONCURRENT_OPENS, total) }, () => worker(next)))
process.send({ type: 'opened', opened, failed, ms: Math.round(performance.now() - started) })

process.on('message', (message) => {
  if (message.type === 'count') process.send({ type: 'count', open })
  else if (message.type === 'exit') {
    for (const socket of sockets) socket.destroy()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
