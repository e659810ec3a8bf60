// TLS: ServerOptions.tls through node:tls and the same engine: the three interfaces over https
// (req.secure, req.socket.encrypted and Express's req.protocol, https: URLs), keep-alive,
// pipelining, half-close and large bodies over TLS, client certificates in their three modes,
// ALPN, handshakes that fail or never finish (dropped, nothing logged, the server serves on),
// and tlsOptionsFromFiles' one-line errors. Certificates are made with openssl at test time.
import t from 'tap'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'
import express from 'express'
import WebSocket, { WebSocketServer } from 'ws'
import { makeCerts, type Certs } from './helpers/certs.js'
import { RawClient, get } from './helpers/raw.js'
import { eventually, memoryLog, watchEscapes } from './helpers/server.js'
import {
  createServer,
  TlsConfigError,
  tlsOptionsFromFiles,
  type FetchInfo,
  type NodeApp,
  type Request,
  type Response,
  type Server,
  type ServerOptions,
  type TlsOptions,
} from '../lib/server.js'
import { tlsServerOptions } from '../lib/tls-options.js'

const made = makeCerts()
if (typeof made === 'string') {
  t.plan(0, made)
  process.exit(0)
}
const certs = made as Certs
t.teardown(() => fs.rmSync(certs.dir, { recursive: true, force: true }))

const MiB = 1024 * 1024
const serverTls: TlsOptions = { cert: certs.serverCert, key: certs.serverKey }

interface TlsTestServer {
  server: Server
  port: number
  origin: string
  out: string[]
  err: string[]
}

interface Teardown {
  teardown(fn: () => unknown): void
}

/** A TLS server for `app` on 127.0.0.1, port 0, closed at teardown. */
async function startTls(t: Teardown, app: unknown, options: ServerOptions = {}): Promise<TlsTestServer> {
  const memory = memoryLog()
  const server = createServer(app as never, { interface: 'native', log: memory.log, tls: serverTls, ...options })
  await server.listen(0, '127.0.0.1')
  t.teardown(() => server.close())
  const port = server.address().port
  return { server, port, origin: `https://localhost:${port}`, out: memory.out, err: memory.err }
}

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  socket: tls.TLSSocket
}

/** One request through node's https client, trusting the test CA. */
function httpsRequest(url: string, options: https.RequestOptions & { body?: Buffer | string } = {}): Promise<Reply> {
  const { body, ...rest } = options
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ca: certs.caCert, ...rest }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), socket: res.socket as tls.TLSSocket }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** A TLS connection trusting the test CA; resolves once the handshake is done. */
function tlsConnect(port: number, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.caCert, ...options }, () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

/** A raw client (exact bytes, strict response parsing) over a TLS connection. */
async function rawTls(port: number, options: tls.ConnectionOptions = {}): Promise<RawClient> {
  const socket = await tlsConnect(port, options)
  return new (RawClient as unknown as new (socket: net.Socket) => RawClient)(socket)
}

/** Runs curl; resolves with its exit code and output. */
function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['--silent', '--show-error', '--max-time', '10', ...args], (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr })
    })
  })
}

const hasCurl = await new Promise<boolean>((resolve) => execFile('curl', ['--version'], (error) => resolve(error === null)))

/** The native app of most tests: says what it saw of the connection. */
const describe = async (req: Request, res: Response): Promise<void> => {
  const body = await req.body()
  const socket = req.socket as tls.TLSSocket
  res.setHeader('Content-Type', 'application/json')
  res.end(
    JSON.stringify({
      secure: req.secure,
      encrypted: socket.encrypted === true,
      alpn: socket.alpnProtocol,
      port: req.remotePort,
      url: req.url,
      bytes: body.length,
      sha: createHash('sha256').update(body).digest('hex'),
    }),
  )
}

function json(reply: Reply): Record<string, unknown> {
  return JSON.parse(reply.body.toString()) as Record<string, unknown>
}

