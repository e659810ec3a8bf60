// WebSockets through the node interface: a `ws` WebSocketServer ({ noServer: true }) takes the
// sockets Pegasus hands to server.setUpgradeHandler, and real `ws` clients (and raw sockets)
// talk to it: text, binary, large and fragmented messages, ping/pong, close codes, a thousand
// sockets at once, clients that vanish; and an Upgrade nobody takes is served as plain HTTP.
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import type { Socket } from 'node:net'
import WebSocket, { WebSocketServer, type RawData } from 'ws'
import { RawClient, get } from './helpers/raw.js'
import { eventually, httpRequest, startServer, watchEscapes, type TestServer } from './helpers/server.js'

const MiB = 1024 * 1024

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/** A plain node:http handler: what requests that are not upgrades get. */
function plain(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.setHeader('Content-Type', 'application/json')
  res.end(JSON.stringify({ plain: true, url: req.url, upgrade: req.headers.upgrade ?? null }))
}

interface Upgraded {
  req: http.IncomingMessage
  head: Buffer
}

interface WsServer {
  server: TestServer
  wss: WebSocketServer
  url: string
  /** What the upgrade handler was given, most recent last. */
  upgrades: Upgraded[]
  /** Close events seen by the server's sockets: [code, reason]. */
  closes: [number, string][]
  pongs: Buffer[]
}

/** A Pegasus server whose upgrades go to an echoing WebSocketServer. */
async function startWs(t: Test, options: { perMessageDeflate?: boolean } = {}): Promise<WsServer> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: options.perMessageDeflate ?? false, maxPayload: 4 * MiB })
  const upgrades: Upgraded[] = []
  const closes: [number, string][] = []
  const pongs: Buffer[] = []
  wss.on('connection', (ws: WebSocket, req: http.IncomingMessage) => {
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const text = isBinary ? '' : data.toString()
      if (text === 'close me') ws.close(1008, 'policy says no')
      else if (text === 'ping me') ws.ping('server ping')
      else if (text === 'who am i') ws.send(JSON.stringify({ url: req.url, protocol: ws.protocol, headers: req.headers }))
      else ws.send(data, { binary: isBinary })
    })
    ws.on('pong', (data: Buffer) => pongs.push(data))
    ws.on('close', (code: number, reason: Buffer) => closes.push([code, reason.toString()]))
    ws.on('error', () => {})
  })
  const server = await startServer(t, plain as never, { interface: 'auto' })
  server.server.setUpgradeHandler(((req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push({ req, head })
    if (req.url === '/deny') {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  }) as never)
  t.teardown(() => {
    for (const client of wss.clients) client.terminate()
    wss.close()
  })
  return { server, wss, url: `ws://127.0.0.1:${server.port}`, upgrades, closes, pongs }
}

/** A connected client; rejects on an error or an unexpected response. */
function open(url: string, protocols?: string | string[], options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, options)
    ws.once('open', () => {
      ws.off('error', reject)
      resolve(ws)
    })
    ws.once('error', reject)
  })
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data: RawData, isBinary: boolean) => resolve({ data: toBuffer(data), isBinary }))
    ws.once('close', () => reject(new Error('closed before a message')))
  })
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })))
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.from(data)
}

const escaped = watchEscapes(t)

t.test('the upgrade handler gets an http.IncomingMessage, the socket and the bytes after the head', async (t) => {
  const { url, upgrades } = await startWs(t)
  const ws = await open(`${url}/chat?room=1`, ['v2.echo', 'v1.echo'], { headers: { 'X-Custom': 'yes' } })
  t.teardown(() => ws.terminate())
  t.equal(ws.protocol, 'v2.echo', 'the first subprotocol offered is chosen')
  const [{ req, head }] = upgrades
  t.ok(req instanceof http.IncomingMessage)
  t.equal(req.method, 'GET')
  t.equal(req.url, '/chat?room=1')
  t.equal(req.httpVersion, '1.1')
  t.equal(req.headers.upgrade, 'websocket')
  t.equal(req.headers['x-custom'], 'yes')
  t.match(req.headers['sec-websocket-key'], /^[A-Za-z0-9+/]{22}==$/)
  t.equal((req as unknown as { upgrade: boolean }).upgrade, true)
  t.equal(req.socket.remoteAddress, '127.0.0.1')
  t.ok(Buffer.isBuffer(head))
  t.equal(head.length, 0)
  ws.send('who am i')
  const { data } = await nextMessage(ws)
  const info = JSON.parse(data.toString())
  t.equal(info.url, '/chat?room=1')
  t.equal(info.protocol, 'v2.echo')
})

