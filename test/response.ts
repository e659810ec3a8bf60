// Response: status and headers, body framing (Content-Length, chunked, close-delimited, none for
// HEAD/204/304), the Date header, header validation (no response splitting), events and
// backpressure. Framing is checked byte for byte over raw sockets.
import t, { type Test } from 'tap'
import http from 'node:http'
import { createHash } from 'node:crypto'
import type net from 'node:net'
import type { AddressInfo } from 'node:net'
import { RawClient, get, rawRequest, type RawResponse } from './helpers/raw.js'
import { sleep, startServer } from './helpers/server.js'
import type { Request, Response } from '../lib/server.js'
import { explain } from '../lib/interfaces/native.js'

const DATE_RE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/

/** What of a reply the app decides: status, its own headers (in order, as sent) and the body. */
function replyOf(r: RawResponse) {
  const own = r.rawHeaders.filter(([name]) => !/^(date|connection|keep-alive)$/i.test(name))
  return { status: `${r.statusCode} ${r.statusMessage}`, headers: own, body: r.body.toString('hex') }
}

/**
 * Serves `app` with Pegasus and with node:http's own server, and returns what each answered to
 * `paths` (pipelined on one connection): the native interface is to behave as node:http does.
 */
async function besideNode(t: Test, app: (req: Request, res: Response) => void, paths: string[]) {
  const s = await startServer(t, app)
  const node = http.createServer(app as unknown as http.RequestListener)
  await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => node.close(resolve)))
  const replies = []
  for (const port of [s.port, (node.address() as AddressInfo).port]) {
    const { responses, client } = await rawRequest(port, paths.map((p) => get(p)).join(''), { responses: paths.length })
    client.destroy()
    replies.push(responses.map(replyOf))
  }
  return { ours: replies[0], node: replies[1], s }
}

/** Runs `app` for one raw request and returns the parsed response and the raw bytes. */
async function one(
  t: Test,
  app: (req: Request, res: Response) => void | Promise<void>,
  request = get(),
  options: { head?: boolean } = {},
) {
  const s = await startServer(t, app)
  const result = await rawRequest(s.port, request, { responses: 1, head: options.head === true ? [0] : undefined })
  result.client.destroy()
  return { res: result.responses[0], data: result.data, s }
}

// --- Framing ------------------------------------------------------------------------------------

t.test('end(body) alone gets a Content-Length, byte for byte', async (t) => {
  const { data, res } = await one(t, (_req, res) => void res.end('hello'))
  t.match(data.toString(), /^HTTP\/1\.1 200 OK\r\nDate: [^\r\n]+\r\nContent-Length: 5\r\n\r\nhello$/)
  t.equal(res.framing, 'length')
  t.match(res.headers.date, DATE_RE)
})

t.test('end() with nothing, a Buffer, a Uint8Array, a multi-byte string', async (t) => {
  const s = await startServer(t, (req, res) => {
    if (req.path === '/empty') return void res.end()
    if (req.path === '/buffer') return void res.end(Buffer.from('buf'))
    if (req.path === '/uint8') return void res.end(new Uint8Array([104, 105]))
    res.end('héllo ✓')
  })
  const { responses, client } = await rawRequest(s.port, get('/empty') + get('/buffer') + get('/uint8') + get('/utf8'), {
    responses: 4,
  })
  t.same(
    responses.map((r) => [r.headers['content-length'], r.body.toString()]),
    [
      ['0', ''],
      ['3', 'buf'],
      ['2', 'hi'],
      [String(Buffer.byteLength('héllo ✓')), 'héllo ✓'],
    ],
  )
  client.destroy()
})

t.test('write() and end() encode string chunks as node:http does; Content-Length counts the bytes', async (t) => {
  const { ours, node } = await besideNode(
    t,
    (req, res) => {
      const [, how, text] = req.url.split('/')
      if (how === 'write') {
        res.write('6869', 'hex')
        res.write(Buffer.from(' there').toString('base64'), 'base64')
        res.write(' café', 'latin1')
        res.write(Buffer.from('41', 'latin1'), 'hex') // a Buffer ignores the encoding
        return void res.end('2021', 'hex')
      }
      if (how === 'buffer') return void res.end(Buffer.from('abc'), 'hex')
      res.end(decodeURIComponent(text), how as BufferEncoding)
    },
    ['/hex/68656c6c6f', '/base64/aMOpbGxv', '/base64url/aMOpbGxv_w', '/latin1/caf%C3%A9', '/binary/%C3%BF', '/ascii/abc',
      '/utf8/caf%C3%A9', '/utf-8/%E2%9C%93', '/UTF8/%E2%9C%93', '/utf16le/hi', '/ucs2/hi', '/write', '/buffer'],
  )
  t.same(ours, node)
  t.same(ours[0], { status: '200 OK', headers: [['Content-Length', '5']], body: Buffer.from('hello').toString('hex') })
  t.equal(ours[3].body, Buffer.from('café', 'latin1').toString('hex'), 'latin1: one byte a character')
  t.equal(Buffer.from(ours[11].body, 'hex').toString('latin1'), 'hi there café41 !')
})

