// (Not named proxy.ts: Next.js 16 takes a file of that name, even here, for its request proxy
// when test/node-next.ts builds its app.)
// Behind proxies: forwardedAllowIps decides whose X-Forwarded-For / -Proto / -Host and Forwarded
// fields are believed; from a trusted peer they set req.remoteAddress, the access log's client,
// the fetch request's URL and info, and Express's req.ip / req.protocol, per request.
import t from 'tap'
import net from 'node:net'
import express from 'express'
import { Hono } from 'hono'
import fc from 'fast-check'
import { createServer, type App, type FetchHandler } from '../lib/server.js'
import { createServer as createHttpServer } from '../lib/interfaces/node/http.js'
import { AllowList, nodeOf, parseForwarded, readForwarded } from '../lib/proxy.js'
import { RequestHead } from '../lib/http/head.js'
import { RawClient, get, rawRequest } from './helpers/raw.js'
import { deferred, eventually, httpRequest, memoryLog, startServer, watchEscapes } from './helpers/server.js'

/** A native app that answers what it was told about its client. */
const whoAmI: App = (req, res) => {
  res.setHeader('Content-Type', 'application/json')
  res.end(
    JSON.stringify({
      address: req.remoteAddress,
      port: req.remotePort ?? null,
      forwarded: req.forwarded,
      xff: req.header('x-forwarded-for') ?? null,
    }),
  )
}

interface Who {
  address: string
  port: number | null
  forwarded: { address?: string; port?: number; proto?: string; host?: string } | null
  xff: string | null
}

async function ask(origin: string, headers: Record<string, string>): Promise<Who> {
  const reply = await httpRequest(origin, { headers })
  t.equal(reply.status, 200)
  return JSON.parse(reply.body.toString()) as Who
}

/** A RequestHead with these fields, as the parser would make it. */
function headOf(fields: [string, string][]): RequestHead {
  let text = ''
  const offsets: number[] = []
  for (const [name, value] of fields) {
    offsets.push(text.length, text.length + name.length)
    text += `${name}: `
    offsets.push(text.length, text.length + value.length)
    text += `${value}\r\n`
  }
  return new RequestHead(Buffer.from(text, 'latin1'), 'GET', '/', 1, offsets, -1, false, true, false, false)
}

