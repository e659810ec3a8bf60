// The PROXY protocol (proxyProtocol: true): v1 and v2 headers, whole or byte by byte, name the
// connection's client for req.remoteAddress, the access log and the interfaces; a connection
// without a valid one, or from a peer not in forwardedAllowIps, is closed without an answer.
import t from 'tap'
import express from 'express'
import fc from 'fast-check'
import type { App } from '../lib/server.js'
import { ProxyProtocolError, readProxyHeader } from '../lib/proxy-protocol.js'
import { RawClient, get, probe } from './helpers/raw.js'
import { eventually, startServer, watchEscapes } from './helpers/server.js'

const whoAmI: App = (req, res) => {
  res.setHeader('Content-Type', 'application/json')
  res.end(JSON.stringify({ address: req.remoteAddress, port: req.remotePort ?? null }))
}

const SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1')

/** A v2 header: PROXY (or LOCAL) over TCP for these addresses, with `tlv` bytes after them. */
function v2(options: { command?: number; family?: number; source?: number[]; port?: number; tlv?: Buffer; length?: number }): Buffer {
  const family = options.family ?? 0x11
  const size = family >> 4 === 1 ? 4 : family >> 4 === 2 ? 16 : family >> 4 === 3 ? 108 : 0
  const block = Buffer.alloc(size * 2 + (size === 108 ? 0 : 4))
  Buffer.from(options.source ?? []).copy(block, 0)
  if (size === 4 || size === 16) block.writeUInt16BE(options.port ?? 0, size * 2)
  const body = Buffer.concat([block, options.tlv ?? Buffer.alloc(0)])
  const fixed = Buffer.alloc(4)
  fixed[0] = 0x20 | (options.command ?? 1)
  fixed[1] = family
  fixed.writeUInt16BE(options.length ?? body.length, 2)
  return Buffer.concat([SIGNATURE, fixed, body])
}

async function sendBytewise(client: RawClient, data: Buffer): Promise<void> {
  for (let i = 0; i < data.length; i++) await client.write(data.subarray(i, i + 1))
}

t.test('the header parser', async (t) => {
  const line = 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n'
  t.same(readProxyHeader(Buffer.from(`${line}GET`)), {
    length: line.length,
    source: { address: '192.0.2.1', port: 56324 },
  })
  t.same(readProxyHeader(Buffer.from('PROXY TCP6 2001:DB8:0:0::1 ::1 0 80\r\n'))?.source, { address: '2001:db8::1', port: 0 })
  t.same(readProxyHeader(Buffer.from('PROXY TCP6 ::FFFF:192.0.2.9 ::1 1 2\r\n'))?.source, { address: '::ffff:192.0.2.9', port: 1 })
  t.same(readProxyHeader(Buffer.from('PROXY UNKNOWN whatever follows\r\n')), { length: 32, source: null })
  t.equal(readProxyHeader(Buffer.from('PROXY TCP4 192.0.2.1')), null, 'not whole yet')
  t.equal(readProxyHeader(Buffer.from('PRO')), null)
  t.equal(readProxyHeader(Buffer.from('\r\n\r\n\0')), null)
  t.equal(readProxyHeader(v2({ source: [192, 0, 2, 1] }).subarray(0, 20)), null)
  const bad: [Buffer, RegExp][] = [
    [Buffer.from('GET / HTTP/1.1\r\n'), /Not a PROXY protocol header/],
    [Buffer.from('PROXZ'), /Not a PROXY/],
    [Buffer.from('\r\n\r\nX'), /Not a PROXY/],
    [Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), /too long/],
    [Buffer.from(`PROXY UNKNOWN ${'x'.repeat(100)}\r\n`), /too long/],
    [Buffer.from('PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n'), /unknown protocol 'UDP4'/],
    [Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n'), /bad addresses/],
    [Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n'), /bad addresses/],
    [Buffer.from('PROXY TCP6 ::1 1.2.3.4 1 2\r\n'), /bad addresses/],
    [Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n'), /bad ports/],
    [Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 1 02\r\n'), /bad ports/],
    [Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4  1 2\r\n'), /bad addresses/],
    [Buffer.concat([SIGNATURE, Buffer.from([0x11, 0x11, 0, 0])]), /unknown version/],
    [Buffer.concat([SIGNATURE, Buffer.from([0x22, 0x11, 0, 0])]), /unknown command/],
    [v2({ family: 0x41 }), /unknown address family/],
    [v2({ command: 0, family: 0x51 }), /unknown address family/],
    [v2({ family: 0x11, length: 8 }).subarray(0, 24), /address block too short/],
    [v2({ family: 0x21, length: 12 }).subarray(0, 28), /address block too short/],
  ]
  for (const [data, message] of bad) t.throws(() => readProxyHeader(data), message, JSON.stringify(data.toString('latin1')))
  t.throws(() => readProxyHeader(Buffer.from('GET')), { name: 'ProxyProtocolError' })

  const ipv6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42]
  t.same(readProxyHeader(v2({ family: 0x21, source: ipv6, port: 443 }))?.source, { address: '2001:db8::42', port: 443 })
  const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 5]
  t.same(readProxyHeader(v2({ family: 0x21, source: mapped, port: 1 }))?.source, { address: '::ffff:192.0.2.5', port: 1 })
  const tlv = Buffer.from([0x04, 0, 3, 1, 2, 3, 0x20, 0, 1, 0])
  const withTlv = v2({ source: [203, 0, 113, 4], port: 8080, tlv })
  t.same(readProxyHeader(Buffer.concat([withTlv, Buffer.from('GET')])), { length: withTlv.length, source: { address: '203.0.113.4', port: 8080 } })
  t.same(readProxyHeader(v2({ command: 0, family: 0x11, source: [1, 2, 3, 4] }))?.source, null, 'LOCAL keeps the socket')
  t.same(readProxyHeader(v2({ family: 0x00 }))?.source, null, 'UNSPEC keeps the socket')
  t.same(readProxyHeader(v2({ family: 0x31 }))?.source, null, 'a unix address keeps the socket')
  t.same(readProxyHeader(v2({ family: 0x12, source: [1, 2, 3, 4], port: 9 }))?.source, { address: '1.2.3.4', port: 9 }, 'UDP is read as TCP')
})

t.test('the parser reads any header incrementally and never fails otherwise', async (t) => {
  const header = fc.oneof(
    fc.record({ v: fc.constant(1), ip: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }) }),
    fc.record({ v: fc.constant(2), ip: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }), tlv: fc.uint8Array({ maxLength: 300 }) }),
  )
  fc.assert(
    fc.property(header, fc.uint8Array({ maxLength: 20 }), (h, after) => {
      const bytes =
        h.v === 1
          ? Buffer.from(`PROXY TCP4 ${h.ip} 10.0.0.1 ${h.port} 443\r\n`)
          : v2({ source: h.ip.split('.').map(Number), port: h.port, tlv: Buffer.from((h as { tlv: Uint8Array }).tlv) })
      for (let i = 1; i < bytes.length; i++) if (readProxyHeader(bytes.subarray(0, i)) !== null) return false
      const read = readProxyHeader(Buffer.concat([bytes, after]))
      return read !== null && read.length === bytes.length && read.source?.address === h.ip && read.source.port === h.port
    }),
    { numRuns: 300 },
  )
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        readProxyHeader(Buffer.from(bytes))
      } catch (error) {
        return error instanceof ProxyProtocolError
      }
      return true
    }),
    { numRuns: 3000 },
  )
  t.pass('properties hold')
})