t.test('an unknown encoding throws, as in node:http (a 500 if uncaught)', async (t) => {
  const errors: string[] = []
  const { res } = await one(t, (_req, res) => {
    try {
      res.write('x', 'klingon' as BufferEncoding)
    } catch (error) {
      errors.push((error as Error & { code: string }).code)
    }
    res.end('x', 'klingon' as BufferEncoding)
  })
  t.same(errors, ['ERR_UNKNOWN_ENCODING'])
  t.equal(res.statusCode, 500)
})

t.test('write() without a declared length streams chunked (HTTP/1.1), byte for byte', async (t) => {
  const { data, res } = await one(t, (_req, res) => {
    t.equal(res.write('hello'), true)
    res.write('')
    res.write(Buffer.from(' wörld'))
    res.write(new Uint8Array([33]))
    res.end('✓')
  })
  const text = data.toString()
  t.match(text, /^HTTP\/1\.1 200 OK\r\nDate: [^\r\n]+\r\nTransfer-Encoding: chunked\r\n\r\n/)
  t.ok(text.endsWith('5\r\nhello\r\n7\r\n wörld\r\n1\r\n!\r\n3\r\n✓\r\n0\r\n\r\n'), 'chunk sizes in bytes; no empty chunk')
  t.equal(res.framing, 'chunked')
  t.equal(res.body.toString(), 'hello wörld!✓')
})

t.test('write() then end() with nothing ends the chunked body', async (t) => {
  const { res, data } = await one(t, async (_req, res) => {
    res.write('a')
    await sleep(5)
    res.end()
  })
  t.equal(res.body.toString(), 'a')
  t.ok(data.toString().endsWith('1\r\na\r\n0\r\n\r\n'))
})

t.test('write() of nothing sends the head; end() then ends an empty chunked body', async (t) => {
  const { res, data } = await one(t, (_req, res) => {
    res.write('')
    t.ok(res.headersSent)
    res.end()
  })
  t.equal(res.framing, 'chunked')
  t.equal(res.body.length, 0)
  t.ok(data.toString().endsWith('\r\n\r\n0\r\n\r\n'))
})

t.test('HTTP/1.0 streaming is close-delimited with Connection: close', async (t) => {
  for (const request of ['GET / HTTP/1.0\r\n\r\n', 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n']) {
    const s = await startServer(t, async (_req, res) => {
      res.write('part one, ')
      await sleep(5)
      res.end('part two')
    })
    const { responses, closed, data } = await rawRequest(s.port, request)
    t.ok(closed)
    t.notMatch(data.toString(), /Transfer-Encoding|Content-Length/)
    t.equal(responses[0].headers.connection, 'close')
    t.equal(responses[0].framing, 'close')
    t.equal(responses[0].body.toString(), 'part one, part two')
  }
})

t.test('an app-declared Content-Length is honoured with write(), and the connection is kept', async (t) => {
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/next') return void res.end('next')
    res.setHeader('Content-Length', 10)
    res.write('01234')
    await sleep(5)
    res.write(Buffer.from('567'))
    res.end('89')
  })
  const { responses, data, client } = await rawRequest(s.port, get('/declared') + get('/next'), { responses: 2 })
  t.notMatch(data.toString(), /Transfer-Encoding/)
  t.equal(responses[0].framing, 'length')
  t.equal(responses[0].headers['content-length'], '10')
  t.equal(responses[0].body.toString(), '0123456789')
  t.equal(responses[1].body.toString(), 'next')
  t.notOk(client.closed)
  client.destroy()
})

t.test('writing past the declared Content-Length throws', async (t) => {
  let message = ''
  const { res } = await one(t, (_req, res) => {
    res.setHeader('Content-Length', '3')
    res.write('abc')
    try {
      res.write('d')
    } catch (error) {
      message = (error as Error).message
    }
    res.end()
  })
  t.equal(message, 'Response body longer than its Content-Length (3)')
  t.equal(res.body.toString(), 'abc')
})

t.test('ending short of the declared Content-Length closes the connection', async (t) => {
  const s = await startServer(t, (_req, res) => {
    res.setHeader('Content-Length', '10')
    res.write('abc')
    res.end()
  })
  const { responses, closed, data } = await rawRequest(s.port, get() + get())
  t.ok(closed, 'the client cannot frame the next response: the connection ends')
  t.equal(responses.length, 0)
  t.ok(data.toString().endsWith('\r\n\r\nabc'))
})

t.test('end(body) that disagrees with the declared Content-Length throws (a 500 if uncaught)', async (t) => {
  let message = ''
  const s = await startServer(t, (req, res) => {
    res.setHeader('Content-Length', 3)
    if (req.path === '/caught') {
      try {
        res.end('four')
      } catch (error) {
        message = (error as Error).message
        res.removeHeader('Content-Length')
        res.end('four')
      }
      return
    }
    res.end('four')
  })
  const caught = await fetch(`${s.origin}/caught`)
  t.equal(await caught.text(), 'four')
  t.equal(message, "Content-Length 3 does not match the body's 4 bytes")
  const uncaught = await fetch(`${s.origin}/uncaught`)
  t.equal(uncaught.status, 500)
  await uncaught.text()
})