t.test('forwardedAllowIps: addresses, CIDRs, *, strings and IPv4-mapped peers', async (t) => {
  const local = new AllowList()
  t.ok(local.trusts('127.0.0.1'))
  t.ok(local.trusts('::1'))
  t.ok(local.trusts('::ffff:127.0.0.1'), 'an IPv4-mapped peer matches its IPv4 rule')
  t.ok(local.trusts('0:0:0:0:0:0:0:1'), 'another spelling of ::1')
  t.notOk(local.trusts('127.0.0.2'))
  t.notOk(local.trusts(undefined), 'a peer whose address is gone is not trusted')
  t.notOk(local.trusts('not an address'))

  const cidrs = new AllowList(' 10.0.0.0/8 , 2001:db8::/32,192.168.1.1')
  t.ok(cidrs.trusts('10.200.3.4'))
  t.ok(cidrs.trusts('::ffff:10.1.1.1'))
  t.ok(cidrs.trusts('2001:db8:ffff::1'))
  t.ok(cidrs.trusts('192.168.1.1'))
  t.notOk(cidrs.trusts('11.0.0.1'))
  t.notOk(cidrs.trusts('2001:db9::1'))
  t.notOk(cidrs.trusts('127.0.0.1'))

  const mapped = new AllowList('::ffff:10.0.0.0/104, ::ffff:192.0.2.1, fe80::/10, 2001:db8:8000::/33')
  t.ok(mapped.trusts('10.9.9.9'), 'an IPv4-mapped rule covers plain IPv4')
  t.ok(mapped.trusts('fe80::1%eth0'), 'a zone is left out')
  t.ok(mapped.trusts('2001:db8:ffff::1'))
  t.notOk(mapped.trusts('2001:db8:7fff::1'), 'a prefix that ends inside a group')
  t.ok(mapped.trusts('::ffff:c000:201'), 'the hexadecimal spelling of a mapped address')
  t.ok(new AllowList('1:2:3:4:5:6:1.2.3.4').trusts('1:2:3:4:5:6:102:304'))
  t.notOk(mapped.trusts('11.0.0.1'))
  t.ok(new AllowList('::/0').trusts('::'))
  t.ok(new AllowList('0.0.0.0/0').trusts('203.0.113.1'))
  t.ok(new AllowList('1:2:3:4:5:6:7::').trusts('1:2:3:4:5:6:7:0'))
  for (const bad of ['1::2::3', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '::ffff:1.2.3.999', '::g', '1:2:3', '1.2.3', '1.02.3.4', '256.1.1.1', '1.2.3.4.5']) {
    t.notOk(mapped.trusts(bad), `not an address: ${bad}`)
  }

  const all = new AllowList(['*'])
  t.ok(all.all)
  t.ok(all.trusts('203.0.113.9'))
  t.ok(all.trusts(undefined))

  const none = new AllowList([])
  t.ok(none.none)
  t.notOk(none.trusts('127.0.0.1'))
  t.ok(new AllowList(' , ').none, 'an empty string trusts no one')

  t.throws(() => new AllowList('localhost'), /not an address or CIDR: 'localhost'/)
  t.throws(() => new AllowList('10.0.0.0/33'), /bad CIDR prefix/)
  t.throws(() => new AllowList('::/129'), /bad CIDR prefix/)
  t.throws(() => new AllowList('10.0.0.0/x'), /bad CIDR prefix/)
  t.throws(() => new AllowList([7 as unknown as string]), /not an address: 7/)
  t.throws(() => createServer(whoAmI, { interface: 'native', forwardedAllowIps: 'nope' }), TypeError)
})

t.test('a trusted peer (the default list) sets the client from X-Forwarded-*', async (t) => {
  const s = await startServer(t, whoAmI, { accessLog: true })
  const who = await ask(s.origin, { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'HTTPS', 'X-Forwarded-Host': 'shop.example:8443' })
  t.equal(who.address, '203.0.113.7')
  t.equal(who.port, null, 'the proxy gave no port')
  t.same(who.forwarded, { address: '203.0.113.7', proto: 'https', host: 'shop.example:8443' })
  t.equal(who.xff, '203.0.113.7', 'the fields are still passed to the app')
  const lookalike = await ask(s.origin, { 'X-Request-Start': 't=1', Fortunate: 'yes' })
  t.equal(lookalike.forwarded, null, 'fields that only look like forwarding fields')
  const plain = await ask(s.origin, {})
  t.equal(plain.address, '127.0.0.1', 'without fields the peer is the client')
  t.type(plain.port, 'number')
  t.equal(plain.forwarded, null)
  const lines = s.outLines()
  t.equal(lines[0], 'INFO: 203.0.113.7:- - "GET / HTTP/1.1" 200 OK', "the access log names the client, '-' for an unknown port")
  t.match(lines[2], /^INFO: 127\.0\.0\.1:\d+ - "GET \/ HTTP\/1\.1" 200 OK$/)
})

t.test('an untrusted peer: the fields are passed through untouched and ignored', async (t) => {
  for (const forwardedAllowIps of ['10.0.0.1', [] as string[], '127.0.0.2/32']) {
    const s = await startServer(t, whoAmI, { accessLog: true, forwardedAllowIps })
    const who = await ask(s.origin, { 'X-Forwarded-For': '203.0.113.7', Forwarded: 'for=198.51.100.1;proto=https' })
    t.equal(who.address, '127.0.0.1', `untrusted with ${JSON.stringify(forwardedAllowIps)}`)
    t.equal(who.forwarded, null)
    t.equal(who.xff, '203.0.113.7')
    t.match(s.outLines()[0], /^INFO: 127\.0\.0\.1:\d+ - "GET \/ HTTP\/1\.1" 200 OK$/)
  }
})

