// acceptDirect: plain TCP connections read through one shared buffer (net.Socket's onread) straight
// into their Connection; the ordinary 'connection' path when the listener has no accept hook or
// the switch is off; upgrades, pipelining, half-close and pausing on both paths.
import t from 'tap'
import net from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import { acceptDirect, directReads, DirectReads } from '../lib/direct-reads.js'
import { RawClient, get } from './helpers/raw.js'
import { eventually, startServer } from './helpers/server.js'
import type { Connection } from '../lib/connection.js'
import type { Request, Response } from '../lib/server.js'

const echoUrl = (req: Request, res: Response): void => {
  res.end(`${req.method} ${req.url}`)
}

function directOf(conn: Connection): DirectReads | null {
  return (conn as unknown as { direct: DirectReads | null }).direct
}

function connectionsOf(server: unknown): Set<Connection> {
  return (server as { connections: Set<Connection> }).connections
}

for (const enabled of [true, false]) {
  const path = enabled ? 'direct reads' : 'fallback (ordinary sockets)'

  t.test(`${path}: keep-alive, pipelining, a large body, half-close`, async (t) => {
    directReads.enabled = enabled
    t.teardown(() => { directReads.enabled = true })
    const s = await startServer(t, async (req, res) => {
      const body = await req.body()
      res.end(`${req.url} ${body.length}`)
    })
    const client = await RawClient.connect(s.port)
    t.teardown(() => client.destroy())
    await client.write(get('/one'))
    await client.waitForResponses(1)
    const conn = [...connectionsOf(s.server)][0]
    t.equal(directOf(conn) !== null, enabled, enabled ? 'reads directly' : 'reads through data events')
    await client.write(get('/a') + get('/b') + get('/c'))
    const pipelined = await client.waitForResponses(4)
    t.same(pipelined.slice(1).map((r) => r.body.toString()), ['/a 0', '/b 0', '/c 0'])
    const big = Buffer.alloc(300_000, 120)
    await client.write(`POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\n\r\n`)
    await client.write(big)
    const all = await client.waitForResponses(5)
    t.equal(all[4].body.toString(), `/big ${big.length}`)
    // Half-close: the answer still comes, then the server closes.
    await client.write(get('/last'))
    client.end()
    const last = await client.waitForResponses(6)
    t.equal(last[5].body.toString(), '/last 0')
    await client.waitForClose()
    t.ok(client.closed)
    t.equal(s.errText(), '')
  })

  t.test(`${path}: an upgraded socket is read by its new owner ('data' events)`, async (t) => {
    directReads.enabled = enabled
    t.teardown(() => { directReads.enabled = true })
    const wss = new WebSocketServer({ noServer: true })
    wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${data}`)))
    const s = await startServer(t, echoUrl, {
      upgrade: (req: unknown, socket, head) => {
        wss.handleUpgrade(req as never, socket, head, (ws) => wss.emit('connection', ws, req))
      },
    })
    t.teardown(() => wss.close())
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/`)
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    const answers: string[] = []
    ws.on('message', (data) => answers.push(String(data)))
    for (let i = 0; i < 20; i++) ws.send(`m${i}`.repeat(i * 500 + 1))
    t.ok(await eventually(() => answers.length === 20), 'every message echoed')
    t.equal(answers[3], `echo ${'m3'.repeat(1501)}`)
    ws.close()
  })
}

t.test('a stalled reader of a direct socket: the connection pauses and resumes it', async (t) => {
  const s = await startServer(t, echoUrl, { maxPipeline: 2 })
  const client = await RawClient.connect(s.port)
  t.teardown(() => client.destroy())
  // Far more pipelined requests than maxPipeline and READ_AHEAD: reading stops and starts again.
  await client.write(get('/p').repeat(2000))
  const responses = await client.waitForResponses(2000)
  t.equal(responses.length, 2000)
  t.equal(responses[1999].body.toString(), 'GET /p')
})

t.test('acceptDirect: false when the listener has no accept hook to wrap, or when switched off', async (t) => {
  const listener = net.createServer()
  t.notOk(acceptDirect(listener, () => {}), 'not listening: no handle')
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  t.teardown(() => listener.close())
  const handle = (listener as unknown as { _handle: { onconnection: unknown } })._handle
  const hook = handle.onconnection
  handle.onconnection = undefined
  t.notOk(acceptDirect(listener, () => {}), 'a handle without onconnection')
  handle.onconnection = hook
  directReads.enabled = false
  t.notOk(acceptDirect(listener, () => {}), 'switched off')
  directReads.enabled = true
  t.ok(acceptDirect(listener, () => {}))
})

t.test('acceptDirect: a failed accept goes to the listener as Node.js reports it', async (t) => {
  const listener = net.createServer()
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  t.teardown(() => listener.close())
  t.ok(acceptDirect(listener, () => t.fail('no socket for a failed accept')))
  const errors: Error[] = []
  listener.on('error', (error) => errors.push(error))
  const handle = (listener as unknown as { _handle: { onconnection: (error: number, client: unknown) => void } })._handle
  handle.onconnection(-24, undefined) // EMFILE
  t.equal(errors.length, 1)
  t.match(errors[0], { code: 'EMFILE', syscall: 'accept' })
})

t.test('acceptDirect: the sockets count as the listener\'s (close waits for them, getConnections)', async (t) => {
  const listener = net.createServer({ allowHalfOpen: true })
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const sockets: net.Socket[] = []
  acceptDirect(listener, (socket, reads) => {
    sockets.push(socket)
    reads.reader = (chunk) => {
      socket.write(chunk)
    }
    socket.on('end', () => socket.end())
    socket.resume()
  })
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1')
  await new Promise((resolve) => client.once('connect', resolve))
  client.write('ping')
  const echoed = await new Promise<string>((resolve) => client.once('data', (data) => resolve(String(data))))
  t.equal(echoed, 'ping', 'read through the shared buffer and written back')
  t.equal(sockets[0].server, listener)
  const count = await new Promise<number>((resolve, reject) => listener.getConnections((error, n) => (error ? reject(error) : resolve(n))))
  t.equal(count, 1)
  let closed = false
  listener.close(() => { closed = true })
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.notOk(closed, 'close waits for the socket')
  client.destroy()
  t.ok(await eventually(() => closed), 'and completes once it is gone')
})

t.test('DirectReads copies each chunk: what a reader keeps does not change with the next read', async (t) => {
  const reads = new DirectReads()
  const kept: Buffer[] = []
  reads.reader = (chunk) => {
    kept.push(chunk)
  }
  const shared = Buffer.from('first chunk.')
  t.ok(reads.onread(5, shared))
  shared.write('other')
  t.ok(reads.onread(5, shared))
  t.same(kept.map(String), ['first', 'other'])
  reads.reader = () => false
  t.notOk(reads.onread(1, shared), 'a reader that says stop')
})