t.test('an invalid Content-Length value is refused when the head is built', async (t) => {
  const s = await startServer(t, (_req, res) => {
    res.setHeader('Content-Length', '12abc')
    res.end('x')
  })
  const res = await fetch(s.origin)
  t.equal(res.status, 500)
  await res.text()
  t.match(s.errText(), /Invalid Content-Length: 12abc/)
})

t.test('a Transfer-Encoding the app sets is ignored', async (t) => {
  const { res, data } = await one(t, (_req, res) => {
    res.setHeader('Transfer-Encoding', 'gzip')
    res.end('plain')
  })
  t.notMatch(data.toString(), /Transfer-Encoding/)
  t.equal(res.headers['content-length'], '5')
  t.equal(res.body.toString(), 'plain')
})

// --- HEAD, 204, 304 ----------------------------------------------------------------------------

t.test('HEAD gets the headers, with the Content-Length the GET would have, and no body', async (t) => {
  const s = await startServer(t, (req, res) => {
    res.setHeader('Content-Type', 'text/plain')
    if (req.path === '/declared') {
      res.setHeader('Content-Length', 1234)
      return void res.end()
    }
    if (req.path === '/stream') {
      res.write('streamed')
      return void res.end('!')
    }
    res.end('the GET body')
  })
  const head = (path: string) => `HEAD ${path} HTTP/1.1\r\nHost: x\r\n\r\n`
  const { responses, data, client } = await rawRequest(
    s.port,
    head('/') + head('/declared') + head('/stream') + get('/'),
    { responses: 4, head: [0, 1, 2] },
  )
  t.equal(responses[0].headers['content-length'], '12')
  t.equal(responses[0].headers['content-type'], 'text/plain')
  t.equal(responses[1].headers['content-length'], '1234')
  t.equal(responses[2].headers['transfer-encoding'], undefined, 'no chunked framing on a body-less response')
  t.same(
    responses.slice(0, 3).map((r) => r.raw.toString().endsWith('\r\n\r\n')),
    [true, true, true],
    'nothing after the heads',
  )
  t.equal(responses[3].body.toString(), 'the GET body', 'the following response frames correctly')
  t.notMatch(data.toString(), /streamed/)
  client.destroy()
  const fetched = await fetch(s.origin, { method: 'HEAD' })
  t.equal(fetched.headers.get('content-length'), '12')
  t.equal(await fetched.text(), '')
})

t.test('204 has no body and no Content-Length; 304 has no body', async (t) => {
  const s = await startServer(t, (req, res) => {
    if (req.path === '/204') {
      res.statusCode = 204
      res.setHeader('Content-Length', 5)
      return void res.end('ignored')
    }
    if (req.path === '/204-stream') {
      res.writeHead(204)
      res.write('ignored')
      return void res.end()
    }
    if (req.path === '/304') {
      res.writeHead(304, { ETag: '"v1"', 'Content-Length': 42 })
      return void res.end('ignored too')
    }
    res.end('after')
  })
  const { responses, data, client } = await rawRequest(
    s.port,
    get('/204') + get('/204-stream') + get('/304') + get('/after'),
    { responses: 4 },
  )
  t.same(
    responses.map((r) => r.statusCode),
    [204, 204, 304, 200],
  )
  t.equal(responses[0].headers['content-length'], undefined)
  t.equal(responses[1].headers['content-length'], undefined)
  t.equal(responses[1].headers['transfer-encoding'], undefined)
  t.equal(responses[2].headers.etag, '"v1"')
  t.equal(responses[2].headers['content-length'], '42', "304 keeps the app's Content-Length")
  t.notMatch(data.toString(), /ignored/)
  t.equal(responses[3].body.toString(), 'after')
  client.destroy()
})

// --- Date ---------------------------------------------------------------------------------------

t.test('a Date header is always sent, once; the app may set its own', async (t) => {
  const s = await startServer(t, (req, res) => {
    if (req.path === '/own') res.setHeader('date', 'Thu, 01 Jan 1970 00:00:00 GMT')
    if (req.path === '/stream') {
      res.write('x')
      return void res.end()
    }
    res.end()
  })
  const { responses, client } = await rawRequest(s.port, get('/') + get('/own') + get('/stream'), { responses: 3 })
  for (const res of responses) t.equal(res.rawHeaders.filter(([name]) => name.toLowerCase() === 'date').length, 1)
  t.match(responses[0].headers.date, DATE_RE)
  t.equal(responses[1].headers.date, 'Thu, 01 Jan 1970 00:00:00 GMT')
  t.match(responses[2].headers.date, DATE_RE)
  const age = Math.abs(Date.parse(responses[0].headers.date) - Date.now())
  t.ok(age < 2500, `the Date is current (${age} ms off)`)
  client.destroy()
})

// --- Status and headers -------------------------------------------------------------------------