t.test('CIDR and * make the loopback peer trusted', async (t) => {
  for (const forwardedAllowIps of ['127.0.0.0/8', '*', ['10.0.0.0/8', '127.0.0.1/32']]) {
    const s = await startServer(t, whoAmI, { forwardedAllowIps })
    const who = await ask(s.origin, { 'X-Forwarded-For': '198.51.100.20' })
    t.equal(who.address, '198.51.100.20', JSON.stringify(forwardedAllowIps))
  }
})

t.test('an IPv4-mapped peer on a dual-stack socket matches 127.0.0.1', async (t) => {
  const server = createServer(whoAmI, { interface: 'native', log: memoryLog().log })
  await server.listen(0, '::')
  t.teardown(() => server.close())
  const port = server.address().port
  const who = await ask(`http://127.0.0.1:${port}`, { 'X-Forwarded-For': '192.0.2.1' })
  t.equal(who.address, '192.0.2.1')
  const v6 = await ask(`http://[::1]:${port}`, { 'X-Forwarded-For': '2001:db8::7' })
  t.equal(v6.address, '2001:db8::7')
})

t.test('chains: from the right, past trusted proxies, to the first untrusted address', async (t) => {
  const s = await startServer(t, whoAmI, { forwardedAllowIps: '127.0.0.1, 10.0.0.0/8' })
  const cases: [string, string][] = [
    ['198.51.100.1, 10.0.0.2, 10.0.0.3', '198.51.100.1'],
    ['6.6.6.6, 198.51.100.1, 10.0.0.3', '198.51.100.1'],
    ['10.0.0.1, 10.0.0.2', '10.0.0.1'],
    ['198.51.100.1:5000', '198.51.100.1'],
    ['[2001:db8::5]:80, 10.1.1.1', '2001:db8::5'],
    ['2001:db8::6', '2001:db8::6'],
    ['198.51.100.1, garbage, 10.0.0.3', '127.0.0.1'],
    ['unknown', '127.0.0.1'],
    ['_hidden, 10.0.0.3', '127.0.0.1'],
    ['', '127.0.0.1'],
    ['198.51.100.1,', '127.0.0.1'],
  ]
  for (const [xff, expected] of cases) {
    const who = await ask(s.origin, { 'X-Forwarded-For': xff })
    t.equal(who.address, expected, xff)
  }
  const withPort = await ask(s.origin, { 'X-Forwarded-For': '[2001:db8::5]:8080' })
  t.equal(withPort.port, 8080)
  // Several field lines are one list.
  const raw = await rawRequest(s.port, get('/', 'X-Forwarded-For: 198.51.100.9\r\nX-Forwarded-For: 10.0.0.4\r\nConnection: close\r\n'))
  t.equal(JSON.parse(raw.responses[0].body.toString()).address, '198.51.100.9')
})

t.test('X-Forwarded-Proto and -Host lists are read at the client hop', async (t) => {
  const s = await startServer(t, whoAmI, { forwardedAllowIps: '127.0.0.1, 10.0.0.0/8' })
  let who = await ask(s.origin, {
    'X-Forwarded-For': '198.51.100.1, 10.0.0.2',
    'X-Forwarded-Proto': 'https, http',
    'X-Forwarded-Host': 'outer.example, inner.local',
  })
  t.same(who.forwarded, { address: '198.51.100.1', proto: 'https', host: 'outer.example' })
  who = await ask(s.origin, { 'X-Forwarded-For': '198.51.100.1, 10.0.0.2, 10.0.0.3', 'X-Forwarded-Proto': 'https' })
  t.equal(who.forwarded?.proto, 'https', 'a shorter list gives its leftmost')
  who = await ask(s.origin, { 'X-Forwarded-Proto': 'gopher', 'X-Forwarded-Host': 'bad host/x' })
  t.equal(who.forwarded, null, 'a scheme other than http(s) and a bad host are ignored')
  who = await ask(s.origin, { 'X-Forwarded-Host': '[2001:db8::1]:8080' })
  t.same(who.forwarded, { host: '[2001:db8::1]:8080' })
  t.equal(who.address, '127.0.0.1')
})