t.test('v1 and v2, whole or byte by byte: the header names the client', async (t) => {
  const s = await startServer(t, whoAmI, { proxyProtocol: true, accessLog: true })
  const headers: [string, Buffer, string, number][] = [
    ['v1', Buffer.from('PROXY TCP4 192.0.2.10 127.0.0.1 40000 80\r\n'), '192.0.2.10', 40000],
    ['v1 TCP6', Buffer.from('PROXY TCP6 2001:db8::10 ::1 40001 80\r\n'), '2001:db8::10', 40001],
    ['v2', v2({ source: [198, 51, 100, 10], port: 40002, tlv: Buffer.from([0x03, 0, 4, 0, 0, 0, 0]) }), '198.51.100.10', 40002],
  ]
  for (const [name, header, address, port] of headers) {
    for (const bytewise of [false, true]) {
      const client = await RawClient.connect(s.port)
      const request = Buffer.from(get('/', 'Connection: close\r\n'))
      if (bytewise) await sendBytewise(client, Buffer.concat([header, request]))
      else await client.write(Buffer.concat([header, request]))
      const [response] = await client.waitForResponses(1)
      t.same(JSON.parse(response.body.toString()), { address, port }, `${name}${bytewise ? ', byte by byte' : ''}`)
    }
  }
  const lines = s.outLines()
  t.equal(lines[0], 'INFO: 192.0.2.10:40000 - "GET / HTTP/1.1" 200 OK')
  t.equal(lines[5], 'INFO: 198.51.100.10:40002 - "GET / HTTP/1.1" 200 OK')
  t.equal(s.errText(), '')
})

t.test('LOCAL, UNSPEC and UNKNOWN keep the connection own peer; keep-alive goes on', async (t) => {
  const s = await startServer(t, whoAmI, { proxyProtocol: true })
  for (const header of [v2({ command: 0, family: 0x11, source: [1, 2, 3, 4] }), v2({ family: 0 }), Buffer.from('PROXY UNKNOWN\r\n')]) {
    const client = await RawClient.connect(s.port)
    await client.write(header)
    await client.write(get() + get('/', 'Connection: close\r\n'))
    const responses = await client.waitForResponses(2)
    for (const response of responses) t.same(JSON.parse(response.body.toString()), { address: '127.0.0.1', port: client.localPort })
  }
})