t.test('statusCode, statusMessage and writeHead forms', async (t) => {
  const s = await startServer(t, (req, res) => {
    switch (req.path) {
      case '/code':
        res.statusCode = 201
        return void res.end()
      case '/message':
        res.statusCode = 200
        res.statusMessage = 'Fine Indeed'
        return void res.end()
      case '/headers':
        res.setHeader('X-Kept', 'kept')
        return void res.writeHead(202, { 'X-A': 'a', 'X-N': 7 }).end('w')
      case '/reason':
        return void res.writeHead(299, 'Custom Reason', { 'X-B': 'b' }).end()
      case '/array':
        res.writeHead(200, ['X-C', 'c', 'X-D', 'd'])
        return void res.end()
      case '/unknown':
        return void res.writeHead(599).end()
      default:
        return void res.writeHead(418).end()
    }
  })
  const paths = ['/code', '/message', '/headers', '/reason', '/array', '/unknown', '/teapot']
  const { responses, client } = await rawRequest(s.port, paths.map((p) => get(p)).join(''), { responses: paths.length })
  t.same(
    responses.map((r) => `${r.statusCode} ${r.statusMessage}`),
    ['201 Created', '200 Fine Indeed', '202 Accepted', '299 Custom Reason', '200 OK', '599 Server Error', "418 I'm a Teapot"],
  )
  t.equal(responses[2].headers['x-kept'], 'kept', 'writeHead merges with setHeader')
  t.equal(responses[2].headers['x-a'], 'a')
  t.equal(responses[2].headers['x-n'], '7')
  t.equal(responses[3].headers['x-b'], 'b')
  t.equal(responses[4].headers['x-c'], 'c')
  t.equal(responses[4].headers['x-d'], 'd')
  client.destroy()
})

/** A reply's fields by lower-case name, each with its values in order, framing left out. */
function fieldsOf(reply: { headers: [string, string][] }): Record<string, string[]> {
  const fields: Record<string, string[]> = {}
  for (const [name, value] of reply.headers) {
    const key = name.toLowerCase()
    if (key !== 'content-length' && key !== 'transfer-encoding') (fields[key] ??= []).push(value)
  }
  return fields
}