t.test('RFC 7239 Forwarded', async (t) => {
  const s = await startServer(t, whoAmI, { forwardedAllowIps: '127.0.0.1, 10.0.0.0/8' })
  const cases: [string, Who['forwarded'], string][] = [
    ['for=198.51.100.17;proto=https;host=example.com', { address: '198.51.100.17', proto: 'https', host: 'example.com' }, '198.51.100.17'],
    ['For="[2001:db8:cafe::17]:4711"', { address: '2001:db8:cafe::17', port: 4711 }, '2001:db8:cafe::17'],
    ['for="198.51.100.3:80";by=10.0.0.1', { address: '198.51.100.3', port: 80 }, '198.51.100.3'],
    ['for=198.51.100.1;proto=https, for=10.0.0.5;proto=http', { address: '198.51.100.1', proto: 'https' }, '198.51.100.1'],
    ['for=10.0.0.9, for=10.0.0.5;host="inner:81"', { address: '10.0.0.9', host: 'inner:81' }, '10.0.0.9'],
    ['for=unknown;proto=https', { proto: 'https' }, '127.0.0.1'],
    ['for=_gazonk;host=a.example', { host: 'a.example' }, '127.0.0.1'],
    ['for="_hidden:_port"', null, '127.0.0.1'],
    ['proto=https', { proto: 'https' }, '127.0.0.1'],
    ['for="[2001:db8::1', null, '127.0.0.1'],
    ['for=198.51.100.1;for=198.51.100.2', null, '127.0.0.1'],
    ['for=198.51.100.1 198.51.100.2', null, '127.0.0.1'],
    ['=x', null, '127.0.0.1'],
    ['for=', null, '127.0.0.1'],
    ['for="a\\"b"', null, '127.0.0.1'],
    ['for=[2001:db8::1]', null, '127.0.0.1'],
    [' ; for=198.51.100.4 ;, ', null, '127.0.0.1'],
  ]
  for (const [field, forwarded, address] of cases) {
    const who = await ask(s.origin, { Forwarded: field })
    t.same(who.forwarded, forwarded, field)
    t.equal(who.address, address, field)
  }
  // X-Forwarded-* win field by field.
  const who = await ask(s.origin, { Forwarded: 'for=198.51.100.1;proto=https;host=f.example', 'X-Forwarded-For': '192.0.2.2' })
  t.same(who.forwarded, { address: '192.0.2.2', proto: 'https', host: 'f.example' })
  const all = await ask(s.origin, {
    Forwarded: 'for=198.51.100.1;proto=https;host=f.example',
    'X-Forwarded-For': '192.0.2.2',
    'X-Forwarded-Proto': 'http',
    'X-Forwarded-Host': 'x.example',
  })
  t.same(all.forwarded, { address: '192.0.2.2', proto: 'http', host: 'x.example' })
})

t.test('nodes and Forwarded edge cases', async (t) => {
  t.same(nodeOf('[2001:db8::1]:_port'), { address: '2001:db8::1', port: undefined }, 'an obfuscated port')
  t.same(nodeOf('Unknown:80'), { address: undefined, port: undefined })
  t.same(nodeOf('unknowable'), null)
  t.same(nodeOf('_x'), { address: undefined, port: undefined })
  t.equal(nodeOf('[nope]'), null)
  t.equal(nodeOf('[::1'), null)
  t.equal(nodeOf('[::1]80'), null)
  t.equal(nodeOf('1.2.3.4:99999'), null)
  t.equal(nodeOf('1.2.3.4:8o'), null)
  t.equal(nodeOf('::1:80:x'), null)
  t.equal(nodeOf('host:80'), null)
  t.equal(parseForwarded('for="abc\\'), null, 'a quoted string cut after a backslash')
  t.same(parseForwarded('for="a\\"b"'), [{ for: 'a"b', proto: undefined, host: undefined }])
  t.same(parseForwarded('by=x;ext=y, for=1.2.3.4'), [
    { for: undefined, proto: undefined, host: undefined },
    { for: '1.2.3.4', proto: undefined, host: undefined },
  ])
})

