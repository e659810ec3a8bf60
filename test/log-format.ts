// Access log formats: each of gunicorn's atoms checked against real requests over real sockets,
// on the three interfaces (native, node, fetch), the JSON lines, and format compilation errors.
import t, { type Test } from 'tap'
import http from 'node:http'
import { setTimeout as delay } from 'node:timers/promises'
import { rawRequest, get } from './helpers/raw.js'
import { httpRequest, startServer } from './helpers/server.js'
import { Log, AccessFormatError, type LogOptions, type InterfaceName } from '../lib/server.js'
import { clfTime, compileAccessFormat, sentField, basicUser, GUNICORN_FORMAT } from '../lib/access-format.js'
import type { Request } from '../lib/request.js'
import type { Response } from '../lib/response.js'

interface Logged {
  log: Log
  lines(): string[]
}

/** A Log whose access lines are kept in memory. */
function logWith(options: LogOptions): Logged {
  const out: string[] = []
  const log = new Log({ out: { write: (text: string) => out.push(text) }, err: { write: () => {} }, ...options })
  return {
    log,
    lines() {
      log.flush()
      return out.join('').split('\n').filter((line) => line !== '')
    },
  }
}

/** `text` is `t` of this second or the one before (a line may be written across a second's edge). */
function recentTime(text: string): boolean {
  const now = Date.now()
  return text === clfTime(now) || text === clfTime(now - 1000)
}

/** A server on the interface whose app answers `hello world` (`text/x`) in two writes. */
async function serve(t: Test, iface: InterfaceName, options: LogOptions, app?: unknown) {
  const logged = logWith(options)
  const apps: Record<string, unknown> = {
    native: (_req: Request, res: Response) => {
      res.setHeader('Content-Type', 'text/x')
      res.setHeader('Set-Cookie', ['a=1', 'b=2'])
      res.write('hello')
      res.end(' world')
    },
    node: (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.setHeader('Content-Type', 'text/x')
      res.setHeader('Set-Cookie', ['a=1', 'b=2'])
      res.write('hello')
      res.end(' world')
    },
    fetch: () => {
      const headers = new Headers({ 'content-type': 'text/x' })
      headers.append('set-cookie', 'a=1')
      headers.append('set-cookie', 'b=2')
      const body = new ReadableStream({
        async pull(controller) {
          controller.enqueue(new TextEncoder().encode('hello'))
          await delay(5)
          controller.enqueue(new TextEncoder().encode(' world'))
          controller.close()
        },
      })
      return new Response(body, { headers })
    },
  }
  const server = await startServer(t, (app ?? apps[iface]) as never, { log: logged.log, accessLog: true, interface: iface })
  return { ...server, lines: logged.lines }
}

const ALL =
  '%(h)s|%(l)s|%(u)s|%(t)s|%(r)s|%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(b)s|%(B)s|%(f)s|%(a)s|%(T)s|%(D)s|%(M)s|%(L)s|%(p)s|' +
  '%({X-Custom}i)s|%({content-type}o)s|%({set-cookie}o)s|%({content-length}o)s|%({transfer-encoding}o)s|%({PEGASUS_LOG_TEST}e)s|%%'

