// A bare node:net server: every chunk read is answered with one constant response (GET / of the
// benchmark app, its Date fixed), nothing parsed. The floor of a Node.js server built on net.
// With --accept-first it does what Pegasus's AcceptBurst does (lib/accept-burst.ts): while
// connections arrive turn after turn, the established sockets' reads stop (libuv's readStop on the
// socket's internal handle) until a turn brings none or 25 ms pass: issue 12's test of whether a
// Node.js process can serve wrk -t4 -c400 without a tail. Usage: bare-net.mjs PORT [HOST] [--accept-first]
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { HELLO, TEXT, address } from './shared.mjs'

const { port, host } = address()
const acceptFirst = process.argv.includes('--accept-first')
const REPLY = Buffer.from(
  `HTTP/1.1 200 OK\r\nContent-Type: ${TEXT}\r\nContent-Length: ${HELLO.length}\r\nDate: Mon, 30 Nov 2026 08:00:00 GMT\r\n\r\n${HELLO}`,
  'latin1',
)

const open = new Set()
let accepted = 0
let streak = 0
let held = null
let heldSince = 0
let checking = false

function hold(socket) {
  const handle = socket._handle
  if (handle?.reading !== true || socket.isPaused()) return false
  handle.readStop()
  return true
}

function release() {
  if (held === null) return
  for (const socket of held) if (!socket.destroyed) socket._handle.readStart()
  held = null
}

function check() {
  if (accepted === 0) {
    checking = false
    streak = 0
    release()
    return
  }
  accepted = 0
  streak++
  if (held === null && streak >= 2) {
    held = [...open].filter(hold)
    heldSince = performance.now()
  } else if (held !== null && performance.now() - heldSince >= 25) {
    release()
    streak = 0
  }
  setImmediate(check)
}

net
  .createServer({ noDelay: true }, (socket) => {
    socket.on('data', () => socket.write(REPLY))
    socket.on('error', () => {})
    if (!acceptFirst) return
    open.add(socket)
    socket.on('close', () => open.delete(socket))
    accepted++
    if (held !== null && hold(socket)) held.push(socket)
    if (!checking) {
      checking = true
      setImmediate(check)
    }
  })
  .listen({ port, host, backlog: 1024 })