t.test('the parsers never throw, and read back what a proxy writes', async (t) => {
  const list = new AllowList('10.0.0.0/8')
  fc.assert(
    fc.property(fc.string({ unit: 'binary-ascii' }), fc.string({ unit: 'binary-ascii' }), (xff, fwd) => {
      parseForwarded(fwd)
      nodeOf(xff)
      const result = readForwarded(headOf([['X-Forwarded-For', xff], ['Forwarded', fwd], ['X-Forwarded-Proto', xff]]), list)
      if (result !== null && result.address !== undefined) return net.isIP(result.address) !== 0
      return true
    }),
    { numRuns: 2000 },
  )
  // A chain of hops as proxies write it: the client is the first untrusted from the right.
  const hop = fc.record({
    address: fc.oneof(fc.ipV4(), fc.ipV6()),
    port: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
    proto: fc.constantFrom('http', 'https'),
  })
  fc.assert(
    fc.property(fc.array(hop, { minLength: 1, maxLength: 6 }), (hops) => {
      const text = hops
        .map(({ address, port, proto }) => {
          const node = address.includes(':') ? `[${address}]` : address
          return `for="${port === undefined ? node : `${node}:${port}`}";proto=${proto}`
        })
        .join(', ')
      const result = readForwarded(headOf([['Forwarded', text]]), list) as NonNullable<ReturnType<typeof readForwarded>>
      let i = hops.length - 1
      while (i > 0 && list.trusts(hops[i].address)) i--
      return net.isIP(result.address as string) === net.isIP(hops[i].address) && result.port === hops[i].port && result.proto === hops[i].proto
    }),
    { numRuns: 500 },
  )
  t.pass('properties hold')
})

t.test('malformed fields never break a request', async (t) => {
  const escaped = watchEscapes(t)
  const s = await startServer(t, whoAmI, { forwardedAllowIps: '*' })
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: 'grapheme-ascii', maxLength: 40 }), async (value) => {
      const clean = value.replace(/[\r\n\0]/g, '').trim()
      const raw = await rawRequest(
        s.port,
        get('/', `X-Forwarded-For: ${clean}\r\nForwarded: ${clean}\r\nX-Forwarded-Host: ${clean}\r\nConnection: close\r\n`),
      )
      return raw.responses.length === 1 && raw.responses[0].statusCode === 200
    }),
    { numRuns: 60 },
  )
  t.same(escaped, [])
})

t.test('node interface: Express sees each client on one proxy connection', async (t) => {
  const app = express()
  app.get('/', (req, res) => {
    res.json({ ip: req.ip, protocol: req.protocol, hostname: req.hostname, port: req.socket.remotePort ?? null, family: req.socket.remoteFamily })
  })
  const s = await startServer(t, app, { interface: 'auto', accessLog: true })
  // One keep-alive connection (as nginx's upstream keepalive) carries requests of three clients,
  // pipelined.
  const client = await RawClient.connect(s.port)
  await client.write(
    get('/', 'X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-Proto: https\r\n') +
      get('/', 'X-Forwarded-For: 2001:db8::2\r\n') +
      get('/', 'Forwarded: for="198.51.100.3:5555";proto=https\r\n') +
      get('/', 'Connection: close\r\n'),
  )
  const responses = await client.waitForResponses(4)
  const bodies = responses.map((r) => JSON.parse(r.body.toString()))
  t.same(bodies[0], { ip: '198.51.100.1', protocol: 'https', hostname: 'localhost', port: null, family: 'IPv4' })
  t.same(bodies[1], { ip: '2001:db8::2', protocol: 'http', hostname: 'localhost', port: null, family: 'IPv6' })
  t.same(bodies[2], { ip: '198.51.100.3', protocol: 'https', hostname: 'localhost', port: 5555, family: 'IPv4' })
  t.equal(bodies[3].ip, '127.0.0.1', 'no fields: the socket itself')
  t.equal(bodies[3].port, client.localPort)
  t.equal(bodies[3].protocol, 'http')
  const lines = s.outLines()
  t.equal(lines[0], 'INFO: 198.51.100.1:- - "GET / HTTP/1.1" 200 OK')
  t.equal(lines[1], 'INFO: 2001:db8::2:- - "GET / HTTP/1.1" 200 OK')
  t.equal(lines[2], 'INFO: 198.51.100.3:5555 - "GET / HTTP/1.1" 200 OK')
})