t.test('echo: text and binary frames', async (t) => {
  const { url } = await startWs(t)
  const ws = await open(url)
  t.teardown(() => ws.terminate())
  ws.send('hello, pegasus ✓')
  const text = await nextMessage(ws)
  t.equal(text.isBinary, false)
  t.equal(text.data.toString(), 'hello, pegasus ✓')
  const bytes = randomBytes(1000)
  ws.send(bytes)
  const binary = await nextMessage(ws)
  t.equal(binary.isBinary, true)
  t.ok(binary.data.equals(bytes))
  ws.send(Buffer.alloc(0))
  const empty = await nextMessage(ws)
  t.equal(empty.data.length, 0)
  // Many messages back to back: all echoed, in order.
  const received: string[] = []
  const all = new Promise<void>((resolve) =>
    ws.on('message', (data: RawData) => {
      received.push(data.toString())
      if (received.length === 500) resolve()
    }),
  )
  for (let i = 0; i < 500; i++) ws.send(`message ${i}`)
  await all
  t.same(received, Array.from({ length: 500 }, (_, i) => `message ${i}`))
})

t.test('a 1 MiB message, whole and fragmented, and with permessage-deflate', async (t) => {
  const { url } = await startWs(t)
  const ws = await open(url)
  t.teardown(() => ws.terminate())
  const big = randomBytes(MiB)
  ws.send(big)
  const whole = await nextMessage(ws)
  t.equal(whole.data.length, MiB)
  t.equal(sha256(whole.data), sha256(big))
  // The same bytes in four fragments of one message.
  for (let i = 0; i < 4; i++) ws.send(big.subarray(i * 256 * 1024, (i + 1) * 256 * 1024), { binary: true, fin: i === 3 })
  const fragmented = await nextMessage(ws)
  t.equal(sha256(fragmented.data), sha256(big))

  const deflating = await startWs(t, { perMessageDeflate: true })
  const compressed = await open(deflating.url, undefined, { perMessageDeflate: true })
  t.teardown(() => compressed.terminate())
  t.match(compressed.extensions, /permessage-deflate/)
  const repetitive = Buffer.from('all work and no play makes jack a dull boy\n'.repeat(25000)).subarray(0, MiB)
  compressed.send(repetitive)
  const inflated = await nextMessage(compressed)
  t.equal(sha256(inflated.data), sha256(repetitive))
})

t.test('ping and pong, both ways', async (t) => {
  const { url, pongs } = await startWs(t)
  const ws = await open(url)
  t.teardown(() => ws.terminate())
  const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve))
  ws.ping('client ping')
  t.equal((await pong).toString(), 'client ping', 'the server answers a ping with its payload')
  const ping = new Promise<Buffer>((resolve) => ws.once('ping', resolve))
  ws.send('ping me')
  t.equal((await ping).toString(), 'server ping')
  t.ok(await eventually(() => pongs.length === 1), 'the client answered the server')
  t.equal(pongs[0].toString(), 'server ping')
})

t.test('close codes and reasons, from either side', async (t) => {
  const { url, closes } = await startWs(t)
  const client = await open(url)
  const clientClosed = closed(client)
  client.close(4001, 'client is done')
  t.same(await clientClosed, { code: 4001, reason: 'client is done' }, 'the server echoes the close')
  t.ok(await eventually(() => closes.length === 1))
  t.same(closes[0], [4001, 'client is done'])

  const other = await open(url)
  const otherClosed = closed(other)
  other.send('close me')
  t.same(await otherClosed, { code: 1008, reason: 'policy says no' })
  t.ok(await eventually(() => closes.length === 2))
  t.same(closes[1], [1008, 'policy says no'])

  const plainClose = await open(url)
  const plainClosed = closed(plainClose)
  plainClose.close()
  t.same(await plainClosed, { code: 1005, reason: '' }, 'a close without a code')
})