t.test('writeHead takes [[name, value], ...] and [name, value, ...] lists, with a reason or not, as node:http does', async (t) => {
  const { ours, node } = await besideNode(
    t,
    (req, res) => {
      switch (req.url) {
        case '/pairs':
          return void res.writeHead(200, [['X-A', '1'], ['Set-Cookie', 'a=1'], ['set-cookie', 'b=2']]).end('x')
        case '/flat':
          return void res.writeHead(201, ['Set-Cookie', 'a=1', 'X-B', 2, 'Set-Cookie', ['b=2', 'c=3']]).end()
        case '/reason-pairs':
          return void res.writeHead(202, 'Fine', [['X-C', '3']]).end()
        case '/reason-flat':
          return void res.writeHead(203, 'Also Fine', ['X-D', '4']).end()
        case '/no-reason':
          return void res.writeHead(204, undefined, { 'X-E': '5' }).end()
        default:
          return void res.writeHead(200, []).end()
      }
    },
    ['/pairs', '/flat', '/reason-pairs', '/reason-flat', '/no-reason', '/empty'],
  )
  // Framing differs by design: node:http settles it at writeHead (chunked), Pegasus with the body.
  t.same(
    ours.map((r) => [r.status, fieldsOf(r), r.body]),
    node.map((r) => [r.status, fieldsOf(r), r.body]),
  )
  t.same(ours[0].headers, [['X-A', '1'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['Content-Length', '1']])
  t.same(fieldsOf(ours[1]), { 'set-cookie': ['a=1', 'b=2', 'c=3'], 'x-b': ['2'] })
  t.same(ours.map((r) => r.status), ['200 OK', '201 Created', '202 Fine', '203 Also Fine', '204 No Content', '200 OK'])
})

t.test('a writeHead list replaces what was set before by those names; its repeats add up', async (t) => {
  const { res } = await one(t, (_req, res) => {
    res.setHeader('X-F', 'old')
    res.setHeader('X-Kept', 'kept')
    res.writeHead(200, [['X-F', 'new'], ['x-f', 'newer'], ['X-G', 'g']]).end()
  })
  t.same(
    res.rawHeaders.filter(([name]) => name.startsWith('X')),
    [['X-Kept', 'kept'], ['X-F', 'new'], ['X-F', 'newer'], ['X-G', 'g']],
  )
})

t.test('writeHead refuses a flat list without a value for each name, and a name that is no string', async (t) => {
  const errors: string[] = []
  const { res } = await one(t, (_req, res) => {
    for (const list of [['X-A', '1', 'X-B'], [[42, 'x']]]) {
      try {
        res.writeHead(200, list as string[])
      } catch (error) {
        errors.push(`${(error as Error).name}: ${(error as Error).message}`)
      }
    }
    res.end('still fine')
  })
  t.same(errors, ['TypeError: writeHead: a header list needs a value after each name', 'TypeError: Invalid header name: 42'])
  t.equal(res.body.toString(), 'still fine')
})

t.test('setHeader / getHeader / hasHeader / removeHeader / getHeaderNames / getHeaders', async (t) => {
  let seen: unknown
  const { res } = await one(t, (_req, res) => {
    const self = res.setHeader('X-Case', 'one')
    res.setHeader('x-case', 'two') // replaces, keeps one field, takes the new spelling
    res.setHeader('Set-Cookie', ['a=1', 'b=2'])
    res.setHeader('X-Number', 42)
    res.setHeader('X-Gone', 'soon')
    res.removeHeader('x-gone')
    res.removeHeader('x-never-set')
    seen = {
      chain: self === res,
      get: res.getHeader('X-CASE'),
      cookies: res.getHeader('set-cookie'),
      number: res.getHeader('x-number'),
      missing: res.getHeader('nope') ?? null,
      has: [res.hasHeader('X-Case'), res.hasHeader('x-gone')],
      names: res.getHeaderNames(),
      headers: { ...res.getHeaders() },
      sent: res.headersSent,
    }
    res.end()
  })
  t.same(seen, {
    chain: true,
    get: 'two',
    cookies: ['a=1', 'b=2'],
    number: '42',
    missing: null,
    has: [true, false],
    names: ['x-case', 'set-cookie', 'x-number'],
    headers: { 'x-case': 'two', 'set-cookie': ['a=1', 'b=2'], 'x-number': '42' },
    sent: false,
  })
  t.same(
    res.rawHeaders.filter(([name]) => name !== 'Date' && name !== 'Content-Length'),
    [
      ['x-case', 'two'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
      ['X-Number', '42'],
    ],
  )
})

t.test('header names and values with CR, LF or NUL throw: no response splitting', async (t) => {
  const errors: string[] = []
  const { res, data } = await one(t, (_req, res) => {
    const attempts: (() => unknown)[] = [
      () => res.setHeader('X-Evil', 'a\r\nSet-Cookie: stolen=1'),
      () => res.setHeader('X-Evil', 'a\nb'),
      () => res.setHeader('X-Evil', 'a\rb'),
      () => res.setHeader('X-Evil', 'a\0b'),
      () => res.setHeader('X-Evil', ['fine', 'not\r\nfine']),
      () => res.setHeader('X-Evil\r\nInjected', 'v'),
      () => res.setHeader('X Evil', 'v'),
      () => res.setHeader('', 'v'),
      () => res.setHeader('X-Obj', {} as unknown as string),
      () => res.writeHead(200, 'OK\r\nInjected: yes'),
      () => res.writeHead(200, { 'X-Evil': 'a\r\nb' }),
    ]
    for (const attempt of attempts) {
      try {
        attempt()
        errors.push('no error')
      } catch (error) {
        errors.push((error as Error).name)
      }
    }
    res.setHeader('X-Tab', 'a\tb')
    res.end('safe')
  })
  t.same(errors, Array(11).fill('TypeError'))
  t.notMatch(data.toString(), /stolen|Injected|X-Evil/)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-tab'], 'a\tb', 'HTAB is allowed')
  t.equal(res.body.toString(), 'safe')
})

t.test('a statusMessage with CR or LF cannot split the response', async (t) => {
  const s = await startServer(t, (_req, res) => {
    res.statusMessage = 'OK\r\nSet-Cookie: stolen=1'
    res.end('x')
  })
  const { data, client } = await rawRequest(s.port, get(), { responses: 1 })
  client.destroy()
  t.notMatch(data.toString(), /\r\nSet-Cookie: stolen=1\r\n/)
})

t.test('a latin1 reason phrase goes out as latin1, like header values', async (t) => {
  const { data, res } = await one(t, (_req, res) => {
    res.writeHead(200, 'Café')
    res.end()
  })
  t.ok(data.subarray(0, 20).includes(Buffer.from([0x43, 0x61, 0x66, 0xe9, 0x0d])), 'é as the single byte 0xE9')
  t.equal(res.statusMessage, 'Café')
})

t.test('invalid status codes throw', async (t) => {
  const errors: string[] = []
  const { res } = await one(t, (_req, res) => {
    for (const status of [99, 1000, 200.5, NaN]) {
      try {
        res.writeHead(status)
        errors.push('no error')
      } catch (error) {
        errors.push((error as Error).name)
      }
    }
    res.end()
  })
  t.same(errors, ['RangeError', 'RangeError', 'RangeError', 'RangeError'])
  t.equal(res.statusCode, 200)
})

t.test('non-ASCII (latin1) header values go out as latin1; the body stays UTF-8', async (t) => {
  const { data, res } = await one(t, (_req, res) => {
    res.setHeader('X-Name', 'café')
    res.end('✓ café')
  })
  const head = data.subarray(0, data.indexOf('\r\n\r\n'))
  t.ok(head.includes(Buffer.from([0x63, 0x61, 0x66, 0xe9])), 'é as the single byte 0xE9')
  t.equal(res.headers['x-name'], 'café')
  t.equal(res.body.toString('utf8'), '✓ café')
  t.equal(res.headers['content-length'], String(Buffer.byteLength('✓ café')))
})

t.test('latin1 header values with a streamed body', async (t) => {
  const { res } = await one(t, (_req, res) => {
    res.setHeader('X-Name', 'naïve')
    res.write('✓')
    res.end()
  })
  t.equal(res.headers['x-name'], 'naïve')
  t.equal(res.body.toString(), '✓')
})

t.test('setHeader, removeHeader and writeHead after the head was sent throw', async (t) => {
  const errors: string[] = []
  const { res } = await one(t, (_req, res) => {
    res.setHeader('X-Before', '1')
    res.write('body started')
    for (const attempt of [
      () => res.setHeader('X-After', '1'),
      () => res.removeHeader('X-Before'),
      () => res.writeHead(500),
    ]) {
      try {
        attempt()
        errors.push('no error')
      } catch (error) {
        errors.push((error as Error).message)
      }
    }
    res.end()
  })
  t.same(errors, [
    'Cannot set header "X-After" after the head was sent',
    'Cannot remove header "X-Before" after the head was sent',
    'writeHead called after the head was sent',
  ])
  t.equal(res.headers['x-before'], '1')
  t.equal(res.headers['x-after'], undefined)
})

t.test('after writeHead the headers are fixed (headersSent), even before any body', async (t) => {
  let state: unknown
  const { res } = await one(t, (_req, res) => {
    const before = res.headersSent
    res.writeHead(201, { 'X-A': '1' })
    let error = ''
    try {
      res.setHeader('X-B', '2')
    } catch (e) {
      error = (e as Error).message
    }
    state = { before, after: res.headersSent, error }
    res.end('done')
  })
  t.same(state, { before: false, after: true, error: 'Cannot set header "X-B" after the head was sent' })
  t.equal(res.statusCode, 201)
})

t.test('Connection: close set by the app closes the connection; other Connection values are dropped', async (t) => {
  const s = await startServer(t, (req, res) => {
    res.setHeader('Connection', req.path === '/close' ? 'Close' : 'keep-alive, Upgrade')
    res.end(req.path)
  })
  const { responses, closed } = await rawRequest(s.port, get('/keep') + get('/close') + get('/never'))
  t.same(
    responses.map((r) => [r.body.toString(), r.headers.connection]),
    [
      ['/keep', undefined],
      ['/close', 'close'],
    ],
  )
  t.ok(closed)
})

// --- State and events ---------------------------------------------------------------------------

t.test("headersSent, writableEnded, 'finish' and 'close'", async (t) => {
  const events: string[] = []
  const { res } = await one(t, (_req, res) => {
    res.on('finish', () => events.push(`finish ended=${res.writableEnded}`))
    res.once('close', () => events.push('close'))
    const removed = () => events.push('removed listener called')
    res.addListener('finish', removed)
    res.removeListener('finish', removed)
    events.push(`start sent=${res.headersSent} ended=${res.writableEnded}`)
    res.write('a')
    events.push(`wrote sent=${res.headersSent} ended=${res.writableEnded}`)
    res.end('b')
    events.push(`ended ended=${res.writableEnded} finished=${res.finished}`)
    res.end('ignored: end twice is a no-op')
  })
  t.same(events, [
    'start sent=false ended=false',
    'wrote sent=true ended=false',
    'finish ended=true',
    'close',
    'ended ended=true finished=true',
  ])
  t.equal(res.body.toString(), 'ab')
})

t.test('write after end throws', async (t) => {
  let message = ''
  await one(t, (_req, res) => {
    res.end('done')
    try {
      res.write('more')
    } catch (error) {
      message = (error as Error).message
    }
  })
  t.equal(message, 'write after end')
})

t.test('end(callback) does not send the callback as a body', async (t) => {
  const { res } = await one(t, (_req, res) => {
    res.write('x')
    res.end(() => {})
  })
  t.equal(res.body.toString(), 'x')
})

t.test('write() calls its callback once the chunk is written, in every node:http form, HEAD too', async (t) => {
  const calls: string[] = []
  let resolveAll!: () => void
  const all = new Promise<void>((resolve) => (resolveAll = resolve))
  const s = await startServer(t, async (req, res) => {
    const socket = req.socket
    const written = (label: string) => (error?: Error | null) => {
      calls.push(`${req.method} ${label} ${error ?? 'ok'} ${socket.writableLength === 0 ? 'out' : 'pending'}`)
      if (calls.length === 8) resolveAll()
    }
    res.write('a', written('a'))
    res.write('62', 'hex', written('b'))
    res.write(Buffer.from('c'), undefined, written('c'))
    res.write('', written('empty'))
    await sleep(20)
    res.end('d')
  })
  const { responses, client } = await rawRequest(s.port, [get(), 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n'], { responses: 2, head: [1] })
  client.destroy()
  t.equal(responses[0].body.toString(), 'abcd')
  t.equal(responses[1].body.length, 0)
  await all
  t.same(calls, [
    'GET a ok out',
    'GET b ok out',
    'GET c ok out',
    'GET empty ok out',
    'HEAD a ok out',
    'HEAD b ok out',
    'HEAD c ok out',
    'HEAD empty ok out',
  ])
})

t.test('a write callback waits until its chunk is written: not while the client does not read', async (t) => {
  // Far more than the socket buffers hold: the chunk cannot all be written until the client reads.
  const size = 32 * 1024 * 1024
  let calledBack = false
  let resolveWritten!: (error: unknown) => void
  const written = new Promise((resolve) => (resolveWritten = resolve))
  let resolveWrote!: (socket: net.Socket) => void
  const wrote = new Promise<net.Socket>((resolve) => (resolveWrote = resolve))
  const s = await startServer(t, (req, res) => {
    res.write(Buffer.alloc(size, 'x'), (error) => {
      calledBack = true
      resolveWritten(error)
    })
    res.end()
    resolveWrote(req.socket as net.Socket)
  })
  const client = await RawClient.connect(s.port)
  client.socket.pause()
  await client.write(get())
  const socket = await wrote
  // A few turns of the event loop, for a callback that would come as soon as the chunk is queued.
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
  t.ok(socket.writableLength > size / 2, 'the chunk is not written: the client does not read')
  t.equal(calledBack, false, 'so its callback has not been called')
  client.socket.resume()
  t.equal(await written, null, 'called (without an error) once the client reads')
  const [res] = await client.waitForResponses(1, { timeout: 60_000 })
  t.equal(res.body.length, size)
  t.ok(res.body.equals(Buffer.alloc(size, 'x')), 'every byte as written')
  client.destroy()
})

t.test('the write callbacks of a pipelined response wait for the response before it', async (t) => {
  const events: string[] = []
  let resolveQuickWrote!: () => void
  const quickWrote = new Promise<void>((resolve) => (resolveQuickWrote = resolve))
  let resolveQuickWritten!: () => void
  const quickWritten = new Promise<void>((resolve) => (resolveQuickWritten = resolve))
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/slow') {
      // Ends once the response behind it has written (and a few turns of the loop later).
      await quickWrote
      for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
      events.push('slow ends')
      return void res.end('slow')
    }
    res.write('quick', (error) => {
      events.push(`quick written ${error ?? 'ok'}`)
      resolveQuickWritten()
    })
    events.push('quick wrote')
    res.end()
    resolveQuickWrote()
  })
  const { responses, client } = await rawRequest(s.port, get('/slow') + get('/quick'), { responses: 2 })
  client.destroy()
  await quickWritten
  t.same(responses.map((r) => r.body.toString()), ['slow', 'quick'])
  t.same(events, ['quick wrote', 'slow ends', 'quick written ok'])
})

t.test('write callbacks get ERR_STREAM_DESTROYED once the client has gone, held back or not', async (t) => {
  const codes: Record<string, unknown> = {}
  let resolveDone!: () => void
  const done = new Promise<void>((resolve) => (resolveDone = resolve))
  const record = (label: string) => (error?: Error | null) => {
    codes[label] = (error as (Error & { code?: string }) | null | undefined)?.code ?? 'no error'
    if (Object.keys(codes).length === 2) resolveDone()
  }
  let resolveHeld!: () => void
  const held = new Promise<void>((resolve) => (resolveHeld = resolve))
  const s = await startServer(t, async (req, res) => {
    if (req.path === '/first') {
      res.write('first')
      await new Promise((resolve) => res.once('close', resolve))
      res.write('late', record('after the client left'))
      return void res.end()
    }
    res.write('held', record('held back when the client left'))
    resolveHeld()
  })
  const client = await RawClient.connect(s.port)
  await client.write(get('/first') + get('/second'))
  await client.until(() => client.data.includes('first'), 30_000)
  await held
  client.socket.resetAndDestroy()
  await done
  t.same(codes, { 'held back when the client left': 'ERR_STREAM_DESTROYED', 'after the client left': 'ERR_STREAM_DESTROYED' })
})

t.test("'close' fires and writes are ignored once the client has gone", async (t) => {
  let resolveDone!: (v: unknown) => void
  const done = new Promise((r) => (resolveDone = r))
  const s = await startServer(t, async (_req, res) => {
    const events: string[] = []
    const closed = new Promise((resolve) => res.once('close', resolve))
    res.on('close', () => events.push('close'))
    res.on('finish', () => events.push('finish'))
    res.write('first')
    await closed
    const ok = res.write('after the client left')
    res.end('end after the client left')
    resolveDone({ events, ok, destroyed: res.destroyed, ended: res.writableEnded })
  })
  const client = await RawClient.connect(s.port)
  await client.write(get())
  await client.until(() => client.data.includes('first'))
  client.socket.resetAndDestroy()
  t.same(await done, { events: ['close'], ok: true, destroyed: true, ended: true })
})

// --- Backpressure -------------------------------------------------------------------------------

t.test('a 32 MiB chunked response to a slow reader arrives whole (write() false and drain)', async (t) => {
  const total = 32 * 1024 * 1024
  const piece = Buffer.alloc(64 * 1024)
  for (let i = 0; i < piece.length; i++) piece[i] = (i * 31) % 251
  let falses = 0
  let drains = 0
  const s = await startServer(t, async (_req, res) => {
    for (let sent = 0; sent < total; sent += piece.length) {
      // A varying first byte: a lost, repeated or reordered piece changes the hash.
      const chunk = Buffer.from(piece)
      chunk.writeUInt32BE(sent / piece.length)
      if (!res.write(chunk)) {
        falses++
        await new Promise((resolve) => res.once('drain', resolve))
        drains++
      }
    }
    res.end()
  })
  const expected = createHash('sha256')
  for (let sent = 0; sent < total; sent += piece.length) {
    const chunk = Buffer.from(piece)
    chunk.writeUInt32BE(sent / piece.length)
    expected.update(chunk)
  }
  const agent = new http.Agent({ keepAlive: false })
  t.teardown(() => agent.destroy())
  const result = await new Promise<{ length: number; sha: string; chunked: boolean }>((resolve, reject) => {
    http
      .get(s.origin, { agent }, (res) => {
        const hash = createHash('sha256')
        let length = 0
        let reads = 0
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk)
          length += chunk.length
          // A slow reader: stop now and then and let the server's buffers fill up.
          if (++reads % 40 === 0) {
            res.pause()
            setTimeout(() => res.resume(), 15)
          }
        })
        res.on('end', () => resolve({ length, sha: hash.digest('hex'), chunked: res.headers['transfer-encoding'] === 'chunked' }))
        res.on('error', reject)
      })
      .on('error', reject)
  })
  t.equal(result.length, total)
  t.ok(result.chunked)
  t.equal(result.sha, expected.digest('hex'), 'every byte, in order')
  t.ok(falses > 0, `write() returned false (${falses} times)`)
  t.equal(drains, falses, "every false was followed by 'drain'")
})