t.test('node interface: the socket view is the socket for everything else', async (t) => {
  let seen: { same: boolean; writable: boolean; timeoutSet: boolean; untouched: string | undefined } | null = null
  const server = await startServer(
    t,
    ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      const view = req.socket
      req.setTimeout(60_000)
      seen = {
        same: view === res.socket,
        writable: view.writable,
        timeoutSet: (res.socket as unknown as { timeout: number }).timeout === 60_000,
        untouched: view.remoteAddress,
      }
      res.end('ok')
    }) as never,
    { interface: 'node' },
  )
  const reply = await httpRequest(server.origin, { headers: { 'X-Forwarded-For': '192.0.2.50' } })
  t.equal(reply.body.toString(), 'ok')
  t.same(seen, { same: false, writable: true, timeoutSet: true, untouched: '192.0.2.50' }, 'a view: writes and timers reach the socket itself')
  const plain = await httpRequest(server.origin, {})
  t.equal(plain.body.toString(), 'ok')
  t.same(seen, { same: true, writable: true, timeoutSet: true, untouched: '127.0.0.1' }, 'without fields: the socket itself')
})

t.test('an upgrade request from a proxy names the client too', async (t) => {
  const s = await startServer(t, ((req: unknown, res: { end(text: string): void }) => res.end('plain')) as never, {
    interface: 'node',
    upgrade: ((req: import('node:http').IncomingMessage, socket: net.Socket) => {
      socket.end(`HTTP/1.1 101 Switching Protocols\r\nX-Client: ${req.socket.remoteAddress}\r\n\r\n`)
    }) as never,
  })
  const raw = await rawRequest(s.port, get('/', 'Connection: upgrade\r\nUpgrade: test\r\nX-Forwarded-For: 192.0.2.61\r\n'))
  t.equal(raw.responses[0].statusCode, 101)
  t.equal(raw.responses[0].headers['x-client'], '192.0.2.61')
})

t.test('node interface: an untrusted proxy changes nothing for Express', async (t) => {
  const app = express()
  app.get('/', (req, res) => res.json({ ip: req.ip, protocol: req.protocol }))
  const s = await startServer(t, app, { interface: 'auto', forwardedAllowIps: '10.0.0.1' })
  const reply = await httpRequest(s.origin, { headers: { 'X-Forwarded-For': '198.51.100.1', 'X-Forwarded-Proto': 'https' } })
  t.same(JSON.parse(reply.body.toString()), { ip: '127.0.0.1', protocol: 'http' })
})

t.test('pegasus/http trusts no proxy unless asked, as node:http reads no X-Forwarded-*', async (t) => {
  for (const [options, expected] of [
    [{}, '127.0.0.1'],
    [{ forwardedAllowIps: '127.0.0.1' }, '198.51.100.1'],
  ] as const) {
    const server = createHttpServer({ ...options, log: memoryLog().log }, (req, res) => res.end(req.socket.remoteAddress))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    const reply = await httpRequest(`http://127.0.0.1:${port}/`, { headers: { 'X-Forwarded-For': '198.51.100.1', Connection: 'close' } })
    t.equal(reply.body.toString(), expected, JSON.stringify(options))
    await new Promise((resolve) => server.close(resolve))
  }
})

const fetchWho: FetchHandler = (request, info) =>
  Response.json({
    url: request.url,
    address: info.remoteAddress ?? null,
    port: info.remotePort ?? null,
    remoteAddr: info.remoteAddr,
    ip: info.requestIP(request),
  })