t.test('1,000 sockets at once, each echoed', async (t) => {
  const { url, wss, server } = await startWs(t)
  const clients: WebSocket[] = []
  t.teardown(() => {
    for (const ws of clients) ws.terminate()
  })
  // Opened in batches (the listen backlog is finite), all kept open together.
  for (let batch = 0; batch < 10; batch++) {
    clients.push(...(await Promise.all(Array.from({ length: 100 }, () => open(url)))))
  }
  t.equal(clients.length, 1000)
  t.ok(await eventually(() => wss.clients.size === 1000), 'the server holds 1,000 sockets')
  t.equal(server.server.connectionCount, 0, 'upgraded sockets are no longer Pegasus connections')
  const echoes = await Promise.all(
    clients.map((ws, i) => {
      const reply = nextMessage(ws)
      ws.send(`socket ${i}`)
      return reply
    }),
  )
  t.ok(
    echoes.every(({ data }, i) => data.toString() === `socket ${i}`),
    'every socket got its own echo',
  )
  await Promise.all(
    clients.map((ws) => {
      const done = closed(ws)
      ws.close(1000, 'bye')
      return done
    }),
  )
  t.ok(await eventually(() => wss.clients.size === 0), 'all closed on the server')
  t.same(await httpRequest(server.origin + '/after').then((r) => r.status), 200)
})

t.test('a client that vanishes: the server sees 1006 and keeps serving', async (t) => {
  const { url, wss, closes, server } = await startWs(t)
  const ws = await open(url)
  ws.send('still here')
  await nextMessage(ws)
  ;(ws as unknown as { _socket: Socket })._socket.destroy()
  t.ok(await eventually(() => closes.length === 1), 'the server noticed')
  t.same(closes[0], [1006, ''])
  t.equal(wss.clients.size, 0)
  // Mid-message: half of a large frame, then gone.
  const raw = await RawClient.connect(server.port)
  await raw.write(handshake('/'))
  await raw.until(() => raw.data.includes('\r\n\r\n'), 20_000, '101')
  t.match(raw.data.toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n/)
  await raw.write(maskedFrame(0x2, randomBytes(MiB)).subarray(0, 300000))
  raw.destroy()
  t.ok(await eventually(() => closes.length === 2), 'the half-sent message is dropped with its socket')
  const again = await open(url)
  t.teardown(() => again.terminate())
  again.send('new client')
  t.equal((await nextMessage(again)).data.toString(), 'new client')
  t.equal((await httpRequest(`${server.origin}/plain`)).status, 200)
  t.same(escaped, [])
})

t.test('the first frame in the same packet as the handshake reaches the new protocol (head)', async (t) => {
  const { upgrades, server } = await startWs(t)
  const raw = await RawClient.connect(server.port)
  t.teardown(() => raw.destroy())
  await raw.write(Buffer.concat([Buffer.from(handshake('/eager'), 'latin1'), maskedFrame(0x1, Buffer.from('sent with the handshake'))]))
  await raw.until(() => {
    const end = raw.data.indexOf('\r\n\r\n')
    return end !== -1 && raw.data.length >= end + 4 + 2 + 'sent with the handshake'.length
  }, 5000, 'the 101 and an echo')
  const end = raw.data.indexOf('\r\n\r\n')
  t.match(raw.data.toString('latin1', 0, end), /^HTTP\/1\.1 101 /)
  const frame = raw.data.subarray(end + 4)
  t.equal(frame[0], 0x81, 'a final text frame')
  t.equal(frame.subarray(2, 2 + frame[1]).toString(), 'sent with the handshake')
  t.equal(upgrades[0].head.length, 6 + 'sent with the handshake'.length, 'head held the frame')
})

