// The floor of a Node.js server: node:net writing one constant reply for every request head it
// sees (each "\r\n\r\n"), with no parser, no objects and no app. GET requests only (bodies are
// not framed): the hello, seed, pipelined and rate scenarios.
import net from 'node:net'
import { address } from './shared.mjs'

const REPLY = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\n\r\nBlazingly Fast!\n', 'latin1')
const { port, host } = address()

net
  .createServer({ noDelay: true }, (socket) => {
    // A head may be split across reads: the last 3 bytes of the previous read are kept.
    let tail = ''
    socket.setEncoding('latin1')
    socket.on('data', (text) => {
      const data = tail + text
      let heads = 0
      for (let at = data.indexOf('\r\n\r\n'); at !== -1; at = data.indexOf('\r\n\r\n', at + 4)) heads++
      tail = data.slice(-3)
      if (heads === 1) socket.write(REPLY)
      else if (heads > 1) socket.write(Buffer.concat(Array(heads).fill(REPLY)))
    })
    socket.on('error', () => {})
  })
  .listen(port, host)