// --- The native interface ---------------------------------------------------------------------

t.test('native interface over TLS: req.secure, the TLSSocket, ALPN http/1.1; plain servers say not secure', async (t) => {
  const { origin, port, err } = await startTls(t, describe)
  const reply = await httpsRequest(`${origin}/a?b=1`)
  t.equal(reply.status, 200)
  t.match(json(reply), { secure: true, encrypted: true, alpn: false, url: '/a?b=1', bytes: 0 })
  const offered = await rawTls(port, { ALPNProtocols: ['h2', 'http/1.1'] })
  t.equal((offered.socket as tls.TLSSocket).alpnProtocol, 'http/1.1', 'ALPN: http/1.1 is chosen over h2')
  await offered.write(get('/alpn', 'Connection: close\r\n'))
  await offered.waitForClose()
  t.match(JSON.parse(offered.responses()[0].body.toString()), { alpn: 'http/1.1' })
  const h2only = await tlsConnect(port, { ALPNProtocols: ['h2'] }).then((socket) => socket.alpnProtocol, (error: Error) => error.message)
  t.match(h2only, /no application protocol/, 'a client offering h2 alone fails its handshake (alert 120)')

  const plain = createServer(describe as never, { interface: 'native', log: memoryLog().log })
  await plain.listen(0, '127.0.0.1')
  t.teardown(() => plain.close())
  const answer = await fetch(`http://127.0.0.1:${plain.address().port}/`)
  t.match(await answer.json(), { secure: false, encrypted: false })
  t.same(err, [], 'nothing logged')
})

t.test('curl over TLS: verified against the CA, refused without it', async (t) => {
  if (!hasCurl) return t.skip('curl is not installed')
  const { origin } = await startTls(t, describe)
  const ok = await curl(['--cacert', certs.files.caCert, '--data-binary', 'hello', `${origin}/curl`])
  t.equal(ok.code, 0, ok.stderr)
  t.match(JSON.parse(ok.stdout), { secure: true, url: '/curl', bytes: 5 })
  const untrusted = await curl([`${origin}/curl`])
  t.equal(untrusted.code, 60, 'curl: the certificate cannot be verified')
  const http11 = await curl(['--cacert', certs.files.caCert, '--http2', '-w', '%{http_version}', '-o', '/dev/null', `${origin}/`])
  t.equal(http11.stdout, '1.1', 'a client that offers h2 is answered in HTTP/1.1 (ALPN)')
})

