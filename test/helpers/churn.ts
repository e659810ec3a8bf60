// One connection of a churn test (the node and fetch interfaces' robustness files): the
// client's behaviour is picked by `kind`, from a clean close to a reset mid-body; the app serves
// GET /hello, GET and POST /json, GET /slow (answers after a while) and GET /stream (a long
// streamed answer). Resolves once the connection is closed.
import net from 'node:net'
import { get } from './raw.js'

/** One connection of a churn, by kind: how a client may use (and leave) the server. */
export function churn(port: number, kind: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    socket.on('error', () => {})
    socket.on('close', () => resolve())
    socket.once('connect', () => {
      switch (kind % 8) {
        case 0: // one request, Connection: close
          socket.resume()
          socket.write(get('/hello', 'Connection: close\r\n'))
          break
        case 1: // three keep-alive requests, then our FIN
          socket.resume()
          socket.end(get('/hello') + get('/json') + get('/hello'))
          break
        case 2: // a JSON body, then gone halfway
          socket.write(`POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n[`)
          socket.write('1,'.repeat(40000), () => socket.destroy())
          break
        case 3: // a stream, gone at its first bytes
          socket.once('data', () => socket.destroy())
          socket.write(get('/stream'))
          break
        case 4: // a request, reset before the answer
          socket.write(get('/slow'), () => socket.resetAndDestroy())
          break
        case 5: // half a head
          socket.write('GET /hello HTTP/1.1\r\nHo', () => socket.destroy())
          break
        case 6: // a whole JSON body, the answer read, then our FIN
          socket.resume()
          socket.end(`POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}`)
          break
        default: // opened and dropped
          socket.destroy()
      }
    })
  })
}