t.test('end() calls its callback in every node:http form, after the response is out', async (t) => {
  const calls: string[] = []
  let resolveCalled!: () => void
  let called = new Promise<void>((resolve) => (resolveCalled = resolve))
  const call = (label: string) => (): void => {
    calls.push(label)
    resolveCalled()
  }
  const s = await startServer(t, (req, res) => {
    const label = req.path.slice(1)
    if (label === 'cb') res.end(call(label))
    else if (label === 'body-cb') res.end('x', call(label))
    else res.end('x', 'utf8', call(label))
  })
  for (const path of ['/cb', '/body-cb', '/body-encoding-cb']) {
    const { responses } = await rawRequest(s.port, get(path), { responses: 1 })
    t.equal(responses[0].statusCode, 200, path)
    await called
    called = new Promise<void>((resolve) => (resolveCalled = resolve))
  }
  t.same(calls, ['cb', 'body-cb', 'body-encoding-cb'])
})

t.test('a statusCode set out of range is refused when the head is built: the app gets a 500', async (t) => {
  const { res } = await one(t, (_req, res) => {
    res.statusCode = 99
    res.end('x')
  })
  t.equal(res.statusCode, 500)
})

// --- node:http members the native interface does not have --------------------------------------

const HINT = "serve this app with --interface node (node:http's IncomingMessage and ServerResponse)"