for (const iface of ['native', 'node', 'fetch'] as const) {
  t.test(`every atom, ${iface} interface`, async (t) => {
    process.env.PEGASUS_LOG_TEST = 'from-env'
    t.teardown(() => void delete process.env.PEGASUS_LOG_TEST)
    const server = await serve(t, iface, { accessLogFormat: ALL })
    const reply = await httpRequest(`${server.origin}/path/to?x=1&y=2`, {
      headers: {
        'X-Custom': 'say "hi"\tthere\\',
        Referer: 'http://example.com/from',
        'User-Agent': 'tester/1.0',
        Authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}`,
      },
    })
    t.equal(reply.body.toString(), 'hello world')
    const [line] = server.lines()
    const f = line.split('|')
    t.equal(f[0], '127.0.0.1', 'h')
    t.equal(f[1], '-', 'l')
    t.equal(f[2], 'alice', 'u: the Basic user')
    t.ok(recentTime(f[3]), 't: now')
    t.match(f[3], /^\[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]$/)
    t.equal(f[4], 'GET /path/to?x=1&y=2 HTTP/1.1', 'r')
    t.equal(f[5], 'GET', 'm')
    t.equal(f[6], '/path/to', 'U')
    t.equal(f[7], 'x=1&y=2', 'q')
    t.equal(f[8], 'HTTP/1.1', 'H')
    t.equal(f[9], '200', 's')
    t.equal(f[10], '11', 'b')
    t.equal(f[11], '11', 'B')
    t.equal(f[12], 'http://example.com/from', 'f')
    t.equal(f[13], 'tester/1.0', 'a')
    t.equal(f[14], '0', 'T')
    const micros = Number(f[15])
    t.ok(Number.isInteger(micros) && micros > 0, 'D: microseconds')
    t.equal(f[16], String(Math.floor(micros / 1000)), 'M: the same duration in ms')
    t.match(f[17], /^0\.\d{6}$/, 'L: decimal seconds')
    t.ok(Math.abs(Number(f[17]) * 1e6 - micros) < 5000, 'L agrees with D')
    t.equal(f[18], `<${process.pid}>`, 'p: as gunicorn prints it')
    t.equal(f[19], 'say \\"hi\\"\\x09there\\\\', '{x}i, escaped')
    t.equal(f[20], 'text/x', '{x}o')
    t.equal(f[21], 'a=1, b=2', '{x}o repeated')
    if (iface === 'fetch') {
      t.equal(f[22], '-', 'a streamed body has no length')
      t.equal(f[23], 'chunked')
    } else {
      t.equal(f[23], 'chunked', 'two writes: chunked')
    }
    t.equal(f[24], 'from-env', '{x}e')
    t.equal(f[25], '%', '%%')
  })

  t.test(`byte counts and sent fields agree with the wire, ${iface} interface`, async (t) => {
    const apps: Record<string, unknown> = {
      native: (req: Request, res: Response) => {
        if (req.url === '/empty') res.writeHead(204).end()
        else res.end('x'.repeat(1000))
      },
      node: (req: http.IncomingMessage, res: http.ServerResponse) => {
        if (req.url === '/empty') res.writeHead(204).end()
        else res.end('x'.repeat(1000))
      },
      fetch: (req: globalThis.Request) =>
        new URL(req.url).pathname === '/empty' ? new Response(null, { status: 204 }) : new Response('x'.repeat(1000)),
    }
    const server = await serve(t, iface, { accessLogFormat: '%(r)s %(s)s %(b)s %(B)s %({content-length}o)s %({date}o)s' }, apps[iface])
    const full = await httpRequest(`${server.origin}/full`)
    const head = await httpRequest(`${server.origin}/full`, { method: 'HEAD' })
    const empty = await httpRequest(`${server.origin}/empty`)
    t.equal(full.body.length, 1000)
    t.equal(head.body.length, 0)
    t.equal(empty.status, 204)
    const lines = server.lines()
    t.equal(lines[0], `GET /full HTTP/1.1 200 1000 1000 1000 ${full.headers.date}`)
    t.match(lines[1], /^HEAD \/full HTTP\/1\.1 200 - 0 /, 'HEAD: no body bytes sent')
    t.equal(lines[2], `GET /empty HTTP/1.1 204 - 0 - ${empty.headers.date}`)
  })
}

t.test('byte counts of a body streamed with its length, and of an HTTP/1.0 body', async (t) => {
  const server = await serve(t, 'native', { accessLogFormat: '%(H)s %(b)s %({content-length}o)s' }, (_req: Request, res: Response) => {
    res.setHeader('Content-Length', '6')
    res.write('abc')
    res.end('def')
  })
  const reply = await rawRequest(server.port, 'GET / HTTP/1.0\r\n\r\n')
  t.equal(reply.responses[0].body.toString(), 'abcdef')
  t.same(server.lines(), ['HTTP/1.0 6 6'])
})

t.test("an exchange answered by the server's error response: what went out", async (t) => {
  const logged = logWith({ accessLogFormat: '%(r)s %(s)s %(b)s %({content-type}o)s' })
  const server = await startServer(t, (_req: Request, res: Response) => res.end('never'), { log: logged.log, accessLog: true, maxBodySize: 5 })
  const reply = await rawRequest(server.port, 'POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n')
  const response = reply.responses[0]
  t.equal(response.statusCode, 413)
  t.same(logged.lines(), [`POST /up HTTP/1.1 413 ${response.body.length} text/plain; charset=utf-8`])
})

t.test('durations measure from the head to the end of the response', async (t) => {
  const server = await serve(t, 'native', { accessLogFormat: '%(T)s %(M)s %(D)s %(L)s' }, async (_req: Request, res: Response) => {
    await delay(120)
    res.end('late')
  })
  await httpRequest(server.origin)
  const [T, M, D, L] = server.lines()[0].split(' ').map(Number)
  t.equal(T, 0)
  t.ok(M >= 115, `M ${M} counts the app's wait`)
  t.ok(D >= 115000 && Math.floor(D / 1000) === M, `D ${D}`)
  t.ok(Math.abs(L - D / 1e6) < 0.001, `L ${L}`)
})

t.test('what the log records per request follows its format', async (t) => {
  const seen: number[] = []
  const app = (_req: Request, res: Response) => {
    seen.push(res.startedAt)
    res.end('ok')
  }
  for (const options of [{}, { accessLogFormat: '%(s)s' }, { accessLogFormat: '%(D)s' }, { accessLogJson: true }]) {
    const server = await serve(t, 'native', options, app)
    await httpRequest(server.origin)
  }
  t.same(
    seen.map((at) => at > 0),
    [false, false, true, true],
    'the start is recorded only for a format with a duration',
  )
  const writes: boolean[] = []
  const nodeApp = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    writes.push(Object.hasOwn(res, 'write'))
    res.end('ok')
  }
  for (const options of [{}, { accessLogFormat: '%(h)s' }, { accessLogFormat: '%(b)s' }]) {
    const server = await serve(t, 'node', options, nodeApp)
    await httpRequest(server.origin)
  }
  t.same(writes, [false, false, true], 'the node interface counts bytes only for a format with them')
})

t.test('the node interface counts what node takes as body', async (t) => {
  const server = await serve(t, 'node', { accessLogFormat: '%(U)s %(B)s' }, (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url === '/latin1') {
      res.write('caf\xe9', 'latin1')
      res.write(Buffer.from('!!'))
      res.end(() => {})
    } else if (req.url === '/after-end') {
      res.end('abc')
      res.end('ignored')
      res.on('error', () => {})
      res.write('late')
    } else {
      res.end(new Uint8Array([1, 2, 3]))
    }
  })
  t.equal((await httpRequest(`${server.origin}/latin1`)).body.length, 6)
  t.equal((await httpRequest(`${server.origin}/after-end`)).body.toString(), 'abc')
  t.equal((await httpRequest(`${server.origin}/bytes`)).body.length, 3)
  t.same(server.lines(), ['/latin1 6', '/after-end 3', '/bytes 3'])
})

t.test('a request that could not be read: its line in the format', async (t) => {
  const server = await serve(t, 'native', { accessLogFormat: '%(h)s "%(r)s" %(s)s %(b)s %(U)s [%(q)s] %(u)s %(D)s %({a}i)s %({b}o)s' }, (_req: Request, res: Response) =>
    res.end('ok'),
  )
  await rawRequest(server.port, 'GET / HTTP/1.1\r\nBad Header\r\n\r\n')
  t.same(server.lines(), ['127.0.0.1 "- - HTTP/1.1" 400 - - [] - 0 - -'])
})

t.test('a request field given twice, and the old access() API in a format', async (t) => {
  const logged = logWith({ accessLogJson: true })
  logged.log.access(undefined, undefined, 'GET', '/gone', '1.1', 200)
  t.match(JSON.parse(logged.lines()[0]), { remote_addr: null, remote_port: null, method: 'GET', url: '/gone', status: 200 })
  const server = await serve(t, 'native', { accessLogFormat: '%({set-cookie}i)s %({x-twice}i)s' }, (_req: Request, res: Response) => res.end())
  await rawRequest(server.port, get('/', 'Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Twice: 1\r\nX-Twice: 2\r\nConnection: close\r\n'))
  t.same(server.lines(), ['a=1, b=2 1, 2'])
})

t.test('the user of a Basic authorization', async (t) => {
  t.equal(basicUser(undefined), undefined)
  t.equal(basicUser('Bearer abc'), undefined)
  t.equal(basicUser(`basic ${Buffer.from('bob:pw:x').toString('base64')}`), 'bob')
  t.equal(basicUser(`Basic ${Buffer.from('nocolon').toString('base64')}`), undefined, 'not user:password')
  const server = await serve(t, 'native', { accessLogFormat: '%(u)s' }, (_req: Request, res: Response) => res.end())
  await rawRequest(server.port, get('/', `Authorization: Basic ${Buffer.from('we"ird:pw').toString('base64')}\r\nConnection: close\r\n`))
  await rawRequest(server.port, get('/', 'Connection: close\r\n'))
  t.same(server.lines(), ['we\\"ird', '-'])
})

t.test('t: local time with its offset from UTC', async (t) => {
  const saved = process.env.TZ
  t.teardown(() => {
    if (saved === undefined) delete process.env.TZ
    else process.env.TZ = saved
  })
  const when = Date.UTC(2000, 9, 10, 20, 55, 36)
  process.env.TZ = 'America/Los_Angeles'
  t.equal(clfTime(when), '[10/Oct/2000:13:55:36 -0700]', "gunicorn's documented example")
  t.equal(clfTime(when + 300), '[10/Oct/2000:13:55:36 -0700]', 'the same second')
  process.env.TZ = 'Asia/Kolkata'
  t.equal(clfTime(when + 1000), '[11/Oct/2000:02:25:37 +0530]')
  process.env.TZ = 'UTC'
  t.equal(clfTime(Date.UTC(2024, 0, 5, 3, 4, 5)), '[05/Jan/2024:03:04:05 +0000]')
})

t.test('response fields are read from the head as sent', async (t) => {
  const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nx-a:  2 \r\nBroken\r\n\r\n'
  t.equal(sentField(head, 'content-type'), 'text/plain')
  t.equal(sentField(head, 'X-A'), '1, 2')
  t.equal(sentField(head, 'missing'), undefined)
  t.equal(sentField('', 'content-type'), undefined, 'no head went out')
  t.equal(sentField('HTTP/1.1 200 OK\r\nA: 1', 'a'), undefined, 'a cut head ends the search')
})

t.test('JSON lines: one object each, with the same facts', async (t) => {
  for (const iface of ['native', 'node', 'fetch'] as const) {
    const server = await serve(t, iface, { accessLogJson: true })
    await httpRequest(`${server.origin}/j?k=v`, {
      headers: { Referer: 'http://r/', 'User-Agent': 'ua "x"', Authorization: `Basic ${Buffer.from('ann:pw').toString('base64')}` },
    })
    await rawRequest(server.port, 'BAD\r\n\r\n')
    const [line, bad] = server.lines()
    const entry = JSON.parse(line)
    t.same(Object.keys(entry), [
      'time', 'pid', 'remote_addr', 'remote_port', 'user', 'method', 'url', 'protocol', 'status', 'bytes', 'referer', 'user_agent', 'duration_ms',
    ])
    t.match(entry, {
      pid: process.pid,
      remote_addr: '127.0.0.1',
      user: 'ann',
      method: 'GET',
      url: '/j?k=v',
      protocol: 'HTTP/1.1',
      status: 200,
      bytes: 11,
      referer: 'http://r/',
      user_agent: 'ua "x"',
    }, iface)
    t.ok(Math.abs(Date.parse(entry.time) - Date.now()) < 60000, 'time is ISO 8601')
    t.type(entry.remote_port, 'number')
    t.ok(entry.duration_ms > 0)
    t.match(JSON.parse(bad), { method: null, url: null, user: null, referer: null, user_agent: null, status: 400, bytes: 0, duration_ms: 0 })
  }
})

t.test('formats that do not compile', async (t) => {
  t.throws(() => compileAccessFormat('%(h)s %(zz)s'), { name: 'AccessFormatError', message: 'Access log format: unknown atom "%(zz)s"' })
  t.throws(() => compileAccessFormat('100% %(h)s'), AccessFormatError)
  t.throws(() => compileAccessFormat('%(h)x'), /a "%" must start %\(atom\)s or be doubled/)
  t.throws(() => new Log({ accessLogFormat: '%(h)s', accessLogJson: true }), { name: 'AccessFormatError' })
  const plain = logWith({ accessLogFormat: null, accessLogJson: false })
  plain.log.access('::1', 2, 'GET', '/', '1.1', 404)
  t.same(plain.lines(), ['INFO: ::1:2 - "GET / HTTP/1.1" 404 Not Found'], 'null: the default line')
  const json = logWith({ accessLogFormat: null, accessLogJson: true })
  json.log.access('::1', 2, 'GET', '/', '1.1', 404)
  t.match(JSON.parse(json.lines()[0]), { remote_addr: '::1', status: 404 })
  t.same(compileAccessFormat('%(s)d').format({ req: null, res: null, status: 201, address: undefined, port: undefined, method: '-', url: '-', version: '1.1' }), '201', '%(s)d as Python takes it')
  const gunicorn = compileAccessFormat(GUNICORN_FORMAT)
  t.same([gunicorn.timing, gunicorn.bytes], [false, true], "gunicorn's default format counts bytes, times nothing")
  const line = gunicorn.format({ req: null, res: null, status: 400, address: undefined, port: undefined, method: '-', url: '-', version: '1.0' })
  const time = line.slice(6, 34)
  t.ok(recentTime(time))
  t.equal(line, `- - - ${time} "- - HTTP/1.0" 400 - "-" "-"`)
})