t.test('an upgrade on a keep-alive connection that served plain requests first', async (t) => {
  const { server, wss } = await startWs(t)
  const raw = await RawClient.connect(server.port)
  t.teardown(() => raw.destroy())
  await raw.write(get('/one') + get('/two'))
  const plainReplies = await raw.waitForResponses(2)
  t.same(
    plainReplies.map((r) => JSON.parse(r.body.toString()).url),
    ['/one', '/two'],
  )
  const before = raw.data.length
  await raw.write(Buffer.concat([Buffer.from(handshake('/later'), 'latin1'), maskedFrame(0x1, Buffer.from('on the same socket'))]))
  await raw.until(() => raw.data.includes('on the same socket', before), 20_000, 'the echo')
  t.match(raw.data.toString('latin1', before), /^HTTP\/1\.1 101 Switching Protocols\r\n/)
  t.equal(wss.clients.size, 1)
  t.equal(server.server.connectionCount, 0, 'no longer a Pegasus connection')
})

t.test('the upgrade handler may refuse; ws refuses a bad handshake', async (t) => {
  const { url, server } = await startWs(t)
  const refused = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`${url}/deny`)
    ws.on('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0)
      ws.terminate()
    })
    ws.on('open', () => reject(new Error('opened')))
    ws.on('error', () => {})
  })
  t.equal(refused, 403)
  const bad = await RawClient.connect(server.port)
  t.teardown(() => bad.destroy())
  await bad.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n')
  await bad.waitForClose()
  t.match(bad.data.toString('latin1'), /^HTTP\/1\.1 400 Bad Request\r\n/, 'no Sec-WebSocket-Key: ws answers 400')
})

t.test('an Upgrade request with no handler is served as plain HTTP/1.1', async (t) => {
  const server = await startServer(t, plain as never, { interface: 'auto' })
  const raw = await RawClient.connect(server.port)
  t.teardown(() => raw.destroy())
  await raw.write(handshake('/upgrade-me') + get('/next'))
  const [first, second] = await raw.waitForResponses(2)
  t.equal(first.statusCode, 200)
  t.same(JSON.parse(first.body.toString()), { plain: true, url: '/upgrade-me', upgrade: 'websocket' })
  t.equal(second.statusCode, 200, 'the connection goes on as HTTP')
  t.same(JSON.parse(second.body.toString()).url, '/next')
  t.notOk(raw.closed)
  const refused = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`)
    ws.on('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0)
      ws.terminate()
    })
    ws.on('error', () => {})
  })
  t.equal(refused, 200, "a ws client sees the app's 200, not a 101")

  // Removing a handler again: upgrades are plain requests once more.
  const withHandler = await startWs(t)
  withHandler.server.server.setUpgradeHandler(null)
  const reply = await httpRequest(`${withHandler.server.origin}/x`, { headers: { connection: 'upgrade', upgrade: 'websocket' } })
  t.equal(reply.status, 200)
  t.equal(withHandler.upgrades.length, 0)
})

t.test('nothing escaped to the process', async (t) => {
  t.same(escaped, [])
})

/** A WebSocket handshake request for `path`. */
function handshake(path: string): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`
  )
}

/** One final client frame (masked, as clients must) of `opcode` with `payload`. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4)
  let header: Buffer
  if (payload.length < 126) {
    header = Buffer.from([0x80 | opcode, 0x80 | payload.length])
  } else if (payload.length < 65536) {
    header = Buffer.alloc(4)
    header[0] = 0x80 | opcode
    header[1] = 0x80 | 126
    header.writeUInt16BE(payload.length, 2)
  } else {
    header = Buffer.alloc(10)
    header[0] = 0x80 | opcode
    header[1] = 0x80 | 127
    header.writeBigUInt64BE(BigInt(payload.length), 2)
  }
  const masked = Buffer.alloc(payload.length)
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i] ^ mask[i & 3]
  return Buffer.concat([header, mask, masked])
}