t.test('an app calling a node:http response method the native res lacks is told to use --interface node', async (t) => {
  const s = await startServer(t, function nodeStyleApp(req, res) {
    if (req.path === '/flush') {
      res.setHeader('Content-Type', 'text/plain')
      ;(res as unknown as http.ServerResponse).flushHeaders()
    } else if (req.path === '/socket') {
      res.end((res as unknown as { socket: net.Socket }).socket.remoteAddress)
    } else if (req.path === '/named') {
      const nodeRes = res as unknown as http.ServerResponse
      nodeRes.writeContinue()
    } else if (req.path === '/framed') {
      // An error of its own that reads like one, with no frames in its stack.
      const error = new TypeError('res.cork is not a function')
      error.stack = 'TypeError: res.cork is not a function'
      throw error
    } else {
      res.write('partial')
      ;(res as unknown as http.ServerResponse).setTimeout(1000)
    }
  })
  const paths = ['/flush', '/socket', '/named', '/framed']
  const { responses, client } = await rawRequest(s.port, paths.map((p) => get(p)).join(''), { responses: 4 })
  client.destroy()
  t.same(responses.map((r) => r.statusCode), [500, 500, 500, 500])
  const partial = await rawRequest(s.port, get('/partial'))
  t.ok(partial.closed, 'after output, the connection is cut')
  const errors = s.errText().split('ERROR: ').slice(1)
  t.equal(errors.length, 5)
  const [flush, socket, named, framed, timeout] = errors.map((text) => text.split('\n'))
  t.equal(flush[0], 'Exception in app for "GET /flush HTTP/1.1"')
  t.equal(flush[1], `TypeError: res.flushHeaders is not available in the native interface: ${HINT}`)
  t.match(flush[2], /^ {4}at nodeStyleApp \(.*test\/response\.ts:\d+:\d+\)$/, "the original's frames")
  t.equal(
    socket[1],
    'TypeError: req.connection or res.socket or res.connection is not available in the native interface ' +
      `(Cannot read properties of undefined (reading 'remoteAddress')): ${HINT}`,
  )
  t.equal(named[1], `TypeError: nodeRes.writeContinue is not available in the native interface: ${HINT}`)
  t.same(framed.slice(1), [`TypeError: res.cork is not available in the native interface: ${HINT}`, ''])
  t.equal(timeout[1], `TypeError: res.setTimeout is not available in the native interface: ${HINT}`)
})

t.test('the explained error keeps the original as its cause', async (t) => {
  let caught: unknown
  const s = await startServer(t, (req, res) => {
    try {
      ;(res as unknown as http.ServerResponse).flushHeaders()
    } catch (error) {
      caught = explain(error, req, res)
    }
    res.end()
  })
  const { client } = await rawRequest(s.port, get(), { responses: 1 })
  client.destroy()
  t.type(caught, TypeError)
  t.equal(((caught as Error).cause as Error).message, 'res.flushHeaders is not a function')
})
