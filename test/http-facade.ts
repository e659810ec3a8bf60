// pegasus/http and pegasus/register: node:http's createServer and Server served by Pegasus, over
// real sockets with real clients (node:http, fetch, raw sockets); the register patch in child
// processes (`node --import pegasus/register`), as a user runs it.
import t, { type Test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer, Server } from '../lib/interfaces/node/http.js'
import { RawClient, get } from './helpers/raw.js'
import { deferred, eventually, httpRequest, memoryLog, sleep, turns } from './helpers/server.js'
import { root } from './helpers/cli.js'

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

const hello: Handler = (req, res) => {
  res.end(`hello ${req.url}`)
}

/** A facade server on 127.0.0.1, port 0, with its log kept in memory; closed at the end. */
interface Served {
  server: Server
  port: number
  origin: string
}

async function serve(t: Test, handler?: Handler, options: Record<string, unknown> = {}): Promise<Served> {
  const server = createServer({ log: memoryLog().log, ...options }, handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => closeHard(server))
  const port = (server.address() as net.AddressInfo).port
  return { server, port, origin: `http://127.0.0.1:${port}` }
}

function closeHard(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve()
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

// --- listen and address -------------------------------------------------------------------------

t.test('listen(0): address() works as soon as listen returns, as on node:http', async (t) => {
  const server = createServer(hello)
  t.equal(server.address(), null, 'null before listen')
  t.equal(server.listening, false)
  t.equal(server.listen(0), server, 'listen returns the server')
  const address = server.address() as net.AddressInfo
  t.ok(address.port > 0, 'bound at once: the port is known before any event')
  t.equal(server.listening, true)
  t.ok(server instanceof net.Server, 'a net.Server, as node\'s http.Server is')
  await once(server, 'listening')
  const res = await fetch(`http://127.0.0.1:${address.port}/a`)
  t.equal(await res.text(), 'hello /a')
  await new Promise((resolve) => server.close(resolve))
  t.equal(server.listening, false)
})

t.test('listen(port, host, backlog, cb), listen(options, cb) and listen(cb)', async (t) => {
  const a = createServer(hello)
  await new Promise<void>((resolve) => a.listen(0, '127.0.0.1', 16, resolve))
  t.equal((a.address() as net.AddressInfo).address, '127.0.0.1')
  const b = createServer(hello)
  await new Promise<void>((resolve) => b.listen({ port: 0, host: '127.0.0.1' }, resolve))
  t.equal((b.address() as net.AddressInfo).family, 'IPv4')
  const c = createServer(hello)
  await new Promise<void>((resolve) => c.listen(resolve))
  for (const server of [a, b, c]) {
    const res = await httpRequest(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/x`, { agent: false })
    t.equal(res.body.toString(), 'hello /x')
    await new Promise((resolve) => server.close(resolve))
  }
})

t.test('listen(path): a unix socket, as net.Server listens', { skip: process.platform === 'win32' }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pegasus-http-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const socketPath = path.join(dir, 'http.sock')
  const server = createServer(hello).listen(socketPath)
  t.equal(server.address(), socketPath)
  const res = await httpRequest('http://localhost/unix', { socketPath, agent: false })
  t.equal(res.body.toString(), 'hello /unix')
  await new Promise((resolve) => server.close(resolve))
})

t.test('listen again after close; a port in use is an error event (the listen callback of Express gets it)', async (t) => {
  const { server, port } = await serve(t, hello)
  const second = createServer(hello)
  second.listen(port, '127.0.0.1')
  const [error] = (await once(second, 'error')) as [NodeJS.ErrnoException]
  t.equal(error.code, 'EADDRINUSE')
  await new Promise((resolve) => server.close(resolve))
  second.listen(port, '127.0.0.1')
  await once(second, 'listening')
  const res = await httpRequest(`http://127.0.0.1:${port}/again`, { agent: false })
  t.equal(res.body.toString(), 'hello /again')
  await new Promise((resolve) => second.close(resolve))
  // And the first one can listen again: a new engine serves it.
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const again = await httpRequest(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/b`, { agent: false })
  t.equal(again.body.toString(), 'hello /b')
})

// --- events -----------------------------------------------------------------------------------

t.test("'request': the handler is a listener; further listeners see the same req and res", async (t) => {
  const seen: string[] = []
  const { server, origin } = await serve(t)
  t.equal(server.listenerCount('request'), 0, 'createServer(options) without a handler')
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    t.ok(req instanceof http.IncomingMessage)
    t.ok(res instanceof http.ServerResponse)
    seen.push(`first ${req.url}`)
  })
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.push(`second ${req.url}`)
    res.end('both')
  })
  const res = await httpRequest(`${origin}/r`, { agent: false })
  t.equal(res.body.toString(), 'both')
  t.same(seen, ['first /r', 'second /r'])
  // createServer(handler) puts the handler first.
  const other = createServer(hello)
  t.equal(other.listeners('request')[0], hello)
})

t.test("'connection' and 'close'; close(cb) lets a request in flight finish", async (t) => {
  let release = (): void => {}
  const { server, origin } = await serve(t, (req, res) => {
    release = () => res.end('finished')
  })
  const sockets: net.Socket[] = []
  server.on('connection', (socket: net.Socket) => sockets.push(socket))
  const reply = httpRequest(`${origin}/slow`, { agent: false })
  t.ok(await eventually(() => sockets.length === 1), "'connection' with the socket")
  let closed = false
  let closeEvent = false
  server.on('close', () => (closeEvent = true))
  server.close(() => (closed = true))
  t.equal(server.listening, false, 'no longer accepting')
  await sleep(100)
  t.equal(closed, false, 'close waits for the request in flight')
  release()
  t.equal((await reply).body.toString(), 'finished')
  t.ok(await eventually(() => closed && closeEvent), "then the callback and 'close'")
})

t.test('close(cb) when not listening: the callback gets node\'s error', async (t) => {
  const server = createServer(hello)
  const [error] = await new Promise<[Error | undefined]>((resolve) => server.close((e) => resolve([e])))
  t.match(error, { code: 'ERR_SERVER_NOT_RUNNING' })
})

/**
 * A connection whose request was answered (idle) and one waiting on GET /hang (busy), once the
 * app has it (`hanging` resolves when the app is called for /hang).
 */
async function idleAndBusy(port: number, hanging: Promise<void>): Promise<{ idle: RawClient; busy: RawClient }> {
  const idle = await RawClient.connect(port)
  await idle.write(get('/'))
  await idle.waitForResponses(1)
  const busy = await RawClient.connect(port)
  await busy.write(get('/hang'))
  await hanging
  return { idle, busy }
}

t.test('closeAllConnections: busy and idle connections are destroyed', async (t) => {
  const hanging = deferred()
  const { server, port } = await serve(t, (req, res) => {
    if (req.url === '/hang') return hanging.resolve()
    res.end('ok')
  })
  const { idle, busy } = await idleAndBusy(port, hanging.promise)
  const closed = new Promise((resolve) => server.close(resolve))
  server.closeAllConnections()
  await Promise.all([idle.waitForClose(), busy.waitForClose(), closed])
  t.pass('both closed, and close() completed')
})

t.test('closeIdleConnections: only connections with no response in progress', async (t) => {
  let release = (): void => {}
  const hanging = deferred()
  const { server, port } = await serve(t, (req, res) => {
    if (req.url === '/hang') {
      release = () => res.end('late')
      hanging.resolve()
    } else res.end('ok')
  })
  const { idle, busy } = await idleAndBusy(port, hanging.promise)
  const accepted = once(server, 'connection')
  const fresh = await RawClient.connect(port)
  await accepted
  server.closeIdleConnections()
  await idle.waitForClose()
  await fresh.waitForClose()
  t.notOk(busy.closed, 'the busy connection stays')
  release()
  const [response] = await busy.waitForResponses(1)
  t.equal(response.body.toString(), 'late')
})

// --- timeouts ---------------------------------------------------------------------------------

t.test('timeout properties: node\'s defaults, and requestTimeout as given', async (t) => {
  const server = createServer(hello)
  t.equal(server.keepAliveTimeout, 5000)
  t.equal(server.headersTimeout, 60000)
  t.equal(server.requestTimeout, 300000)
  t.equal(server.timeout, 0)
  t.equal(server.maxHeadersCount, null)
  t.equal(server.httpAllowHalfOpen, false)
  const given = createServer({ keepAliveTimeout: 1500.7, headersTimeout: -1, requestTimeout: 1000 }, hello)
  t.equal(given.keepAliveTimeout, 1500, 'whole milliseconds')
  t.equal(given.headersTimeout, 0, 'a negative timeout is none')
  t.equal(given.requestTimeout, 1000)
  const cb = (): void => {}
  t.equal(given.setTimeout(1000, cb), given, 'setTimeout returns the server')
  t.equal(given.timeout, 1000)
  t.equal(given.listeners('timeout')[0], cb)
  t.equal(given.setTimeout(), given)
  t.equal(given.timeout, 0)
})

t.test('keepAliveTimeout set right after listen (Express: `app.listen().keepAliveTimeout = ...`)', async (t) => {
  const server = createServer({ log: memoryLog().log }, hello)
  server.listen(0, '127.0.0.1')
  server.keepAliveTimeout = 1000
  await once(server, 'listening')
  t.teardown(() => closeHard(server))
  const client = await RawClient.connect((server.address() as net.AddressInfo).port)
  await client.write(get('/'))
  const [response] = await client.waitForResponses(1)
  t.equal(response.headers['keep-alive'], 'timeout=1', "node's Keep-Alive header tells the client")
  const started = Date.now()
  await client.waitForClose()
  t.ok(Date.now() - started < 3000, 'the idle connection closed after about a second')
})

t.test('keepAliveTimeout and headersTimeout changed on a running server apply at once', async (t) => {
  const { server, port } = await serve(t, hello)
  const first = await RawClient.connect(port)
  await first.write(get('/'))
  const [before] = await first.waitForResponses(1)
  t.equal(before.headers['keep-alive'], 'timeout=5')
  server.keepAliveTimeout = 1000
  server.headersTimeout = 1000
  t.equal(server.keepAliveTimeout, 1000)
  t.equal(server.headersTimeout, 1000)
  await first.write(get('/'))
  const [, after] = await first.waitForResponses(2)
  t.equal(after.headers['keep-alive'], 'timeout=1')
  const slow = await RawClient.connect(port)
  await slow.write('GET / HTTP/1.1\r\nHost: x\r\n')
  await Promise.all([first.waitForClose(), slow.waitForClose()])
  t.match(slow.data.toString(), /^HTTP\/1.1 408/, 'a head that does not complete in time: 408')
})

t.test("setTimeout: an inactive socket is destroyed, or given to the 'timeout' listener", async (t) => {
  const { server, port } = await serve(t, hello)
  server.setTimeout(150)
  const dropped = await RawClient.connect(port)
  await dropped.waitForClose()
  t.pass('no listener: destroyed')
  const timedOut: net.Socket[] = []
  server.setTimeout(150, (socket) => {
    timedOut.push(socket)
    socket.destroy()
  })
  const kept = await RawClient.connect(port)
  await kept.waitForClose()
  t.equal(timedOut.length, 1, "the server's 'timeout' listener got the socket")
})

t.test("res.setTimeout and req.setTimeout: 'timeout' on the response or the request", async (t) => {
  const { port } = await serve(
    t,
    (req, res) => {
      if (req.url === '/res') res.setTimeout(100, () => res.end('response timed out'))
      else req.setTimeout(100, () => res.end('request timed out'))
    },
    { bufferBody: 0 },
  )
  const a = await RawClient.connect(port)
  await a.write(get('/res'))
  const [ra] = await a.waitForResponses(1)
  t.equal(ra.body.toString(), 'response timed out')
  const b = await RawClient.connect(port)
  await b.write('POST /req HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf')
  const [rb] = await b.waitForResponses(1)
  t.equal(rb.body.toString(), 'request timed out', 'the body stalled: the request heard it')
  a.destroy()
  b.destroy()
})

t.test("a 'request' listener that throws: 500 and an ERROR line, and the server goes on", async (t) => {
  const memory = memoryLog()
  const { origin } = await serve(t, () => {
    throw new Error('boom')
  }, { log: memory.log })
  const res = await httpRequest(`${origin}/`, { agent: false })
  t.equal(res.status, 500)
  t.match(memory.err.join(''), /ERROR: Exception in app for "GET \/ HTTP\/1.1"\nError: boom/)
})

// --- limits and Pegasus's own options ----------------------------------------------------------

t.test("maxHeadersCount and node's maxHeaderSize become Pegasus's limits", async (t) => {
  const counted = await serve(t, hello)
  counted.server.maxHeadersCount = 2
  const many = await RawClient.connect(counted.port)
  await many.write('GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n')
  const [refused] = await many.waitForResponses(1)
  t.equal(refused.statusCode, 431)
  const sized = await serve(t, hello, { maxHeaderSize: 100 })
  const big = await RawClient.connect(sized.port)
  await big.write(`GET / HTTP/1.1\r\nHost: x\r\nA: ${'a'.repeat(200)}\r\n\r\n`)
  const [large] = await big.waitForResponses(1)
  t.equal(large.statusCode, 431)
})

t.test("Pegasus's options pass through (appTimeout: an app that never answers gets 503)", async (t) => {
  const { origin } = await serve(t, () => {}, { appTimeout: 200, threads: 2 })
  const res = await httpRequest(`${origin}/`, { agent: false })
  t.equal(res.status, 503)
})

t.test('by default no cap on app calls in flight: twenty held requests all reach the app', async (t) => {
  const held: http.ServerResponse[] = []
  const { origin } = await serve(t, (req, res) => {
    held.push(res)
    if (held.length === 20) for (const r of held) r.end('ok')
  })
  const agent = new http.Agent({ keepAlive: false, maxSockets: 20 })
  t.teardown(() => agent.destroy())
  const replies = await Promise.all(Array.from({ length: 20 }, () => httpRequest(`${origin}/`, { agent })))
  t.same(replies.map((r) => r.status), Array(20).fill(200))
})

// --- a client closing its side -----------------------------------------------------------------

t.test("a client's FIN during a response: node's rule by default, Pegasus's with httpAllowHalfOpen", async (t) => {
  const events: string[] = []
  let called = deferred<() => void>()
  const { server, port } = await serve(t, (req, res) => {
    res.on('close', () => events.push(`close ${req.url} ${res.writableFinished}`))
    called.resolve(() => res.end(`answer ${req.url}`))
  })
  const left = await RawClient.connect(port)
  await left.write(get('/left'))
  const answerLeft = await called.promise
  left.end()
  await left.waitForClose()
  t.equal(left.data.length, 0, 'the client is taken to have left: nothing is sent')
  t.ok(await eventually(() => events.includes('close /left false')), "the app's response closes unfinished")
  answerLeft()
  server.httpAllowHalfOpen = true
  called = deferred<() => void>()
  const half = await RawClient.connect(port)
  await half.write(get('/half'))
  const answerHalf = await called.promise
  half.end()
  // (The app answers after the FIN was read: the connection's end is polled within these turns.)
  await turns()
  answerHalf()
  const [response] = await half.waitForResponses(1)
  t.equal(response.body.toString(), 'answer /half', 'a half-closed client is answered')
})

// --- upgrade ----------------------------------------------------------------------------------

const HANDSHAKE =
  'GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'

t.test("'upgrade' gets (req, socket, head); without a listener the request is plain HTTP", async (t) => {
  const { server, port } = await serve(t, (req, res) => res.end(`plain ${req.headers.upgrade}`))
  const onUpgrade = (req: http.IncomingMessage, socket: net.Socket, head: Buffer): void => {
    t.ok(req instanceof http.IncomingMessage)
    t.equal(req.url, '/chat')
    t.equal(req.headers.upgrade, 'websocket')
    t.equal(head.toString(), 'early', 'bytes after the head')
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n')
    socket.on('data', (data) => socket.write(data)).on('end', () => socket.end())
  }
  // Added before the first connection (no engine yet) and kept.
  server.on('upgrade', onUpgrade)
  const ws = await RawClient.connect(port)
  await ws.write(HANDSHAKE + 'early')
  await ws.until(() => ws.data.includes('\r\n\r\n'), 20_000, '101')
  t.match(ws.data.toString(), /^HTTP\/1.1 101 /)
  server.closeAllConnections()
  await ws.write('still here')
  await ws.until(() => ws.data.toString().endsWith('still here'), 20_000, 'echo')
  t.notOk(ws.closed, 'closeAllConnections leaves an upgraded socket alone, as node does')
  ws.destroy()
  // Removed while the engine runs: plain HTTP again.
  server.off('upgrade', onUpgrade)
  const plain = await RawClient.connect(port)
  await plain.write(HANDSHAKE)
  const [response] = await plain.waitForResponses(1)
  t.equal(response.body.toString(), 'plain websocket')
  plain.destroy()
  // Added while it runs: upgrades again.
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    socket.end('HTTP/1.1 101 Switching Protocols\r\n\r\n')
  })
  const again = await RawClient.connect(port)
  await again.write(HANDSHAKE)
  await again.waitForClose()
  t.match(again.data.toString(), /^HTTP\/1.1 101 /)
})

// --- pegasus/register, in child processes ------------------------------------------------------

const register = path.join(root, 'dist/lib/interfaces/node/register.js')

interface Child {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `node [flags] --input-type=module -e code` in the repo (so `pegasus/...` resolves to it). */
function node(flags: string[], code: string): Promise<Child> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', code], { cwd: root })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text))
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
    const timer = setTimeout(() => child.kill(), 20000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

function result(t: Test, child: Child): Record<string, unknown> {
  t.equal(child.code, 0, `the child ran to its end${child.stderr === '' ? '' : `: ${child.stderr}`}`)
  const line = child.stdout.trim().split('\n').pop() ?? '{}'
  return JSON.parse(line) as Record<string, unknown>
}

const EXPRESS_APP = `
import express from 'express'
import net from 'node:net'
import { Server } from 'pegasus/http'
const app = express()
app.get('/json', (req, res) => res.json({ hello: 'world' }))
const server = app.listen(0, async () => {
  const port = server.address().port
  const json = await (await fetch('http://127.0.0.1:' + port + '/json')).json()
  // Pegasus's parser answers an invalid Host itself (node's would pass it to the app).
  const raw = await new Promise((resolve) => {
    let data = ''
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /json HTTP/1.1\\r\\nHost: a b\\r\\n\\r\\n'))
    socket.on('data', (d) => (data += d)).on('close', () => resolve(data))
  })
  server.close(() => {
    console.log(JSON.stringify({ pegasus: server instanceof Server, json, status: raw.split('\\r\\n')[0] }))
  })
  server.closeAllConnections()
})
`

t.test("register: Express's app.listen(0, cb) runs on Pegasus (node --import pegasus/register)", async (t) => {
  const out = result(t, await node(['--import', 'pegasus/register'], EXPRESS_APP))
  t.same(out, { pegasus: true, json: { hello: 'world' }, status: 'HTTP/1.1 400 Bad Request' })
})

t.test('register by path: createServer, http.Server with and without new, subclasses; https untouched', async (t) => {
  const code = `
import http, { createServer as named } from 'node:http'
import https from 'node:https'
import { Server } from 'pegasus/http'
class Mine extends http.Server { mine() { return 'mine' } }
const mine = new Mine()
const out = {
  createServer: http.createServer() instanceof Server,
  named: named === http.createServer,
  called: http.Server((req, res) => res.end()) instanceof Server,
  constructed: new http.Server() instanceof Server,
  instanceofHttp: http.createServer() instanceof http.Server,
  subclass: mine instanceof Mine && mine instanceof Server && mine.mine() === 'mine',
  notMine: !(http.createServer() instanceof Mine),
  https: !(https.createServer() instanceof Server),
  plain: !({} instanceof http.Server),
}
await import(${JSON.stringify(`${register}?again`)})
out.once = http.Server === (await import('node:http')).default.Server
console.log(JSON.stringify(out))
`
  const out = result(t, await node(['--import', register], code))
  t.same(out, {
    createServer: true,
    named: true,
    called: true,
    constructed: true,
    instanceofHttp: true,
    subclass: true,
    notMine: true,
    https: true,
    plain: true,
    once: true,
  })
})

t.test("register loaded late: node's own servers made before it are still http.Server instances", async (t) => {
  const code = `
import http from 'node:http'
const before = http.createServer()
await import('pegasus/register')
const { Server } = await import('pegasus/http')
const after = http.createServer()
const out = { before: before instanceof http.Server, pegasus: before instanceof Server, after: after instanceof Server }
console.log(JSON.stringify(out))
`
  t.same(result(t, await node([], code)), { before: true, pegasus: false, after: true })
})