t.test('keep-alive over TLS: one connection serves several requests; idle ones time out', async (t) => {
  const { origin, server } = await startTls(t, describe, { keepAliveTimeout: 300 })
  const agent = new https.Agent({ keepAlive: true, ca: certs.caCert, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const ports = new Set<unknown>()
  for (let i = 0; i < 5; i++) {
    const reply = await httpsRequest(`${origin}/${i}`, { agent })
    t.equal(reply.status, 200)
    ports.add(json(reply).port)
  }
  t.equal(ports.size, 1, 'every request came on the same connection')
  t.equal(server.connectionCount, 1)
  t.ok(await eventually(() => server.connectionCount === 0), 'the idle connection was closed')
})

t.test('pipelining over TLS: three requests in one write, three answers in order', async (t) => {
  const { port } = await startTls(t, (req: Request, res: Response) => res.end(req.url))
  const client = await rawTls(port)
  t.teardown(() => client.destroy())
  await client.write(get('/one') + get('/two') + get('/three', 'Connection: close\r\n'))
  await client.waitForClose()
  t.same(
    client.responses().map((r) => r.body.toString()),
    ['/one', '/two', '/three'],
  )
})

t.test('half-close over TLS: a client that ends its side after its request gets the answer', async (t) => {
  const { port } = await startTls(t, (req: Request, res: Response) => setTimeout(() => res.end(`late ${req.url}`), 50))
  const client = await rawTls(port, { allowHalfOpen: true })
  t.teardown(() => client.destroy())
  await client.write(get('/half'))
  client.end()
  await client.waitForClose()
  t.equal(client.responses()[0]?.body.toString(), 'late /half')
})

t.test('large bodies over TLS: a 16 MiB upload read whole, a 32 MiB response streamed', async (t) => {
  const { origin } = await startTls(t, async (req: Request, res: Response) => {
    if (req.method === 'POST') return describe(req, res)
    const piece = Buffer.alloc(MiB, 'x')
    res.setHeader('Content-Length', 32 * MiB)
    for (let i = 0; i < 32; i++) {
      if (!res.write(piece)) await new Promise((resolve) => res.once('drain', resolve))
    }
    res.end()
  }, { maxBodySize: 64 * MiB })
  const upload = randomBytes(16 * MiB)
  const posted = await httpsRequest(`${origin}/up`, { method: 'POST', body: upload })
  t.match(json(posted), { bytes: upload.length, sha: createHash('sha256').update(upload).digest('hex') })
  const download = await httpsRequest(`${origin}/down`)
  t.equal(download.body.length, 32 * MiB)
  t.ok(download.body.every((byte) => byte === 0x78), 'every byte arrived as sent')
})

t.test('timeouts over TLS: a stalled body is answered 408; a client that reads none of a large response is cut off', async (t) => {
  const { port, server } = await startTls(t, async (req: Request, res: Response) => {
    if (req.method === 'POST') return describe(req, res)
    // More than the socket and TLS buffers hold: the writes back up behind a client not reading.
    const piece = Buffer.alloc(MiB)
    let backedUp = false
    for (let i = 0; i < 16 && !res.destroyed; i++) {
      if (!res.write(piece)) {
        backedUp = true
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    t.ok(backedUp, 'write() reported backpressure')
    res.end()
  }, { bodyTimeout: 1000, bufferBody: 0 })
  const stalled = await rawTls(port)
  await stalled.write('POST /slow HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789')
  await stalled.waitForClose()
  t.equal(stalled.responses()[0]?.statusCode, 408)

  const reader = await tlsConnect(port)
  reader.pause()
  reader.write(get('/big'))
  t.ok(await eventually(() => server.connectionCount === 1), 'the connection is open')
  t.ok(await eventually(() => server.connectionCount === 0), 'then cut off by the output stall timeout')
  reader.destroy()
})

t.test('WebSocket over TLS (wss:): the upgrade handler takes the TLSSocket', async (t) => {
  const wss = new WebSocketServer({ noServer: true })
  wss.on('connection', (ws: WebSocket) => ws.on('message', (data: Buffer) => ws.send(`echo ${data.toString()}`)))
  const { server, port } = await startTls(t, (_req: Request, res: Response) => res.end('plain'), { interface: 'node' })
  server.setUpgradeHandler(((req: never, socket: net.Socket, head: Buffer) => {
    t.equal((socket as tls.TLSSocket).encrypted, true)
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  }) as never)
  const ws = new WebSocket(`wss://localhost:${port}/ws`, { ca: certs.caCert })
  t.teardown(() => ws.terminate())
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  ws.send('over tls')
  const [message] = (await new Promise((resolve) => ws.once('message', (...args) => resolve(args)))) as [Buffer]
  t.equal(message.toString(), 'echo over tls')
  ws.close()
  await new Promise((resolve) => ws.once('close', resolve))
  t.equal((await httpsRequest(`https://localhost:${port}/`)).body.toString(), 'plain', 'plain requests are served besides')
})

t.test('an app that streams an upload slowly over TLS: reading pauses and resumes, every byte arrives', async (t) => {
  const { origin } = await startTls(t, async (req: Request, res: Response) => {
    const hash = createHash('sha256')
    let bytes = 0
    let pieces = 0
    for await (const chunk of req) {
      hash.update(chunk)
      bytes += chunk.length
      if (++pieces % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    }
    res.end(JSON.stringify({ bytes, sha: hash.digest('hex') }))
  }, { bufferBody: 0, maxBodySize: 64 * MiB })
  const upload = randomBytes(12 * MiB)
  const reply = await httpsRequest(`${origin}/slow`, { method: 'POST', body: upload })
  t.same(json(reply), { bytes: upload.length, sha: createHash('sha256').update(upload).digest('hex') })
})

// --- The node and fetch interfaces ------------------------------------------------------------

t.test("node interface over TLS: req.socket is the TLSSocket; Express's req.protocol and req.secure", async (t) => {
  const app = express()
  app.get('/', (req, res) => {
    res.json({ protocol: req.protocol, secure: req.secure, encrypted: (req.socket as tls.TLSSocket).encrypted })
  })
  const { origin } = await startTls(t, app, { interface: 'node' })
  t.same(json(await httpsRequest(`${origin}/`)), { protocol: 'https', secure: true, encrypted: true })
})

t.test("fetch interface over TLS: https: URLs; info.tlsSocket (null over plain http)", async (t) => {
  const handler = (request: globalThis.Request, info: FetchInfo): globalThis.Response =>
    Response.json({ url: request.url, tls: info.tlsSocket === null ? null : info.tlsSocket.getProtocol() !== null })
  const { port } = await startTls(t, handler, { interface: 'fetch' })
  const reply = await httpsRequest(`https://localhost:${port}/x?y=1`)
  t.same(json(reply), { url: `https://localhost:${port}/x?y=1`, tls: true })

  const plain = createServer(handler, { interface: 'fetch', log: memoryLog().log })
  await plain.listen(0, '127.0.0.1')
  t.teardown(() => plain.close())
  const answer = await fetch(`http://127.0.0.1:${plain.address().port}/p`)
  t.same(await answer.json(), { url: `http://127.0.0.1:${plain.address().port}/p`, tls: null })
})

// --- Client certificates ----------------------------------------------------------------------

/** What every interface can tell of the client's certificate. */
const peer = (req: Request, res: Response): void => {
  const socket = req.socket as tls.TLSSocket
  const cert = socket.getPeerCertificate()
  res.end(JSON.stringify({ authorized: socket.authorized, cn: cert.subject?.CN ?? null, error: socket.authorizationError ?? null }))
}

t.test("client certificates 'required': a valid one is served, none or an untrusted one fail the handshake", async (t) => {
  const { origin, port, err } = await startTls(t, peer, { tls: { ...serverTls, ca: certs.caCert, clientCerts: 'required' } })
  const good = await httpsRequest(`${origin}/`, { cert: certs.clientCert, key: certs.clientKey })
  t.same(json(good), { authorized: true, cn: 'client one', error: null })
  await t.rejects(httpsRequest(`${origin}/`), 'no certificate: the connection fails')
  await t.rejects(httpsRequest(`${origin}/`, { cert: certs.rogueCert, key: certs.rogueKey }), 'an untrusted certificate: the connection fails')
  if (hasCurl) {
    const ok = await curl(['--cacert', certs.files.caCert, '--cert', certs.files.clientCert, '--key', certs.files.clientKey, `https://localhost:${port}/`])
    t.same(JSON.parse(ok.stdout), { authorized: true, cn: 'client one', error: null })
    const refused = await curl(['--cacert', certs.files.caCert, `https://localhost:${port}/`])
    t.not(refused.code, 0, 'curl without a certificate fails')
  }
  t.same(json(await httpsRequest(`${origin}/`, { cert: certs.clientCert, key: certs.clientKey })).authorized, true, 'the server serves on')
  t.same(err, [], 'failed handshakes are not logged')
})

t.test("client certificates 'optional': asked for, reported, never required", async (t) => {
  const { origin } = await startTls(t, peer, { tls: { ...serverTls, ca: certs.caCert, clientCerts: 'optional' } })
  t.same(json(await httpsRequest(`${origin}/`, { cert: certs.clientCert, key: certs.clientKey })), { authorized: true, cn: 'client one', error: null })
  t.match(json(await httpsRequest(`${origin}/`)), { authorized: false, cn: null, error: 'UNABLE_TO_GET_ISSUER_CERT' })
  t.match(json(await httpsRequest(`${origin}/`, { cert: certs.rogueCert, key: certs.rogueKey })), { authorized: false, cn: 'rogue client' })
})

t.test("client certificates 'none': not asked for; the node and fetch interfaces reach the certificate too", async (t) => {
  const none = await startTls(t, peer, { tls: { ...serverTls, clientCerts: 'none' } })
  t.match(json(await httpsRequest(`${none.origin}/`, { cert: certs.clientCert, key: certs.clientKey })), { cn: null })

  const mutual = { ...serverTls, ca: certs.caCert, clientCerts: 'required' as const }
  const nodeApp: NodeApp = (req, res) => res.end((req.socket as tls.TLSSocket).getPeerCertificate().subject.CN)
  const node = await startTls(t, nodeApp, { interface: 'node', tls: mutual })
  t.equal((await httpsRequest(`${node.origin}/`, { cert: certs.clientCert, key: certs.clientKey })).body.toString(), 'client one')
  const fetchApp = (_request: globalThis.Request, info: FetchInfo): globalThis.Response =>
    new Response(info.tlsSocket?.getPeerCertificate().subject.CN)
  const web = await startTls(t, fetchApp, { interface: 'fetch', tls: mutual })
  t.equal((await httpsRequest(`${web.origin}/`, { cert: certs.clientCert, key: certs.clientKey })).body.toString(), 'client one')
})

// --- Options ------------------------------------------------------------------------------------

t.test('ciphers and minVersion are node:tls options: a TLS 1.2 client meets minVersion TLSv1.3 with a failed handshake', async (t) => {
  const strict = await startTls(t, describe, { tls: { ...serverTls, minVersion: 'TLSv1.3' } })
  await t.rejects(tlsConnect(strict.port, { maxVersion: 'TLSv1.2' }))
  const socket = await tlsConnect(strict.port)
  t.equal(socket.getProtocol(), 'TLSv1.3')
  socket.destroy()

  const cipher = 'ECDHE-ECDSA-AES128-GCM-SHA256'
  const chosen = await startTls(t, describe, { tls: { ...serverTls, ciphers: cipher, maxVersion: 'TLSv1.2' } })
  const tls12 = await tlsConnect(chosen.port)
  t.equal(tls12.getCipher().name, cipher)
  tls12.destroy()
  await t.rejects(tlsConnect(chosen.port, { ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }), 'a client without that cipher fails')
})

t.test('tlsServerOptions: the client certificate modes, ALPN, the handshake timeout; bad options throw in createServer', async (t) => {
  t.match(tlsServerOptions(serverTls, 10000), { ALPNProtocols: ['http/1.1'], handshakeTimeout: 10000 })
  t.notOk('requestCert' in tlsServerOptions(serverTls, 0), 'no clientCerts: requestCert as given')
  t.notOk('handshakeTimeout' in tlsServerOptions(serverTls, 0), "headersTimeout 0: node's default")
  t.match(tlsServerOptions({ ...serverTls, handshakeTimeout: 50 }, 10000), { handshakeTimeout: 50 })
  t.match(tlsServerOptions({ ...serverTls, ALPNProtocols: ['x'] }, 0), { ALPNProtocols: ['x'] })
  t.match(tlsServerOptions({ ...serverTls, clientCerts: 'none' }, 0), { requestCert: false, rejectUnauthorized: false })
  t.match(tlsServerOptions({ ...serverTls, clientCerts: 'optional' }, 0), { requestCert: true, rejectUnauthorized: false })
  t.match(tlsServerOptions({ ...serverTls, clientCerts: 'required' }, 0), { requestCert: true, rejectUnauthorized: true })
  t.throws(() => tlsServerOptions({ ...serverTls, clientCerts: 'maybe' as never }, 0), { message: 'tls.clientCerts must be none, optional or required: maybe' })
  t.throws(() => createServer(describe as never, { tls: { cert: certs.serverCert, key: certs.clientKey } }), /key values mismatch/)
  t.throws(() => createServer(describe as never, { tls: { ...serverTls, ciphers: 'NOPE' } }), /no cipher match/)
})

// --- Handshakes that fail ---------------------------------------------------------------------

t.test('plain HTTP to the TLS port, garbage, a client that never finishes its handshake: dropped, nothing logged', async (t) => {
  const escaped = watchEscapes(t)
  const { port, origin, err, out, server } = await startTls(t, describe, { headersTimeout: 300 })
  const plain = await RawClient.connect(port)
  await plain.write(get('/'))
  await plain.waitForClose()
  t.notMatch(plain.data.toString('latin1'), /HTTP\/1\.1/, 'no HTTP answer to plain HTTP')

  const garbage = await RawClient.connect(port)
  await garbage.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]))
  await garbage.waitForClose()

  // Half a ClientHello, then silence: the handshake timeout (headersTimeout) ends it.
  const hello = await new Promise<Buffer>((resolve) => {
    const sniff = net.createServer((socket) => socket.once('data', (data) => {
      resolve(data)
      socket.destroy()
      sniff.close()
    }))
    sniff.listen(0, '127.0.0.1', () => {
      const client = tls.connect({ port: (sniff.address() as net.AddressInfo).port, host: '127.0.0.1', servername: 'localhost' })
      client.on('error', () => {})
    })
  })
  const stalled = await RawClient.connect(port)
  await stalled.write(hello.subarray(0, 20))
  await stalled.waitForClose()
  const silent = await RawClient.connect(port)
  await silent.waitForClose()
  t.pass('connections that never finish their handshake are closed')

  t.equal(server.connectionCount, 0, 'none of them became a connection')
  const reply = await httpsRequest(`${origin}/`)
  t.equal(reply.status, 200, 'the server serves on')
  t.same(err, [], 'nothing on the error log')
  t.same(out, [], 'nothing on the out log')
  t.same(escaped, [], 'nothing escaped')
})

t.test('a client that completes its handshake and sends nothing meets headersTimeout as over plain TCP', async (t) => {
  const { port } = await startTls(t, describe, { headersTimeout: 300 })
  const client = await rawTls(port)
  await client.waitForClose()
  t.ok(client.closed)
})

t.test('close() with TLS connections: in-flight requests finish, idle keep-alive connections close', async (t) => {
  let release = (): void => {}
  const { port, server } = await startTls(t, async (_req: Request, res: Response) => {
    await new Promise<void>((resolve) => (release = resolve))
    res.end('done')
  })
  const busy = await rawTls(port)
  await busy.write(get('/'))
  await eventually(() => server.connectionCount === 1)
  const closed = server.close()
  release()
  await closed
  await busy.waitForClose()
  t.equal(busy.responses()[0].body.toString(), 'done')
  t.equal(busy.responses()[0].headers.connection, 'close')
})

// --- Several binds, one TLS server ------------------------------------------------------------

t.test('every bind of a TLS server speaks TLS: tcp and unix: (curl --unix-socket)', async (t) => {
  const memory = memoryLog()
  const server = createServer(describe as never, { interface: 'native', log: memory.log, tls: serverTls })
  const dir = fs.mkdtempSync(path.join(certs.dir, 'sock-'))
  const socketPath = path.join(dir, 'tls.sock')
  await server.listen('127.0.0.1:0')
  await server.listen({ kind: 'unix', path: socketPath })
  t.teardown(() => server.close())
  t.match(json(await httpsRequest(`https://localhost:${server.address().port}/tcp`)), { secure: true })
  t.match(json(await httpsRequest('https://localhost/unix', { socketPath })), { secure: true, url: '/unix' })
  if (hasCurl) {
    const reply = await curl(['--cacert', certs.files.caCert, '--unix-socket', socketPath, 'https://localhost/curl'])
    t.match(JSON.parse(reply.stdout), { secure: true, url: '/curl' })
  }
})

// --- Certificate files --------------------------------------------------------------------------

t.test('tlsOptionsFromFiles: options that serve; one-line errors naming the file', async (t) => {
  const f = certs.files
  const options = tlsOptionsFromFiles({ certfile: f.serverCert, keyfile: f.serverKey, caCerts: f.caCert, certReqs: 'required', ciphers: 'HIGH', minVersion: 'TLSv1.2' })
  t.match(options, { clientCerts: 'required', ciphers: 'HIGH', minVersion: 'TLSv1.2' })
  const { origin } = await startTls(t, peer, { tls: options })
  t.match(json(await httpsRequest(`${origin}/`, { cert: certs.clientCert, key: certs.clientKey })), { authorized: true })
  t.same(tlsOptionsFromFiles({ certfile: f.serverCert, keyfile: f.serverKey }).clientCerts, 'none')

  const both = path.join(certs.dir, 'both.pem')
  fs.writeFileSync(both, certs.serverCert + certs.serverKey)
  const combined = tlsOptionsFromFiles({ certfile: both, keyfile: null })
  const inOne = await startTls(t, describe, { tls: combined })
  t.equal((await httpsRequest(`${inOne.origin}/`)).status, 200, 'the key may be in the certfile')

  const junk = path.join(certs.dir, 'junk.pem')
  fs.writeFileSync(junk, 'not a certificate\n')
  const broken = path.join(certs.dir, 'broken.pem')
  fs.writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
  const missing = path.join(certs.dir, 'missing.pem')
  const cases: [Parameters<typeof tlsOptionsFromFiles>[0], RegExp][] = [
    [{ certfile: missing, keyfile: f.serverKey }, /^certfile .*missing\.pem: ENOENT: no such file or directory/],
    [{ certfile: junk, keyfile: f.serverKey }, /^certfile .*junk\.pem: no PEM certificate in it$/],
    [{ certfile: broken, keyfile: f.serverKey }, /^certfile .*broken\.pem: a certificate that cannot be read \(/],
    [{ certfile: f.serverCert, keyfile: missing }, /^keyfile .*missing\.pem: ENOENT/],
    [{ certfile: f.serverCert, keyfile: junk }, /^keyfile .*junk\.pem: no usable private key \(/],
    [{ certfile: f.serverCert }, /^certfile .*server\.crt: no usable private key \(/],
    [{ certfile: f.serverCert, keyfile: f.clientKey }, /^TLS settings: key values mismatch$/],
    [{ certfile: f.serverCert, keyfile: f.serverKey, ciphers: 'NOPE' }, /^TLS settings: no cipher match$/],
    [{ certfile: f.serverCert, keyfile: f.serverKey, caCerts: junk }, /^ca-certs .*junk\.pem: no PEM certificate in it$/],
    [{ certfile: f.serverCert, keyfile: f.serverKey, caCerts: missing }, /^ca-certs .*missing\.pem: ENOENT/],
    [{ certfile: f.serverCert, keyfile: f.serverKey, certReqs: 'sometimes' as never }, /^TLS settings: tls\.clientCerts must be/],
  ]
  for (const [files, message] of cases) {
    const error = (() => {
      try {
        tlsOptionsFromFiles(files)
      } catch (error) {
        return error as Error
      }
      return null
    })()
    t.ok(error instanceof TlsConfigError, `${message}: a TlsConfigError`)
    t.match(error?.message, message)
    t.notMatch(error?.message, /\n/, 'one line')
  }
})