t.test('a connection without a valid header is closed without an answer', async (t) => {
  const escaped = watchEscapes(t)
  const s = await startServer(t, whoAmI, { proxyProtocol: true, accessLog: true })
  const cases: [string, Buffer | string, RegExp][] = [
    ['plain HTTP', get('/'), /Not a PROXY protocol header/],
    ['a bad v1 line', 'PROXY TCP4 1.2.3.4 nope 1 2\r\n' + get('/'), /bad addresses/],
    ['a bad v2 version', Buffer.concat([SIGNATURE, Buffer.from([0x31, 0x11, 0, 12])]), /unknown version/],
  ]
  for (const [name, data, message] of cases) {
    const client = await RawClient.connect(s.port)
    await client.write(data)
    await client.waitForClose()
    t.equal(client.data.length, 0, `${name}: nothing is answered`)
    t.match(s.errText(), message)
  }
  // The client's FIN before the header is whole.
  const client = await RawClient.connect(s.port)
  await client.write('PROXY TCP4 1.2.')
  client.end()
  await client.waitForClose()
  t.equal(client.data.length, 0)
  t.match(s.errText(), /WARN: Closing a connection from 127\.0\.0\.1: The connection ended before its PROXY protocol header/)
  t.equal(s.outLines().length, 0, 'no access lines')
  t.ok(await eventually(() => s.server.connectionCount === 0))
  // The server goes on serving others.
  const ok = await RawClient.connect(s.port)
  await ok.write(Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n'), Buffer.from(get('/', 'Connection: close\r\n'))]))
  const [response] = await ok.waitForResponses(1)
  t.equal(response.statusCode, 200)
  t.same(escaped, [])
})

t.test('a header that does not arrive within headersTimeout closes the connection', async (t) => {
  const s = await startServer(t, whoAmI, { proxyProtocol: true, headersTimeout: 1000 })
  const partial = await RawClient.connect(s.port)
  await partial.write('PROXY TCP4 192.0.2.1 ')
  const silent = await RawClient.connect(s.port)
  await partial.waitForClose()
  await silent.waitForClose()
  t.equal(partial.data.length + silent.data.length, 0)
  t.match(s.errText(), /WARN: Closing a connection from 127\.0\.0\.1: No PROXY protocol header in time\n[^]*No PROXY protocol header in time/)
  t.ok(await probeWithHeader(s.port), 'others are still served')
})

async function probeWithHeader(port: number): Promise<boolean> {
  const client = await RawClient.connect(port)
  await client.write(`PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n${get('/', 'Connection: close\r\n')}`)
  const responses = await client.waitForResponses(1)
  return responses[0].statusCode === 200
}

t.test('only a peer in forwardedAllowIps may send a PROXY header', async (t) => {
  const s = await startServer(t, whoAmI, { proxyProtocol: true, forwardedAllowIps: '10.0.0.0/8' })
  const client = await RawClient.connect(s.port)
  await client.waitForClose()
  t.equal(client.data.length, 0)
  t.match(s.errText(), /WARN: Closing a connection from 127\.0\.0\.1: PROXY protocol from a peer not in forwardedAllowIps/)
  t.notOk(await probe(s.port, 500), 'plain HTTP is not served either')
  t.ok(await eventually(() => s.server.connectionCount === 0))
})

t.test('X-Forwarded-* after a PROXY header are trusted as its client is', async (t) => {
  const s = await startServer(t, whoAmI, { proxyProtocol: true, forwardedAllowIps: '127.0.0.1, 10.0.0.0/8' })
  const ask = async (source: string): Promise<unknown> => {
    const client = await RawClient.connect(s.port)
    await client.write(`PROXY TCP4 ${source} 127.0.0.1 5000 80\r\n${get('/', 'X-Forwarded-For: 198.51.100.1\r\nConnection: close\r\n')}`)
    const [response] = await client.waitForResponses(1)
    return JSON.parse(response.body.toString())
  }
  // An L7 proxy in the trusted network behind the balancer: its X-Forwarded-For is believed.
  t.same(await ask('10.1.2.3'), { address: '198.51.100.1', port: null })
  // A client straight through an L4 balancer: what it claims is not.
  t.same(await ask('203.0.113.50'), { address: '203.0.113.50', port: 5000 })
})

t.test('node interface: req.socket and Express see the header client', async (t) => {
  const app = express()
  app.get('/', (req, res) => res.json({ ip: req.ip, port: req.socket.remotePort }))
  const s = await startServer(t, app, { interface: 'auto', proxyProtocol: true })
  const client = await RawClient.connect(s.port)
  await client.write(Buffer.concat([v2({ source: [192, 0, 2, 99], port: 31337 }), Buffer.from(get('/', 'Connection: close\r\n'))]))
  const [response] = await client.waitForResponses(1)
  t.same(JSON.parse(response.body.toString()), { ip: '192.0.2.99', port: 31337 })
})