t.test('fetch interface: URL scheme and host, and info', async (t) => {
  const s = await startServer(t, fetchWho as never, { interface: 'fetch', forwardedAllowIps: ['127.0.0.1'] })
  let reply = await httpRequest(`${s.origin}/a?b=1`, {
    headers: { 'X-Forwarded-For': '198.51.100.8', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'shop.example' },
  })
  t.same(JSON.parse(reply.body.toString()), {
    url: 'https://shop.example/a?b=1',
    address: '198.51.100.8',
    port: null,
    remoteAddr: { hostname: '198.51.100.8', transport: 'tcp' },
    ip: { address: '198.51.100.8', family: 'IPv4' },
  })
  reply = await httpRequest(`${s.origin}/x`, { headers: { Forwarded: 'for="[2001:db8::9]:1234";proto=https' } })
  const body = JSON.parse(reply.body.toString())
  t.equal(body.url, `https://127.0.0.1:${s.port}/x`, 'the scheme alone: the Host field stays')
  t.same(body.ip, { address: '2001:db8::9', port: 1234, family: 'IPv6' })
  reply = await httpRequest(`${s.origin}/y`, { headers: { 'X-Forwarded-Host': 'only.example' } })
  t.equal(JSON.parse(reply.body.toString()).url, 'http://only.example/y', 'the host alone: the connection scheme stays')
  reply = await httpRequest(`${s.origin}/z`)
  const plain = JSON.parse(reply.body.toString())
  t.equal(plain.url, `http://127.0.0.1:${s.port}/z`)
  t.same(plain.ip, { address: '127.0.0.1', port: plain.port, family: 'IPv4' })

  const untrusted = await startServer(t, fetchWho as never, { interface: 'fetch', forwardedAllowIps: '' })
  reply = await httpRequest(`${untrusted.origin}/a`, { headers: { 'X-Forwarded-For': '198.51.100.8', 'X-Forwarded-Proto': 'https' } })
  const ignored = JSON.parse(reply.body.toString())
  t.equal(ignored.url, `http://127.0.0.1:${untrusted.port}/a`)
  t.equal(ignored.address, '127.0.0.1')
})

t.test('fetch interface: a Hono app sees the forwarded URL and client', async (t) => {
  const app = new Hono()
  app.get('/who', (c) => c.json({ url: c.req.url, proto: new URL(c.req.url).protocol }))
  const s = await startServer(t, app as never, { interface: 'auto', accessLog: true })
  const reply = await httpRequest(`${s.origin}/who`, { headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'api.example', 'X-Forwarded-For': '192.0.2.77' } })
  t.same(JSON.parse(reply.body.toString()), { url: 'https://api.example/who', proto: 'https:' })
  t.equal(s.outLines()[0], 'INFO: 192.0.2.77:- - "GET /who HTTP/1.1" 200 OK')
})

t.test('a client gone before its address was read has none', async (t) => {
  let seen: unknown = null
  const called = deferred()
  const s = await startServer(t, async (req, res) => {
    // (The client's FIN aborts the signal before the socket is closed.)
    const closed = new Promise((resolve) => req.socket.once('close', resolve))
    called.resolve()
    await closed
    seen = { address: req.remoteAddress, port: req.remotePort, family: req.remoteFamily }
    res.end()
  }, { bufferBody: 0 })
  const client = await RawClient.connect(s.port)
  // A body that never completes: the client's leaving closes the connection at once.
  await client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab')
  await called.promise
  client.destroy()
  t.ok(await eventually(() => seen !== null))
  t.same(seen, { address: undefined, port: undefined, family: undefined })
})

t.test('an error answered before any request names the peer in the access log', async (t) => {
  const s = await startServer(t, whoAmI, { accessLog: true })
  const raw = await rawRequest(s.port, 'BAD\r\n\r\n')
  t.equal(raw.responses[0].statusCode, 400)
  t.match(s.outLines()[0], /^INFO: 127\.0\.0\.1:\d+ - "- - HTTP\/1\.1" 400 Bad Request$/)
})
