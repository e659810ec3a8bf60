// A slow client for the streaming scenario: GET /stream, then read at most 64 KiB before each
// 1 ms pause, so the server has to hold back. Decodes the framing (Content-Length or chunked)
// and prints one JSON line: { status, bytes, ms, complete }.
// Usage: node slow-reader.mjs PORT
import net from 'node:net'

const port = Number(process.argv[2])
const READ_BUDGET = 64 * 1024
const PAUSE_MS = 1
const GIVE_UP_MS = 120_000

const socket = net.connect({ port, host: '127.0.0.1' })
const started = performance.now()
let head = Buffer.alloc(0)
let body = null // the body decoder, once the head is in
let status = 0
let budget = READ_BUDGET

socket.on('connect', () => socket.write('GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'))
socket.on('data', (data) => {
  if (body === null) {
    head = Buffer.concat([head, data])
    const end = head.indexOf('\r\n\r\n')
    if (end === -1) return
    const text = head.subarray(0, end).toString('latin1')
    status = Number(text.split(' ', 2)[1])
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(text)
    body = length !== null ? new LengthBody(Number(length[1])) : /\r\ntransfer-encoding:\s*chunked/i.test(text) ? new ChunkedBody() : new LengthBody(Infinity)
    data = head.subarray(end + 4)
  }
  body.feed(data)
  if (body.done) return finish(true)
  budget -= data.length
  if (budget <= 0) {
    budget = READ_BUDGET
    socket.pause()
    setTimeout(() => socket.resume(), PAUSE_MS)
  }
})
socket.on('end', () => finish(body !== null && body.length === Infinity))
socket.on('close', () => finish(false))
socket.on('error', () => finish(false))
const timer = setTimeout(() => finish(false), GIVE_UP_MS)

let finished = false
function finish(complete) {
  if (finished) return
  finished = true
  clearTimeout(timer)
  const ms = Math.round(performance.now() - started)
  process.stdout.write(JSON.stringify({ status, bytes: body?.bytes ?? 0, ms, complete }) + '\n')
  socket.destroy()
}

class LengthBody {
  constructor(length) {
    this.length = length
    this.bytes = 0
    this.done = false
  }

  feed(data) {
    this.bytes += data.length
    this.done = this.bytes >= this.length
  }
}

/** Counts the payload of a chunked body; `done` after the last (zero-size) chunk. */
class ChunkedBody {
  constructor() {
    this.bytes = 0
    this.done = false
    this.left = 0 // payload bytes of the current chunk still to come
    this.skip = 0 // the CRLF after a chunk's payload
    this.line = '' // a chunk-size line being read
  }

  feed(data) {
    let i = 0
    while (i < data.length && !this.done) {
      if (this.left > 0) {
        const take = Math.min(this.left, data.length - i)
        this.bytes += take
        this.left -= take
        i += take
        if (this.left === 0) this.skip = 2
      } else if (this.skip > 0) {
        this.skip--
        i++
      } else {
        const lf = data.indexOf(10, i)
        if (lf === -1) {
          this.line += data.toString('latin1', i)
          return
        }
        this.line += data.toString('latin1', i, lf)
        i = lf + 1
        const size = parseInt(this.line, 16)
        this.line = ''
        if (size === 0) this.done = true
        else this.left = size
      }
    }
  }
}
