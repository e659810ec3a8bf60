import t, { type Test } from 'tap'
import { DEFAULT_LIMITS, Parser, RequestHead } from '../lib/http/parser.js'
import type { ParserHandler, ParserLimits } from '../lib/http/parser.js'
import { HttpError } from '../lib/http/errors.js'
import {
  byteByByte,
  bytes,
  describeHead,
  limitsWith,
  parse,
  prng,
  randomPieces,
  Recorder,
  splitAt,
} from './helpers/parser-recorder.js'
import type { Message, Outcome } from './helpers/parser-recorder.js'

const HOST = 'Host: a\r\n'
const CHUNKED_HEAD = 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'

/** An expected message: a complete HTTP/1.1 keep-alive request without body unless told. */
function msg(fields: Partial<Message> & Pick<Message, 'method' | 'url'>): Message {
  return {
    versionMinor: 1,
    headers: [],
    contentLength: -1,
    chunked: false,
    keepAlive: true,
    expectContinue: false,
    body: '',
    complete: true,
    ...fields,
  }
}

function outcome(messages: Message[], end: { dead?: boolean } = {}): Outcome {
  const dead = end.dead ?? false
  return { messages, error: null, dead, idle: !dead }
}

/** Parses `input` whole and returns its only message (failing the test if there is not one). */
function only(t: Test, input: string, limits?: Partial<ParserLimits>): Message {
  const result = parse([bytes(input)], limits)
  t.equal(result.error, null, 'no error')
  t.equal(result.messages.length, 1, 'one message')
  return result.messages[0] ?? msg({ method: '', url: '' })
}

/** The status of the HttpError that feeding `pieces` gives, or 0 if it gives none. */
function statusOf(pieces: Buffer[], limits?: Partial<ParserLimits>): number {
  return parse(pieces, limits).error?.status ?? 0
}

// --- 1. Every split point gives the same events as the whole buffer ---------------------------

interface SplitCase {
  name: string
  input: string
  expected: Outcome
}

const splitCases: SplitCase[] = [
  {
    name: 'simple GET',
    input: 'GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n',
    expected: outcome([msg({ method: 'GET', url: '/index.html?x=1', headers: [['Host', 'example.com']] })]),
  },
  {
    name: 'GET with many headers',
    input:
      'GET /search?q=a%20b&x=1 HTTP/1.1\r\n' +
      'Host: example.com\r\n' +
      'User-Agent: test/1.0\r\n' +
      'Accept: */*\r\n' +
      'accept-encoding:gzip, deflate\r\n' +
      'X-Empty:\r\n' +
      'X-Spaces: \t  padded  value \t \r\n' +
      'X-Obs: caf\xe9 \xff\x80\r\n' +
      'X-Tab: a\tb\r\n' +
      'Cookie: a=1; b=2\r\n' +
      'X-Dup: 1\r\n' +
      'X-Dup: 2\r\n' +
      "!#$%&'*+-.^_`|~09azAZ: tchars\r\n" +
      '\r\n',
    expected: outcome([
      msg({
        method: 'GET',
        url: '/search?q=a%20b&x=1',
        headers: [
          ['Host', 'example.com'],
          ['User-Agent', 'test/1.0'],
          ['Accept', '*/*'],
          ['accept-encoding', 'gzip, deflate'],
          ['X-Empty', ''],
          ['X-Spaces', 'padded  value'],
          ['X-Obs', 'caf\xe9 \xff\x80'],
          ['X-Tab', 'a\tb'],
          ['Cookie', 'a=1; b=2'],
          ['X-Dup', '1'],
          ['X-Dup', '2'],
          ["!#$%&'*+-.^_`|~09azAZ", 'tchars'],
        ],
      }),
    ]),
  },
  {
    name: 'POST with a Content-Length body',
    input:
      'POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 24\r\nContent-Type: text/plain\r\n\r\n' +
      'hello, world\r\n\x00\xff binary!',
    expected: outcome([
      msg({
        method: 'POST',
        url: '/submit',
        headers: [
          ['Host', 'a'],
          ['Content-Length', '24'],
          ['Content-Type', 'text/plain'],
        ],
        contentLength: 24,
        body: 'hello, world\r\n\x00\xff binary!',
      }),
    ]),
  },
  {
    name: 'chunked POST with extensions and trailers',
    input:
      CHUNKED_HEAD +
      '5;name=value\r\nhello\r\n' +
      '6 ; a=b;c="d e"\r\n world\r\n' +
      'A\r\n0123456789\r\n' +
      '1a\t;x\r\nabcdefghijklmnopqrstuvwxyz\r\n' +
      '000003\r\n\r\n\r\r\n' +
      '0;last=1\r\n' +
      'X-Checksum: abc\r\n' +
      'X-Other:\t1\r\n' +
      '\r\n',
    expected: outcome([
      msg({
        method: 'POST',
        url: '/',
        headers: [
          ['Host', 'a'],
          ['Transfer-Encoding', 'chunked'],
        ],
        chunked: true,
        body: 'hello world0123456789abcdefghijklmnopqrstuvwxyz\r\n\r',
      }),
    ]),
  },
  {
    name: 'pipelined GET, POST, chunked PUT, DELETE with Expect, GET',
    input:
      'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n' +
      'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc' +
      'PUT /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n' +
      'DELETE /4 HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n!' +
      '\r\n' +
      'GET /5 HTTP/1.1\r\nHost: a\r\n\r\n',
    expected: outcome([
      msg({ method: 'GET', url: '/1', headers: [['Host', 'a']] }),
      msg({
        method: 'POST',
        url: '/2',
        headers: [
          ['Host', 'a'],
          ['Content-Length', '3'],
        ],
        contentLength: 3,
        body: 'abc',
      }),
      msg({
        method: 'PUT',
        url: '/3',
        headers: [
          ['Host', 'a'],
          ['Transfer-Encoding', 'chunked'],
        ],
        chunked: true,
        body: 'xyz',
      }),
      msg({
        method: 'DELETE',
        url: '/4',
        headers: [
          ['Host', 'a'],
          ['Expect', '100-continue'],
          ['Content-Length', '1'],
        ],
        contentLength: 1,
        expectContinue: true,
        body: '!',
      }),
      msg({ method: 'GET', url: '/5', headers: [['Host', 'a']] }),
    ]),
  },
  {
    name: 'HTTP/1.0 with keep-alive, then one without: what follows is ignored',
    input:
      'GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' +
      'POST /b HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi' +
      'GET /c HTTP/1.0\r\nUser-Agent: x\r\n\r\n' +
      'GET /ignored HTTP/1.1\r\nHost: a\r\n\r\n\x00\x01garbage\n',
    expected: outcome(
      [
        msg({ method: 'GET', url: '/a', versionMinor: 0, headers: [['Connection', 'keep-alive']] }),
        msg({
          method: 'POST',
          url: '/b',
          versionMinor: 0,
          headers: [
            ['Connection', 'Keep-Alive'],
            ['Content-Length', '2'],
          ],
          contentLength: 2,
          body: 'hi',
        }),
        msg({ method: 'GET', url: '/c', versionMinor: 0, headers: [['User-Agent', 'x']], keepAlive: false }),
      ],
      { dead: true },
    ),
  },
  {
    name: 'absolute-form target',
    input: 'GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: example.com:8080\r\n\r\n',
    expected: outcome([
      msg({ method: 'GET', url: 'http://example.com:8080/a/b?c=d', headers: [['Host', 'example.com:8080']] }),
    ]),
  },
  {
    name: 'OPTIONS *',
    input: 'OPTIONS * HTTP/1.1\r\nHost: example.com\r\nMax-Forwards: 0\r\n\r\n',
    expected: outcome([
      msg({
        method: 'OPTIONS',
        url: '*',
        headers: [
          ['Host', 'example.com'],
          ['Max-Forwards', '0'],
        ],
      }),
    ]),
  },
  {
    name: 'empty lines before the request line',
    input: '\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n\r\nHEAD /x HTTP/1.1\r\nHost: b\r\n\r\n',
    expected: outcome([
      msg({ method: 'GET', url: '/', headers: [['Host', 'a']] }),
      msg({ method: 'HEAD', url: '/x', headers: [['Host', 'b']] }),
    ]),
  },
  {
    name: 'POST with Expect: 100-continue and Connection: close, then ignored bytes',
    input:
      'POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nConnection: close\r\nContent-Length: 4\r\n\r\ndata' +
      'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
    expected: outcome(
      [
        msg({
          method: 'POST',
          url: '/e',
          headers: [
            ['Host', 'a'],
            ['Expect', '100-Continue'],
            ['Connection', 'close'],
            ['Content-Length', '4'],
          ],
          contentLength: 4,
          keepAlive: false,
          expectContinue: true,
          body: 'data',
        }),
      ],
      { dead: true },
    ),
  },
]

t.test('every split point gives the events of the whole buffer', async (t) => {
  const random = prng(1)
  for (const c of splitCases) {
    t.test(c.name, async (t) => {
      const buf = bytes(c.input)
      t.same(parse([buf]), c.expected, 'whole buffer')
      for (let i = 0; i <= buf.length; i++) t.same(parse(splitAt(buf, i)), c.expected, `split at ${i}`)
      t.same(parse(byteByByte(buf)), c.expected, 'byte by byte')
      for (let i = 0; i < 20; i++) t.same(parse(randomPieces(buf, random)), c.expected, `random pieces ${i}`)
    })
  }
})

t.test('a head may stay pending across many executes', async (t) => {
  const recorder = new Recorder()
  const parser = new Parser(recorder)
  t.ok(parser.idle, 'idle at first')
  t.notOk(parser.headPending)
  t.equal(parser.execute(bytes('\r\n')), 2)
  t.ok(parser.idle, 'still idle after an empty line')
  t.equal(parser.execute(bytes('\r')), 1)
  t.ok(parser.headPending, 'a lone CR is kept')
  const third = bytes('\nGET / HTTP/1.1\r\nHost')
  t.equal(parser.execute(third), third.length)
  t.ok(parser.headPending)
  t.notOk(parser.idle)
  t.equal(parser.execute(Buffer.alloc(0)), 0, 'an empty buffer consumes nothing')
  t.ok(parser.headPending, 'and keeps the pending head')
  t.equal(parser.execute(bytes(': a\r\n')), 5)
  t.equal(recorder.messages.length, 0)
  const fifth = bytes('\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nx')
  t.equal(parser.execute(fifth), fifth.length)
  t.equal(recorder.messages.length, 2)
  t.notOk(parser.idle, 'not idle inside a body')
  t.notOk(parser.headPending, 'no head is pending inside a body')
  t.equal(parser.execute(bytes('y')), 1)
  t.ok(parser.idle, 'idle after the body')
  t.same(
    recorder.messages.map((m) => [m.method, m.body, m.complete]),
    [
      ['GET', '', true],
      ['POST', 'xy', true],
    ],
  )
})

t.test('a head that arrived in pieces does not keep the input buffers', async (t) => {
  const recorder = new Recorder()
  const parser = new Parser(recorder)
  const a = bytes('GET /piece HTTP/1.1\r\nHo')
  const b = bytes('st: example\r\nX: y\r\n\r\n')
  parser.execute(a)
  parser.execute(b)
  a.fill(0)
  b.fill(0)
  const head = recorder.heads[0]
  t.same([head.name(0), head.value(0), head.name(1), head.value(1)], ['Host', 'example', 'X', 'y'])
})

// --- 2. Heads ----------------------------------------------------------------------------------

t.test('header values: OWS trimmed, inner bytes kept', async (t) => {
  const cases: [string, string][] = [
    ['X: v', 'v'],
    ['X:v', 'v'],
    ['X:\tv', 'v'],
    ['X: \t v \t ', 'v'],
    ['X:', ''],
    ['X:   ', ''],
    ['X: \t', ''],
    ['X: a  b', 'a  b'],
    ['X: a\tb', 'a\tb'],
    ['X: \x80\xff', '\x80\xff'],
    ['X: caf\xe9', 'caf\xe9'],
    ['X: "quoted, string"', '"quoted, string"'],
    ['X: ~!@#$%^&*()[]{}<>?/\\|', '~!@#$%^&*()[]{}<>?/\\|'],
  ]
  for (const [line, value] of cases) {
    const m = only(t, `GET / HTTP/1.1\r\n${HOST}${line}\r\n\r\n`)
    t.same(m.headers[1], ['X', value], JSON.stringify(line))
  }
})

t.test('framing and option headers are recognised in any case', async (t) => {
  const cl = ['content-length', 'CONTENT-LENGTH', 'Content-length', 'cOnTeNt-LeNgTh']
  for (const name of cl) {
    const m = only(t, `POST / HTTP/1.1\r\n${HOST}${name}: 3\r\n\r\nabc`)
    t.equal(m.contentLength, 3, name)
    t.equal(m.body, 'abc', name)
  }
  for (const name of ['transfer-encoding', 'TRANSFER-ENCODING', 'Transfer-encoding']) {
    for (const value of ['chunked', 'CHUNKED', 'Chunked']) {
      const m = only(t, `POST / HTTP/1.1\r\n${HOST}${name}: ${value}\r\n\r\n1\r\nz\r\n0\r\n\r\n`)
      t.ok(m.chunked, `${name}: ${value}`)
      t.equal(m.body, 'z')
    }
  }
  for (const name of ['connection', 'CONNECTION', 'Connection']) {
    for (const value of ['close', 'CLOSE', 'Close']) {
      t.equal(only(t, `GET / HTTP/1.1\r\n${HOST}${name}: ${value}\r\n\r\n`).keepAlive, false, `${name}: ${value}`)
    }
  }
  for (const name of ['expect', 'EXPECT', 'Expect']) {
    for (const value of ['100-continue', '100-CONTINUE', '100-Continue']) {
      const m = only(t, `POST / HTTP/1.1\r\n${HOST}${name}: ${value}\r\nContent-Length: 1\r\n\r\nx`)
      t.ok(m.expectContinue, `${name}: ${value}`)
    }
  }
  for (const name of ['host', 'HOST', 'hOsT']) {
    t.equal(only(t, `GET / HTTP/1.1\r\n${name}: a\r\n\r\n`).url, '/', `${name} counts as Host`)
  }
  // Names of the same length that are not the special ones are plain fields.
  const m = only(
    t,
    'POST / HTTP/1.1\r\nHost: a\r\n' +
      'Hose: 1\r\nExpecT-: 2\r\nExpecz: 3\r\nConnectioN-: 4\r\nConnectiox: close\r\n' +
      'Content-Lengtx: 5\r\nTransfer-Encodinx: gzip\r\nAccept-Charset: x\r\nIf-Modified-Since: y\r\n\r\n',
  )
  t.same([m.contentLength, m.chunked, m.keepAlive, m.expectContinue], [-1, false, true, false], 'look-alike names do nothing')
  t.equal(m.headers.length, 10)
})

t.test('keep-alive rules', async (t) => {
  const cases: [string, string[], boolean][] = [
    ['1.1', [], true],
    ['1.1', ['close'], false],
    ['1.1', ['Close'], false],
    ['1.1', ['foo, close'], false],
    ['1.1', ['close, foo'], false],
    ['1.1', [' , close ,'], false],
    ['1.1', ['foo,\tclose\t'], false],
    ['1.1', ['foo', 'close'], false],
    ['1.1', ['keep-alive, close'], false],
    ['1.1', ['keep-alive'], true],
    ['1.1', ['upgrade'], true],
    ['1.1', ['closed'], true],
    ['1.1', ['clos'], true],
    ['1.1', ['close-ish'], true],
    ['1.1', [''], true],
    ['1.1', [','], true],
    ['1.0', [], false],
    ['1.0', ['keep-alive'], true],
    ['1.0', ['Keep-Alive'], true],
    ['1.0', ['KEEP-ALIVE'], true],
    ['1.0', ['foo, keep-alive'], true],
    ['1.0', ['foo', 'keep-alive'], true],
    ['1.0', ['keep-alive, close'], false],
    ['1.0', ['keep-alive', 'close'], false],
    ['1.0', ['keep-alives'], false],
    ['1.0', ['keep alive'], false],
    ['1.0', ['close'], false],
    ['1.0', [''], false],
  ]
  for (const [version, values, keepAlive] of cases) {
    const fields = values.map((v) => `Connection: ${v}\r\n`).join('')
    const input = `GET / HTTP/${version}\r\n${HOST}${fields}\r\n`
    t.equal(only(t, input).keepAlive, keepAlive, `HTTP/${version} ${JSON.stringify(values)}`)
  }
})

t.test('a later HTTP/1.x minor version is processed as HTTP/1.1 (RFC 9110 section 2.5)', async (t) => {
  for (const version of ['1.2', '1.9']) {
    const head = only(t, `GET / HTTP/${version}\r\n${HOST}\r\n`)
    t.equal(head.versionMinor, 1, version)
    t.ok(head.keepAlive, `${version}: keep-alive as in 1.1`)
  }
  t.equal(statusOf([bytes(`GET / HTTP/1.2\r\n\r\n`)]), 400, 'and needs a Host like 1.1')
})

t.test('Expect: 100-continue and other expectations', async (t) => {
  for (const value of ['100-continue', ' 100-continue ', '\t100-Continue\t', '100-CONTINUE']) {
    t.ok(only(t, `GET / HTTP/1.1\r\n${HOST}Expect:${value}\r\n\r\n`).expectContinue, JSON.stringify(value))
  }
  t.ok(only(t, `GET / HTTP/1.1\r\n${HOST}Expect: 100-continue\r\nExpect: 100-continue\r\n\r\n`).expectContinue, 'twice')
  t.notOk(only(t, `GET / HTTP/1.1\r\n${HOST}\r\n`).expectContinue, 'absent')
  // A list: empty elements are ignored (RFC 9110 section 5.6.1).
  for (const value of ['100-continue,', ', 100-continue', '100-continue, 100-continue']) {
    t.ok(only(t, `GET / HTTP/1.1\r\n${HOST}Expect: ${value}\r\n\r\n`).expectContinue, JSON.stringify(value))
  }
  for (const value of ['', ' ', ',', ' , ']) {
    t.notOk(only(t, `GET / HTTP/1.1\r\n${HOST}Expect:${value}\r\n\r\n`).expectContinue, `empty list ${JSON.stringify(value)}`)
  }
  for (const value of ['foo', '100-continue, foo', 'foo, 100-continue', '100-continuee', '100-continu', '200-continue', '100 continue', '100-continue;a=b']) {
    t.equal(statusOf([bytes(`GET / HTTP/1.1\r\n${HOST}Expect: ${value}\r\n\r\n`)]), 417, JSON.stringify(value))
  }
})

t.test('RequestHead.find, name and value', async (t) => {
  const recorder = new Recorder()
  const input = bytes('GET / HTTP/1.1\r\nHost: a\r\nX-Custom-Header: one\r\nx-custom-header: two\r\nX-Custom-Headex: three\r\nContent-Type:  text/html \r\n\r\n')
  new Parser(recorder).execute(input)
  const head = recorder.heads[0]
  t.equal(head.data, input, 'a head read in one piece is a view of the input')
  t.equal(head.fieldCount, 5)
  t.equal(head.find('host'), 0)
  t.equal(head.find('x-custom-header'), 1, 'the first of two, case-insensitively')
  t.equal(head.find('x-custom-headex'), 3)
  t.equal(head.find('content-type'), 4)
  t.equal(head.value(head.find('content-type')), 'text/html')
  t.equal(head.name(4), 'Content-Type')
  t.equal(head.find('x-custom-heade'), -1, 'a shorter name')
  t.equal(head.find('x-custom-headerz'), -1, 'a longer name')
  t.equal(head.find('y-custom-header'), -1, 'same length, first byte differs')
  t.equal(head.find('x-custom-headez'), -1, 'same length, last byte differs')
  t.equal(head.find(''), -1)
  t.equal(head.find('content-length'), -1)

  const none = new RequestHead(Buffer.alloc(0), 'GET', '/', 0, [], -1, false, false, false)
  t.equal(none.fieldCount, 0)
  t.equal(none.find('host'), -1)
})

// --- 3. Errors -----------------------------------------------------------------------------------

interface ErrorCase {
  name: string
  input: string
  status: number
  limits?: Partial<ParserLimits>
  /** The whole-buffer error message, when it says something worth pinning. */
  message?: RegExp
}

const longExt = 'x'.repeat(4100)

const errorCases: ErrorCase[] = [
  // 400: line endings
  { name: 'bare LF ending the request line', input: `GET / HTTP/1.1\n${HOST}\r\n`, status: 400, message: /Bare LF/ },
  { name: 'bare LF ending a field', input: 'GET / HTTP/1.1\r\nHost: a\n\r\n', status: 400, message: /Bare LF/ },
  { name: 'bare LF as the empty line', input: `GET / HTTP/1.1\r\n${HOST}\n`, status: 400, message: /Bare LF/ },
  { name: 'bare LF before the request line', input: `\nGET / HTTP/1.1\r\n${HOST}\r\n`, status: 400 },
  { name: 'bare CR in a value', input: `GET / HTTP/1.1\r\n${HOST}X: a\rb\r\n\r\n`, status: 400, message: /header value/ },
  { name: 'CR CR LF ending a field', input: `GET / HTTP/1.1\r\n${HOST}X: a\r\r\n\r\n`, status: 400 },
  { name: 'bare CR in the target', input: `GET /a\rb HTTP/1.1\r\n${HOST}\r\n`, status: 400 },
  { name: 'CR CR LF ending the request line', input: `GET / HTTP/1.1\r\r\n${HOST}\r\n`, status: 400 },
  // 400: request line
  { name: 'invalid method char (', input: `G(ET / HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /method/ },
  { name: 'invalid method char @', input: `GE@T / HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /method/ },
  { name: 'non-ASCII method', input: `G\xc9T / HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /method/ },
  { name: 'HTAB after the method', input: `GET\t/ HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /method/ },
  { name: 'empty method', input: ` / HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /method/ },
  { name: 'method alone', input: `GET\r\n${HOST}\r\n`, status: 400, message: /method/ },
  { name: 'two spaces before the target', input: `GET  / HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /target/ },
  { name: 'empty target', input: `GET \r\n${HOST}\r\n`, status: 400, message: /target/ },
  { name: 'DEL in the target', input: `GET /a\x7fb HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /target/ },
  { name: 'HTAB in the target', input: `GET /a\tb HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /target/ },
  { name: 'NUL in the target', input: `GET /a\x00 HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /target/ },
  // RFC 9112 §3.2, RFC 3986: bytes outside the grammar (and those WHATWG URL serializers send
  // raw), malformed %-escapes, %00.
  ...['/a"b', '/<', '/>', '/#', '/a?b#c', '/\x80', '/\xff', '/é', 'http://h/\xe9', '/a?q="x"'].map(
    (target): ErrorCase => ({ name: `${JSON.stringify(target)} in the target`, input: `GET ${target} HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /^Invalid character in request target$/ }),
  ),
  ...['/%', '/%4', '/%4g', '/%g4', '/a?%zz', '/%%41', '/%\r'].map(
    (target): ErrorCase => ({ name: `${JSON.stringify(target)}: malformed %-escape`, input: `GET ${target} HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /^Malformed percent-encoding in request target$/ }),
  ),
  ...['/%00', '/a?b=%00', '/%00%zz'].map(
    (target): ErrorCase => ({ name: `${JSON.stringify(target)}: %00`, input: `GET ${target} HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /^Percent-encoded NUL in request target$/ }),
  ),
  // Even with permissiveTarget: CTLs, SP, DEL and %00.
  ...['/a\x01', '/a\x7f', '/a\x00', '/a\tb', '/%00'].map(
    (target): ErrorCase => ({ name: `${JSON.stringify(target)} with permissiveTarget`, input: `GET ${target} HTTP/1.1\r\n${HOST}\r\n`, status: 400, limits: { permissiveTarget: true }, message: /target/ }),
  ),
  { name: 'missing version', input: `GET /\r\n${HOST}\r\n`, status: 400, message: /Missing HTTP version/ },
  { name: 'HTTP/0.9 style request', input: 'GET /\r\n\r\n', status: 400, message: /Missing HTTP version/ },
  { name: 'empty version', input: `GET / \r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'space after the version', input: `GET / HTTP/1.1 \r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'lower-case http', input: `GET / http/1.1\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HTTP/1', input: `GET / HTTP/1\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HTTP/1.', input: `GET / HTTP/1.\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HTTP/1.x', input: `GET / HTTP/1.x\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HTTP/1.a (hex digit)', input: `GET / HTTP/1.a\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HTTP/a.1 (hex digit)', input: `GET / HTTP/a.1\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HTTP/1,1', input: `GET / HTTP/1,1\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HTTP/11.1', input: `GET / HTTP/11.1\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HTTP/1.10', input: `GET / HTTP/1.10\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HTTPS/1.1', input: `GET / HTTPS/1.1\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HTTP/ 1.1', input: `GET / HTTP/ 1.1\r\n${HOST}\r\n`, status: 400 },
  { name: 'XTTP/1.1', input: `GET / XTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HXTP/1.1', input: `GET / HXTP/1.1\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HTXP/1.1', input: `GET / HTXP/1.1\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HTTX/1.1', input: `GET / HTTX/1.1\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'HTTP-1.1', input: `GET / HTTP-1.1\r\n${HOST}\r\n`, status: 400, message: /version/ },
  { name: 'three parts and a fourth', input: `GET / HTTP/1.1 x\r\n${HOST}\r\n`, status: 400, message: /version/ },
  // 400: target forms
  { name: 'asterisk-form with GET', input: `GET * HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /Asterisk/ },
  { name: 'asterisk-form with a path', input: `OPTIONS */x HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /Asterisk/ },
  { name: 'scheme without //', input: `GET http:/a HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /target/ },
  { name: 'scheme with one /', input: `GET http:a HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /target/ },
  { name: 'no colon', input: `GET http//a HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /target/ },
  { name: 'scheme starting with a digit', input: `GET 1http://a HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /target/ },
  { name: 'invalid char in the scheme', input: `GET ht~tp://a HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /target/ },
  { name: 'authority-form with GET', input: `GET example.com:80 HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /target/ },
  { name: 'query alone', input: `GET ?a=b HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /target/ },
  { name: 'empty scheme', input: `GET ://a HTTP/1.1\r\n${HOST}\r\n`, status: 400, message: /target/ },
  // 400: fields
  { name: 'whitespace before colon', input: `GET / HTTP/1.1\r\nHost : a\r\n\r\n`, status: 400, message: /Whitespace before colon/ },
  { name: 'HTAB before colon', input: `GET / HTTP/1.1\r\n${HOST}X\t: a\r\n\r\n`, status: 400, message: /Whitespace before colon/ },
  { name: 'obs-fold with SP', input: `GET / HTTP/1.1\r\n${HOST}X: a\r\n b\r\n\r\n`, status: 400, message: /folding/ },
  { name: 'obs-fold with HTAB', input: `GET / HTTP/1.1\r\n${HOST}X: a\r\n\tb\r\n\r\n`, status: 400, message: /folding/ },
  { name: 'space before the first field', input: `GET / HTTP/1.1\r\n ${HOST}\r\n`, status: 400, message: /folding/ },
  { name: 'invalid name char (', input: `GET / HTTP/1.1\r\n${HOST}X(y): a\r\n\r\n`, status: 400, message: /header name/ },
  { name: 'non-ASCII name', input: `GET / HTTP/1.1\r\n${HOST}X\xe9: a\r\n\r\n`, status: 400, message: /header name/ },
  { name: 'empty name', input: `GET / HTTP/1.1\r\n${HOST}: a\r\n\r\n`, status: 400, message: /header name/ },
  { name: 'field without colon', input: `GET / HTTP/1.1\r\n${HOST}NoColon\r\n\r\n`, status: 400, message: /header name/ },
  { name: 'NUL in a value', input: `GET / HTTP/1.1\r\n${HOST}X: a\x00b\r\n\r\n`, status: 400, message: /header value/ },
  { name: 'CTL 0x01 in a value', input: `GET / HTTP/1.1\r\n${HOST}X: \x01\r\n\r\n`, status: 400, message: /header value/ },
  { name: 'ESC in a value', input: `GET / HTTP/1.1\r\n${HOST}X: a\x1b[0m\r\n\r\n`, status: 400, message: /header value/ },
  { name: 'DEL in a value', input: `GET / HTTP/1.1\r\n${HOST}X: a\x7f\r\n\r\n`, status: 400, message: /header value/ },
  // 400: Host
  { name: 'missing Host on 1.1', input: 'GET / HTTP/1.1\r\nX: y\r\n\r\n', status: 400, message: /Missing Host/ },
  { name: 'no fields at all on 1.1', input: 'GET / HTTP/1.1\r\n\r\n', status: 400, message: /Missing Host/ },
  { name: 'two Host fields', input: 'GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n', status: 400, message: /Multiple Host/ },
  { name: 'two Host fields on 1.0', input: 'GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n', status: 400, message: /Multiple Host/ },
  // 400: framing
  { name: 'CL then TE', input: `POST / HTTP/1.1\r\n${HOST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`, status: 400, message: /Both/ },
  { name: 'TE then CL', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n`, status: 400, message: /Both/ },
  { name: 'TE on HTTP/1.0', input: 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', status: 400, message: /HTTP\/1.0/ },
  { name: 'TE gzip alone', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip\r\n\r\n`, status: 400, message: /end with chunked/ },
  { name: 'TE identity', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: identity\r\n\r\n`, status: 400, message: /end with chunked/ },
  { name: 'TE empty', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding:\r\n\r\n`, status: 400, message: /end with chunked/ },
  { name: 'TE chunkedx', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunkedx\r\n\r\n`, status: 400, message: /end with chunked/ },
  { name: 'TE chunked with a parameter', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked;q=1\r\n\r\n`, status: 400 },
  { name: 'TE chunked, gzip', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked, gzip\r\n\r\n`, status: 400, message: /after chunked/ },
  { name: 'TE chunked then gzip in two fields', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n`, status: 400, message: /after chunked/ },
  { name: 'TE chunked twice', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked, chunked\r\n\r\n`, status: 400, message: /after chunked/ },
  { name: 'TE chunked in two fields', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`, status: 400, message: /after chunked/ },
  ...['+5', '-1', '0x5', '1_0', '', ' ', '1.0', '5;', '5 5', 'five', '\xb5', '9007199254740992', '99999999999999999999'].map(
    (value): ErrorCase => ({
      name: `Content-Length ${JSON.stringify(value)}`,
      input: `POST / HTTP/1.1\r\n${HOST}Content-Length: ${value}\r\n\r\n`,
      status: 400,
      message: /Invalid Content-Length/,
    }),
  ),
  // Lists and repeated fields, even of equal values (RFC 9112 §6.3 (5) lets a recipient refuse them).
  ...['5,', ',5', '5,,5', '5, 6', '5, 5', '5,5'].map(
    (value): ErrorCase => ({
      name: `Content-Length list ${JSON.stringify(value)}`,
      input: `POST / HTTP/1.1\r\n${HOST}Content-Length: ${value}\r\n\r\nhello`,
      status: 400,
      message: /Content-Length in list form/,
    }),
  ),
  { name: 'Content-Length fields 5 and 6', input: `POST / HTTP/1.1\r\n${HOST}Content-Length: 5\r\nContent-Length: 6\r\n\r\n`, status: 400, message: /Multiple Content-Length/ },
  { name: 'two Content-Length fields of 5', input: `POST / HTTP/1.1\r\n${HOST}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, status: 400, message: /Multiple Content-Length/ },
  { name: 'Content-Length 005 and 5', input: `POST / HTTP/1.1\r\n${HOST}Content-Length: 005\r\ncontent-length: 5\r\n\r\nhello`, status: 400, message: /Multiple Content-Length/ },
  { name: 'Content-Length fields 0 and 00 then 1', input: `POST / HTTP/1.1\r\n${HOST}Content-Length: 0\r\nContent-Length: 00, 1\r\n\r\n`, status: 400, message: /Multiple Content-Length/ },
  // Repeated fields that are not lists and say how to read the body (RFC 9110 §5.3): refused.
  { name: 'two Content-Type fields', input: `POST / HTTP/1.1\r\n${HOST}Content-Type: text/plain\r\ncontent-type: application/json\r\nContent-Length: 2\r\n\r\n{}`, status: 400, message: /^Multiple Content-Type fields$/ },
  { name: 'two equal Content-Type fields', input: `POST / HTTP/1.1\r\n${HOST}CONTENT-TYPE: text/plain\r\nContent-Type: text/plain\r\n\r\n`, status: 400, message: /^Multiple Content-Type fields$/ },
  { name: 'an empty Content-Type field, then one', input: `GET / HTTP/1.1\r\n${HOST}Content-Type:\r\nContent-Type: text/plain\r\n\r\n`, status: 400, message: /^Multiple Content-Type fields$/ },
  { name: 'two Content-Range fields', input: `PUT / HTTP/1.1\r\n${HOST}Content-Range: bytes 0-1/4\r\nContent-Range: bytes 2-3/4\r\nContent-Length: 2\r\n\r\nab`, status: 400, message: /^Multiple Content-Range fields$/ },
  { name: 'empty Host on 1.1', input: 'GET / HTTP/1.1\r\nHost:\r\n\r\n', status: 400, message: /Empty Host/ },
  { name: 'Content_Length', input: `POST / HTTP/1.1\r\n${HOST}content_length: 5\r\n\r\nhello`, status: 400, message: /^Content_Length is ambiguous$/ },
  { name: 'Transfer_Encoding', input: `POST / HTTP/1.1\r\n${HOST}Transfer_encoding: chunked\r\n\r\n0\r\n\r\n`, status: 400, message: /^Transfer_Encoding is ambiguous$/ },
  { name: 'Transfer_Encoding after a Content-Length', input: `POST / HTTP/1.1\r\n${HOST}Content-Length: 5\r\nTRANSFER_ENCODING: chunked\r\n\r\nhello`, status: 400, message: /ambiguous/ },
  { name: 'blank Host on 1.0', input: 'GET / HTTP/1.0\r\nHost: \t \r\n\r\n', status: 400, message: /Empty Host/ },
  ...['Content-Length: 5', 'transfer-encoding: chunked', 'Host: a', 'Authorization: Basic YTpi', 'Cookie: a=b', 'Content-Type: text/plain', 'If-Unmodified-Since: x', 'Proxy-Authorization: x'].map(
    (field): ErrorCase => ({
      name: `forbidden trailer ${field}`,
      input: `${CHUNKED_HEAD}0\r\nX: y\r\n${field}\r\n\r\n`,
      status: 400,
      message: new RegExp(`^${field.slice(0, field.indexOf(':')).toLowerCase()} is not allowed in trailers$`),
    }),
  ),
  // 400: chunked body
  ...['g', '\r\n', '-1', ';a', ' 5', '5\n', '5x', '0x5', '5\x00'].map(
    (size): ErrorCase => ({
      name: `chunk size ${JSON.stringify(size)}`,
      input: `${CHUNKED_HEAD}${size}\r\nhello\r\n0\r\n\r\n`,
      status: 400,
      message: /Invalid chunk size/,
    }),
  ),
  { name: 'whitespace after the chunk size without an extension (RFC 9112 7.1.1)', input: `${CHUNKED_HEAD}5 \r\nhello\r\n0\r\n\r\n`, status: 400, message: /chunk extension/ },
  { name: 'HTTP/0.9-style request line is refused at once', input: 'GET /\r\n', status: 400, message: /Missing HTTP version/ },
  { name: 'chunk size CR without LF', input: `${CHUNKED_HEAD}5\rhello\r\n0\r\n\r\n`, status: 400, message: /chunk size line/ },
  { name: 'chunk size 2^53', input: `${CHUNKED_HEAD}20000000000000\r\n`, status: 400, message: /too large/ },
  { name: 'chunk size 2^64', input: `${CHUNKED_HEAD}10000000000000000\r\n`, status: 400, message: /too large/ },
  { name: 'chunk size of 40 f', input: `${CHUNKED_HEAD}${'f'.repeat(40)}\r\n`, status: 400, message: /too large/ },
  { name: 'chunk data longer than its size', input: `${CHUNKED_HEAD}3\r\nabcd\r\n0\r\n\r\n`, status: 400, message: /Missing CRLF/ },
  { name: 'chunk data with CR but no LF', input: `${CHUNKED_HEAD}3\r\nabc\rX0\r\n\r\n`, status: 400, message: /Missing CRLF/ },
  { name: 'chunk data with bare LF', input: `${CHUNKED_HEAD}3\r\nabc\n0\r\n\r\n`, status: 400, message: /Missing CRLF/ },
  { name: 'chunk extension without ;', input: `${CHUNKED_HEAD}5 x\r\nhello\r\n0\r\n\r\n`, status: 400, message: /extension/ },
  { name: 'NUL in a chunk extension', input: `${CHUNKED_HEAD}5;a\x00\r\nhello\r\n0\r\n\r\n`, status: 400, message: /extension/ },
  { name: 'bare LF in a chunk extension', input: `${CHUNKED_HEAD}5;a\nhello\r\n0\r\n\r\n`, status: 400, message: /extension/ },
  ...['5;a b', '5;=', '5;=b', '5;a=', '5;a= ', '5;a=b c', '5;a="b', '5;a="b"c', '5;a=b"', '5;a@b', '5; ;a', '5;;a', '5;a="\x01"', '5;a="\\\x00"', '5;a=b;', '5 ; '].map(
    (line): ErrorCase => ({
      name: `chunk extension off the grammar: ${JSON.stringify(line)} (RFC 9112 7.1.1)`,
      input: `${CHUNKED_HEAD}${line}\r\nhello\r\n0\r\n\r\n`,
      status: 400,
      message: /chunk extension/,
    }),
  ),
  { name: 'chunk extension too long', input: `${CHUNKED_HEAD}5;${longExt}\r\nhello\r\n0\r\n\r\n`, status: 400, message: /too long/ },
  { name: 'chunk BWS too long', input: `${CHUNKED_HEAD}5${' '.repeat(4100)};a\r\nhello\r\n0\r\n\r\n`, status: 400, message: /too long/ },
  { name: 'trailer with an empty name', input: `${CHUNKED_HEAD}0\r\n: x\r\n\r\n`, status: 400, message: /trailer/ },
  { name: 'trailer with space before colon', input: `${CHUNKED_HEAD}0\r\nX : y\r\n\r\n`, status: 400, message: /trailer/ },
  { name: 'trailer without colon', input: `${CHUNKED_HEAD}0\r\nX\r\n\r\n`, status: 400, message: /trailer/ },
  { name: 'trailer obs-fold', input: `${CHUNKED_HEAD}0\r\nX: y\r\n z\r\n\r\n`, status: 400, message: /trailer/ },
  { name: 'NUL in a trailer value', input: `${CHUNKED_HEAD}0\r\nX: \x00\r\n\r\n`, status: 400, message: /trailer/ },
  { name: 'bare LF in a trailer', input: `${CHUNKED_HEAD}0\r\nX: y\n\r\n`, status: 400, message: /trailer/ },
  { name: 'bare CR in a trailer', input: `${CHUNKED_HEAD}0\r\nX: y\rZ: w\r\n\r\n`, status: 400, message: /trailer/ },
  { name: 'bad end of the chunked body', input: `${CHUNKED_HEAD}0\r\n\rX`, status: 400, message: /end of chunked/ },
  { name: 'bare LF ending the chunked body', input: `${CHUNKED_HEAD}0\r\n\n`, status: 400, message: /trailer/ },
  // 413
  { name: 'Content-Length over maxBodySize', input: `POST / HTTP/1.1\r\n${HOST}Content-Length: 11\r\n\r\n`, status: 413, limits: { maxBodySize: 10 } },
  { name: 'Content-Length over the default maxBodySize', input: `POST / HTTP/1.1\r\n${HOST}Content-Length: ${2 ** 30 + 1}\r\n\r\n`, status: 413 },
  { name: 'one chunk over maxBodySize', input: `${CHUNKED_HEAD}b\r\n`, status: 413, limits: { maxBodySize: 10 } },
  { name: 'chunks growing past maxBodySize', input: `${CHUNKED_HEAD}6\r\nabcdef\r\n5\r\n`, status: 413, limits: { maxBodySize: 10 } },
  { name: 'largest safe chunk size over the default limit', input: `${CHUNKED_HEAD}1fffffffffffff\r\n`, status: 413 },
  // 414
  { name: 'request line too long, whole line', input: `GET /${'a'.repeat(30)} HTTP/1.1\r\n${HOST}\r\n`, status: 414, limits: { maxRequestLineSize: 32 } },
  { name: 'request line too long, still incomplete', input: `GET /${'a'.repeat(30)}`, status: 414, limits: { maxRequestLineSize: 32 } },
  { name: 'request line over the default 8 KiB, incomplete', input: `GET /${'a'.repeat(8192)}`, status: 414 },
  // 431
  { name: 'head too large', input: `GET / HTTP/1.1\r\n${HOST}${'X: aaaaaaaaaa\r\n'.repeat(8)}\r\n`, status: 431, limits: { maxHeadSize: 100 }, message: /header too large/ },
  { name: 'head too large, incomplete', input: `GET / HTTP/1.1\r\n${HOST}X: ${'a'.repeat(200)}`, status: 431, limits: { maxHeadSize: 100 }, message: /header too large/ },
  { name: 'head too large only with its empty line', input: `GET / HTTP/1.1\r\n${HOST}X: 12345\r\n\r\n`, status: 431, limits: { maxHeadSize: 35 }, message: /header too large/ },
  { name: 'one field too large', input: `GET / HTTP/1.1\r\n${HOST}X-Long: ${'a'.repeat(40)}\r\n\r\n`, status: 431, limits: { maxHeaderSize: 30 }, message: /field too large/ },
  { name: 'one field too large, incomplete', input: `GET / HTTP/1.1\r\n${HOST}X-Long: ${'a'.repeat(40)}`, status: 431, limits: { maxHeaderSize: 30 }, message: /field too large/ },
  { name: 'too many fields', input: `GET / HTTP/1.1\r\n${HOST}A: 1\r\nB: 2\r\n\r\n`, status: 431, limits: { maxHeaderCount: 2 }, message: /Too many/ },
  { name: 'more than the default 100 fields', input: `GET / HTTP/1.1\r\n${HOST}${'X: y\r\n'.repeat(100)}\r\n`, status: 431, message: /Too many/ },
  { name: 'trailers too large', input: `${CHUNKED_HEAD}0\r\n${'X: aaaaaaaaaa\r\n'.repeat(10)}\r\n`, status: 431, limits: { maxHeadSize: 100 }, message: /Trailer/ },
  // 501
  { name: 'TE gzip, chunked', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip, chunked\r\n\r\n`, status: 501 },
  { name: 'TE deflate,chunked', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: deflate,chunked\r\n\r\n`, status: 501 },
  { name: 'TE gzip then chunked in two fields', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n`, status: 501 },
  { name: 'CONNECT', input: `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`, status: 501 },
  // 505
  ...['2.0', '0.9', '3.0', '9.9', '0.0'].map(
    (version): ErrorCase => ({ name: `HTTP/${version}`, input: `GET / HTTP/${version}\r\n${HOST}\r\n`, status: 505 }),
  ),
  // 417
  { name: 'Expect: foo', input: `GET / HTTP/1.1\r\n${HOST}Expect: foo\r\n\r\n`, status: 417 },
]

t.test('each error status with the input that produces it', async (t) => {
  for (const c of errorCases) {
    const buf = bytes(c.input)
    const result = parse([buf], c.limits)
    t.equal(result.error?.status, c.status, `${c.name}: ${c.status}`)
    const message = result.error?.message ?? ''
    t.match(message, /^[^\r\n]+$/, `${c.name}: a one-line message`)
    if (c.message !== undefined) t.match(message, c.message, `${c.name}: message`)
    t.ok(result.dead && !result.idle, `${c.name}: dead`)
    t.equal(statusOf(byteByByte(buf), c.limits), c.status, `${c.name}: same status byte by byte`)
  }
})

t.test('the error is an HttpError and the dead parser ignores what follows', async (t) => {
  for (const c of errorCases) {
    const recorder = new Recorder()
    const parser = new Parser(recorder, limitsWith(c.limits))
    const err = t.throws(() => parser.execute(bytes(c.input)), c.name) as unknown
    t.ok(err instanceof HttpError && err.name === 'HttpError' && err.status === c.status, `${c.name}: HttpError ${c.status}`)
    t.ok(parser.dead && !parser.idle && !parser.headPending, `${c.name}: dead`)
    const events = recorder.messages.length
    const next = bytes('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    t.equal(parser.execute(next), next.length, `${c.name}: later input is swallowed`)
    t.equal(recorder.messages.length, events, `${c.name}: and gives no events`)
  }
})

t.test('requests before an error are delivered; the error comes at the bad byte', async (t) => {
  const good = 'POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc'
  const result = parse([bytes(good + 'GET / HTTP/1.1\r\nHost : a\r\n\r\n')])
  t.same(result.messages.map((m) => [m.url, m.body, m.complete]), [['/1', 'abc', true]])
  t.equal(result.error?.status, 400)

  const chunked = parse([bytes(`${CHUNKED_HEAD}3\r\nabc\r\n3\r\ndefX\r\n`)])
  t.same(chunked.messages.map((m) => [m.body, m.complete]), [['abcdef', false]], 'data before the bad CRLF went out')
  t.equal(chunked.error?.status, 400)
})

interface AcceptCase {
  name: string
  input: string
  limits?: Partial<ParserLimits>
  expect: Partial<Message>
}

const acceptCases: AcceptCase[] = [
  { name: 'Content-Length with OWS', input: `POST / HTTP/1.1\r\n${HOST}Content-Length: \t5 \t\r\n\r\nhello`, expect: { contentLength: 5, body: 'hello' } },
  { name: 'Content-Length 0000', input: `POST / HTTP/1.1\r\n${HOST}Content-Length: 0000\r\n\r\n`, expect: { contentLength: 0, body: '' } },
  { name: 'Content-Length 2^53 - 1 under a large limit', input: `POST / HTTP/1.1\r\n${HOST}Content-Length: 9007199254740991\r\n\r\nabc`, limits: { maxBodySize: Number.MAX_SAFE_INTEGER }, expect: { contentLength: Number.MAX_SAFE_INTEGER, body: 'abc', complete: false } },
  { name: 'Content-Length equal to maxBodySize', input: `POST / HTTP/1.1\r\n${HOST}Content-Length: 10\r\n\r\n0123456789`, limits: { maxBodySize: 10 }, expect: { contentLength: 10, body: '0123456789' } },
  { name: 'chunks adding up to maxBodySize', input: `${CHUNKED_HEAD}6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n`, limits: { maxBodySize: 10 }, expect: { chunked: true, body: 'abcdefghij' } },
  { name: 'chunk size 2^53 - 1 under a large limit', input: `${CHUNKED_HEAD}1FFFFFFFFFFFFF\r\nabc`, limits: { maxBodySize: Number.MAX_SAFE_INTEGER }, expect: { chunked: true, body: 'abc', complete: false } },
  { name: 'chunk extension with BWS', input: `${CHUNKED_HEAD}5 ;a=b\r\nhello\r\n0\r\n\r\n`, expect: { chunked: true, body: 'hello' } },
  { name: 'chunk extension with HTAB BWS', input: `${CHUNKED_HEAD}5\t \t;a=b\r\nhello\r\n0 ;x\r\n\r\n`, expect: { chunked: true, body: 'hello' } },
  { name: 'chunk extensions, several', input: `${CHUNKED_HEAD}5;a;b=c;d="e;f"\r\nhello\r\n0\r\n\r\n`, expect: { chunked: true, body: 'hello' } },
  { name: 'chunk extension values: tokens and quoted strings with escapes', input: `${CHUNKED_HEAD}5;a=b;c="d \\"e\\\\ f;g=h" ; i = j\t;k\r\nhello\r\n0;x="\xe9\\\xff"\r\n\r\n`, expect: { chunked: true, body: 'hello' } },
  { name: 'chunk extension with blanks before the line end', input: `${CHUNKED_HEAD}5;a \r\nhello\r\n0;b=c\t\r\n\r\n`, expect: { chunked: true, body: 'hello' } },
  { name: 'chunk extension of exactly 4096 bytes', input: `${CHUNKED_HEAD}5;${'x'.repeat(4095)}\r\nhello\r\n0\r\n\r\n`, expect: { chunked: true, body: 'hello' } },
  { name: 'upper-case hex chunk sizes', input: `${CHUNKED_HEAD}A\r\n0123456789\r\nB\r\n0123456789a\r\n0\r\n\r\n`, expect: { chunked: true, body: '01234567890123456789a' } },
  { name: 'mixed-case hex chunk size', input: `${CHUNKED_HEAD}1aB\r\n${'z'.repeat(0x1ab)}\r\n0\r\n\r\n`, expect: { chunked: true, body: 'z'.repeat(0x1ab) } },
  { name: 'leading zeros in a chunk size', input: `${CHUNKED_HEAD}00000000000000000000005\r\nhello\r\n00\r\n\r\n`, expect: { chunked: true, body: 'hello' } },
  { name: 'trailers', input: `${CHUNKED_HEAD}0\r\nX: y\r\nEmpty:\r\nObs: \x80\t\xff\r\n\r\n`, expect: { chunked: true } },
  { name: 'names of the length of framing fields', input: `GET / HTTP/1.1\r\n${HOST}Content_Lengtx: 1\r\nX_Content_Type: a\r\nTransfer_Encodinx: b\r\nA-Transfer-Codin: c\r\n\r\n`, expect: { contentLength: -1, chunked: false } },
  { name: 'one Content-Type and one Content-Range', input: `PUT / HTTP/1.1\r\n${HOST}Content-Type: text/plain\r\nContent-Range: bytes 0-1/4\r\nContent-Length: 2\r\n\r\nab`, expect: { contentLength: 2, body: 'ab' } },
  // Repeated: names as long as Content-Type and Content-Range, and list fields about the content.
  { name: 'repeats that are not Content-Type or Content-Range', input: `GET / HTTP/1.1\r\n${HOST}Content-Typx: a\r\nContent-Typx: b\r\nCache-Control: a\r\nCache-Control: b\r\nContent-Rangx: a\r\nContent-Rangx: b\r\nContent-Encoding: gzip\r\nContent-Encoding: br\r\nContent-Language: en\r\nContent-Language: fr\r\n\r\n`, expect: { contentLength: -1 } },
  // Names that only start like forbidden ones, or are too long to be one.
  { name: 'trailers named like forbidden ones', input: `${CHUNKED_HEAD}0\r\nHosts: a\r\nContent-Lengths: 1\r\nX-Content-Type: a\r\nProxy-Authorization-Extra: b\r\nServer-Timing: a\r\nVary: *\r\n\r\n`, expect: { chunked: true } },
  { name: 'TE with empty list elements', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: , chunked ,\r\n\r\n0\r\n\r\n`, expect: { chunked: true } },
  { name: 'TE Chunked with OWS', input: `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding:\tChunked\t\r\n\r\n0\r\n\r\n`, expect: { chunked: true } },
  { name: 'method M-SEARCH', input: `M-SEARCH * HTTP/1.1\r\n${HOST}\r\n`.replace('*', '/'), expect: { method: 'M-SEARCH' } },
  { name: 'method PURGE', input: `PURGE /x HTTP/1.1\r\n${HOST}\r\n`, expect: { method: 'PURGE', url: '/x' } },
  { name: 'lower-case method get', input: `get / HTTP/1.1\r\n${HOST}\r\n`, expect: { method: 'get' } },
  { name: 'method of every tchar', input: `!#$%&'*+-.^_\`|~09azAZ / HTTP/1.1\r\n${HOST}\r\n`, expect: { method: "!#$%&'*+-.^_`|~09azAZ" } },
  ...['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'LINK'].map(
    (method): AcceptCase => ({ name: `method ${method}`, input: `${method} / HTTP/1.1\r\n${HOST}\r\n`, expect: { method } }),
  ),
  { name: 'absolute-form http://example.com/a?b', input: `GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n`, expect: { url: 'http://example.com/a?b' } },
  { name: 'absolute-form HTTPS upper case', input: `GET HTTPS://EXAMPLE.COM HTTP/1.1\r\n${HOST}\r\n`, expect: { url: 'HTTPS://EXAMPLE.COM' } },
  { name: 'absolute-form scheme with + - . and digits', input: `GET coap+tcp.v2-x://h/ HTTP/1.1\r\n${HOST}\r\n`, expect: { url: 'coap+tcp.v2-x://h/' } },
  { name: 'OPTIONS *', input: `OPTIONS * HTTP/1.1\r\n${HOST}\r\n`, expect: { method: 'OPTIONS', url: '*' } },
  // Every byte of RFC 3986's grammar, and those WHATWG URL serializers send raw (see docs/http.md).
  { name: 'every byte of the target grammar', input: `GET /AZaz09-._~!$&'()*+,;=:@/%41%7e%C3%A9?/?:@%20 HTTP/1.1\r\n${HOST}\r\n`, expect: { url: "/AZaz09-._~!$&'()*+,;=:@/%41%7e%C3%A9?/?:@%20" } },
  { name: 'what browsers and fetch send raw', input: `GET /a|b^c[d]?q=|{}^\`[]\\ HTTP/1.1\r\n${HOST}\r\n`, expect: { url: '/a|b^c[d]?q=|{}^`[]\\' } },
  { name: 'absolute-form with an IPv6 literal', input: `GET http://[::1]:8080/a HTTP/1.1\r\n${HOST}\r\n`, expect: { url: 'http://[::1]:8080/a' } },
  { name: 'permissiveTarget: bytes outside the grammar', input: `GET /a"<>\xe9%zz%4?q=#f% HTTP/1.1\r\n${HOST}\r\n`, limits: { permissiveTarget: true }, expect: { url: '/a"<>\xe9%zz%4?q=#f%' } },
  { name: 'OPTIONS with a path', input: `OPTIONS /x HTTP/1.1\r\n${HOST}\r\n`, expect: { method: 'OPTIONS', url: '/x' } },
  { name: 'HTTP/1.0 without Host', input: 'GET / HTTP/1.0\r\n\r\n', expect: { versionMinor: 0, keepAlive: false } },
  { name: 'POST without a length has no body', input: `POST / HTTP/1.1\r\n${HOST}\r\n`, expect: { method: 'POST', contentLength: -1, body: '' } },
]

t.test('inputs the grammar allows are accepted', async (t) => {
  for (const c of acceptCases) {
    const buf = bytes(c.input)
    const result = parse([buf], c.limits)
    t.equal(result.error, null, `${c.name}: accepted`)
    const m = result.messages[0]
    t.ok(m, `${c.name}: a message`)
    if (m === undefined) continue
    const picked: Record<string, unknown> = {}
    for (const key of Object.keys(c.expect)) picked[key] = m[key as keyof Message]
    t.same(picked, c.expect, c.name)
    if (!('complete' in c.expect)) t.ok(m.complete, `${c.name}: complete`)
    t.same(parse(byteByByte(buf), c.limits), result, `${c.name}: byte by byte`)
  }
})

t.test('limits: the largest allowed size passes, one byte more fails', async (t) => {
  const line = `GET /${'a'.repeat(20)} HTTP/1.1\r\n`
  const request = `${line}${HOST}\r\n`
  for (const split of [false, true]) {
    const feed = (input: string): Buffer[] => (split ? byteByByte(bytes(input)) : [bytes(input)])
    const how = split ? 'byte by byte' : 'whole'
    t.equal(statusOf(feed(request), { maxRequestLineSize: line.length }), 0, `request line at its limit, ${how}`)
    t.equal(statusOf(feed(request), { maxRequestLineSize: line.length - 1 }), 414, `request line over, ${how}`)
    // The status names the part that is too long: the method or the version is a malformed line.
    t.equal(statusOf(feed(`${'M'.repeat(30)} / HTTP/1.1\r\n${HOST}\r\n`), { maxRequestLineSize: 20 }), 400, `method over, ${how}`)
    t.equal(statusOf(feed(`GET / HTTP/1.1${'1'.repeat(20)}\r\n${HOST}\r\n`), { maxRequestLineSize: 20 }), 400, `version over, ${how}`)
    t.equal(statusOf(feed(`GET / XTTP/1.1\r\n${HOST}\r\n`), { maxRequestLineSize: 12 }), 400, `a wrong version cut by the limit, ${how}`)
    t.equal(statusOf(feed(`GET / HTTP/-.1\r\n${HOST}\r\n`), { maxRequestLineSize: 13 }), 400, `a version without its digit, cut by the limit, ${how}`)
    t.equal(statusOf(feed(`GET /${'a'.repeat(9)} HTTP/1.1\r\n${HOST}\r\n`), { maxRequestLineSize: 20 }), 414, `target over with the version cut by the limit, ${how}`)
    t.equal(statusOf(feed('\r\n\r\n' + request), { maxRequestLineSize: line.length }), 0, `leading empty lines do not count, ${how}`)

    const field = `X-Long: ${'v'.repeat(20)}\r\n`
    const withField = `GET / HTTP/1.1\r\n${HOST}${field}\r\n`
    t.equal(statusOf(feed(withField), { maxHeaderSize: field.length }), 0, `field at its limit, ${how}`)
    t.equal(statusOf(feed(withField), { maxHeaderSize: field.length - 1 }), 431, `field over, ${how}`)

    t.equal(statusOf(feed(withField), { maxHeadSize: withField.length }), 0, `head at its limit, ${how}`)
    t.equal(statusOf(feed('\r\n' + withField), { maxHeadSize: withField.length }), 0, `leading empty lines are not head, ${how}`)
    t.equal(statusOf(feed(withField), { maxHeadSize: withField.length - 1 }), 431, `head over, ${how}`)

    const three = `GET / HTTP/1.1\r\n${HOST}A: 1\r\nB: 2\r\n\r\n`
    t.equal(statusOf(feed(three), { maxHeaderCount: 3 }), 0, `field count at its limit, ${how}`)
    t.equal(statusOf(feed(three), { maxHeaderCount: 2 }), 431, `field count over, ${how}`)
    t.equal(statusOf(feed(`GET / HTTP/1.1\r\n${HOST}${'X: y\r\n'.repeat(99)}\r\n`)), 0, `100 fields by default, ${how}`)

    // The trailer section (fields and the final CRLF) is held to maxHeadSize too.
    const section = `${'X: aaaaaaaaaa\r\n'.repeat(4)}\r\n`
    const trailers = `${CHUNKED_HEAD}0\r\n${section}`
    t.equal(statusOf(feed(trailers), { maxHeadSize: section.length }), 0, `trailers at the limit, ${how}`)
    t.equal(statusOf(feed(trailers), { maxHeadSize: section.length - 1 }), 431, `trailers over, ${how}`)
  }
})

// --- 4. Zero-copy --------------------------------------------------------------------------------

t.test('a body is handed over as views of the input, never copies', async (t) => {
  const head = `POST / HTTP/1.1\r\n${HOST}Content-Length: 11\r\n\r\n`
  const input = bytes(head + 'hello world')
  const recorder = new Recorder()
  new Parser(recorder).execute(input)
  t.equal(recorder.chunks.length, 1, 'one piece')
  const [chunk] = recorder.chunks
  t.equal(chunk.buffer, input.buffer, 'same memory as the input')
  t.equal(chunk.byteOffset, input.byteOffset + head.length, 'starting after the head')
  t.equal(chunk.length, 11)
  t.ok(chunk.equals(input.subarray(head.length)), 'equal to the input slice')
  input[head.length] = 0x48
  t.equal(chunk.toString(), 'Hello world', 'a view: writes to the input show through')

  // A buffer that is all body is handed over as is.
  const recorder2 = new Recorder()
  const parser = new Parser(recorder2)
  parser.execute(bytes(head))
  const body = bytes('hello world')
  parser.execute(body)
  t.equal(recorder2.chunks[0], body, 'the very buffer given to execute')

  // A buffer with body and more: the body piece is an exact view.
  const recorder3 = new Recorder()
  const parser3 = new Parser(recorder3)
  parser3.execute(bytes(head + 'hello'))
  const rest = bytes(' worldGET / HTTP/1.1\r\nHost: a\r\n\r\n')
  parser3.execute(rest)
  const second = recorder3.chunks[1]
  t.equal(second.buffer, rest.buffer)
  t.equal(second.byteOffset, rest.byteOffset)
  t.equal(second.length, 6)
  t.equal(recorder3.messages.length, 2)

  // Chunk data too.
  const chunkedInput = bytes(`${CHUNKED_HEAD}5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`)
  const recorder4 = new Recorder()
  new Parser(recorder4).execute(chunkedInput)
  t.equal(recorder4.chunks.length, 2)
  for (const c of recorder4.chunks) t.equal(c.buffer, chunkedInput.buffer, 'chunk data is a view')
  t.equal(recorder4.chunks[0].byteOffset - chunkedInput.byteOffset, CHUNKED_HEAD.length + 3)

  // A Buffer from the pool (non-zero byteOffset) works the same.
  const pooled = Buffer.from(head + 'hello world', 'latin1')
  const recorder5 = new Recorder()
  new Parser(recorder5).execute(pooled)
  t.equal(recorder5.chunks[0].buffer, pooled.buffer)
  t.equal(recorder5.chunks[0].toString(), 'hello world')
})

// --- 5. Pause and resume -------------------------------------------------------------------------

type Hook = 'request' | 'body' | 'complete'

/** A recorder that pauses its parser at every event of the given kinds. */
function pausing(hooks: Hook[]): { recorder: Recorder; parser: Parser } {
  const recorder = new Recorder()
  const handler: ParserHandler = {
    onRequest(head) {
      recorder.onRequest(head)
      if (hooks.includes('request')) parser.pause()
    },
    onBody(chunk) {
      recorder.onBody(chunk)
      if (hooks.includes('body')) parser.pause()
    },
    onMessageComplete() {
      recorder.onMessageComplete()
      if (hooks.includes('complete')) parser.pause()
    },
  }
  const parser = new Parser(handler)
  return { recorder, parser }
}

/** Feeds `input` like a connection would: after a short execute, resume and feed the rest. */
function drive(parser: Parser, input: Buffer): number[] {
  const consumed: number[] = []
  let rest = input
  for (let guard = 0; guard < 1000; guard++) {
    const n = parser.execute(rest)
    consumed.push(n)
    parser.resume()
    if (n === rest.length) return consumed
    rest = rest.subarray(n)
  }
  throw new Error('no progress')
}

const pipelineRequests = [
  'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n',
  'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello',
  `${CHUNKED_HEAD}3\r\nabc\r\n2\r\nde\r\n0\r\nX: y\r\n\r\n`,
  '\r\nGET /4 HTTP/1.1\r\nHost: a\r\n\r\n',
]
const pipeline = bytes(pipelineRequests.join(''))
const pipelineExpected = parse([pipeline])

t.test('pausing in onMessageComplete stops at the end of each request', async (t) => {
  t.equal(pipelineExpected.messages.length, 4)
  const { recorder, parser } = pausing(['complete'])
  const consumed = drive(parser, pipeline)
  t.same(consumed, pipelineRequests.map((r) => r.length), 'one request per execute')
  t.same(recorder.messages, pipelineExpected.messages, 'same events as without pauses')
  t.ok(parser.idle)
})

t.test('pausing in onRequest and onBody', async (t) => {
  // Stops: after each head (the bodiless ones complete at the same place), after each body
  // piece (the last one completes there too), and after the chunked body's trailers.
  const cases: [Hook[], number][] = [
    [['request'], 4],
    [['body'], 4],
    [['request', 'body'], 7],
    [['request', 'body', 'complete'], 8],
  ]
  for (const [hooks, executes] of cases) {
    const { recorder, parser } = pausing(hooks)
    const consumed = drive(parser, pipeline)
    t.equal(consumed.reduce((a, b) => a + b, 0), pipeline.length, `${hooks}: every byte consumed once`)
    t.equal(consumed.length, executes, `${hooks}: executes`)
    t.same(recorder.messages, pipelineExpected.messages, `${hooks}: same events`)
  }

  const { recorder, parser } = pausing(['request'])
  const input = bytes('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello')
  t.equal(parser.execute(input), input.length - 5, 'stops right after the head')
  t.equal(recorder.chunks.length, 0, 'no body yet')
  t.equal(parser.execute(input.subarray(input.length - 5)), 0, 'still paused: consumes nothing')
  t.equal(recorder.chunks.length, 0, 'and emits nothing')
  parser.resume()
  t.equal(parser.execute(input.subarray(input.length - 5)), 5)
  t.same(recorder.messages.map((m) => [m.body, m.complete]), [['hello', true]])
})

t.test('pause with every byte fed separately', async (t) => {
  for (const hooks of [['complete'], ['request', 'body', 'complete']] as Hook[][]) {
    const { recorder, parser } = pausing(hooks)
    for (let i = 0; i < pipeline.length; i++) {
      const piece = pipeline.subarray(i, i + 1)
      let n = parser.execute(piece)
      parser.resume()
      if (n === 0) n = parser.execute(piece)
      t.equal(n, 1, `${hooks}: byte ${i}`)
    }
    t.same(recorder.messages, pipelineExpected.messages, `${hooks}: same events`)
  }
})

t.test('the count is relative to the buffer given, when part of the head was pending', async (t) => {
  const { recorder, parser } = pausing(['complete'])
  t.equal(parser.execute(bytes('GET /1 HTTP/1.1\r\nHo')), 19)
  const second = bytes('st: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n')
  t.equal(parser.execute(second), 9, 'stopped after the end of the first head')
  parser.resume()
  t.equal(parser.execute(second.subarray(9)), second.length - 9)
  t.same(recorder.messages.map((m) => m.url), ['/1', '/2'])
})

// --- 6. Requests that close the connection -------------------------------------------------------

t.test('after a request that closes, the parser is dead and ignores what follows', async (t) => {
  const next = 'GET /next HTTP/1.1\r\nHost: a\r\n\r\n'
  const closers = [
    `GET / HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`,
    `GET / HTTP/1.1\r\n${HOST}Connection: foo, close\r\n\r\n`,
    `POST / HTTP/1.1\r\n${HOST}Connection: close\r\nContent-Length: 3\r\n\r\nabc`,
    `POST / HTTP/1.1\r\n${HOST}Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n`,
    'GET / HTTP/1.0\r\n\r\n',
    'GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n',
    'POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nok',
  ]
  for (const closer of closers) {
    const name = JSON.stringify(closer.slice(0, 60))
    // In the same buffer, byte by byte, and in a later execute.
    for (const pieces of [[bytes(closer + next)], byteByByte(bytes(closer + next)), [bytes(closer), bytes(next)]]) {
      const result = parse(pieces)
      t.equal(result.messages.length, 1, `${name}: one message`)
      t.ok(result.messages[0]?.complete && !result.messages[0]?.keepAlive, `${name}: complete, not keep-alive`)
      t.ok(result.dead && !result.idle, `${name}: dead`)
      t.equal(result.error, null, `${name}: no error`)
    }
    // The body of a closing request is still delivered in full before the parser stops.
    const recorder = new Recorder()
    const parser = new Parser(recorder)
    const input = bytes(closer + '\x00garbage')
    t.equal(parser.execute(input), input.length, `${name}: everything reported consumed`)
    t.ok(parser.dead)
    t.equal(parser.execute(bytes(next)), next.length, `${name}: later buffers swallowed`)
    t.equal(recorder.messages.length, 1)
  }
})

t.test('stop() ends parsing for good', async (t) => {
  const recorder = new Recorder()
  const parser = new Parser(recorder)
  parser.execute(bytes('GET / HTTP/1.1\r\nHo'))
  t.ok(parser.headPending)
  parser.stop()
  t.ok(parser.dead && !parser.headPending && !parser.idle)
  t.equal(parser.execute(bytes('st: a\r\n\r\n')), 9)
  t.equal(recorder.messages.length, 0)
  t.equal(parser.execute(Buffer.alloc(0)), 0)

  // Stopping from onRequest of a request with a body: nothing more comes.
  const seen: string[] = []
  const stopper: Parser = new Parser({
    onRequest(head) {
      seen.push(head.url)
      stopper.stop()
    },
    onBody() {
      seen.push('body')
    },
    onMessageComplete() {
      seen.push('complete')
    },
  })
  stopper.execute(bytes('POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nxGET /b HTTP/1.1\r\nHost: a\r\n\r\n'))
  t.same(seen, ['/a'])
  t.ok(stopper.dead)
})

// --- 7. Garbage never throws anything but HttpError ---------------------------------------------

const STATUSES = new Set([400, 413, 414, 417, 431, 501, 505])

const FRAGMENTS = [
  'GET', 'POST', 'OPTIONS', 'CONNECT', 'M-SEARCH', ' ', ' ', '/', '/a?b=c', '*', 'http://a', ' HTTP/1.1', ' HTTP/1.0',
  'HTTP/2.0', '\r\n', '\r\n', '\r\n', '\r', '\n', '\t', ':', ',', ';', '=', 'Host: a', 'Host', 'Content-Length: ',
  'Transfer-Encoding: ', 'chunked', 'gzip', 'Connection: ', 'close', 'keep-alive', 'Expect: ', '100-continue', '0',
  '1', '5', '0005', 'a', 'ff', 'FFFFFFFFFFFFFFFF', '\r\n\r\n', '0\r\n\r\n', '\x00', '\x7f', '\x80', '\xff', 'X-A: b',
]

function randomInput(random: () => number): Buffer {
  if (random() < 0.3) {
    const buf = Buffer.alloc(Math.floor(random() * 80))
    for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(random() * 256)
    return buf
  }
  const parts: string[] = []
  const n = 1 + Math.floor(random() * 40)
  for (let i = 0; i < n; i++) parts.push(FRAGMENTS[Math.floor(random() * FRAGMENTS.length)])
  return bytes(parts.join(''))
}

const pick = <T>(list: T[], random: () => number): T => list[Math.floor(random() * list.length)]

/** Valid parts, and invalid ones used one time in ten. */
const PARTS = {
  method: [['GET', 'POST', 'PUT', 'OPTIONS', 'M-SEARCH', 'get'], ['CONNECT', 'G T', '']],
  target: [['/', '/a?b=c', 'http://h/x', '/%80'], ['*', 'h:80', '', '/a b', '/\x80', '/%0']],
  version: [['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'], ['HTTP/2.0', 'HTTP/1.x', 'HTTP/1.1 ']],
  field: [
    ['X: y', 'X:  ', 'Content-Length: 3', 'Content-Length: 003', 'Content-Length: 0', 'Transfer-Encoding: chunked',
      'Connection: keep-alive', 'Connection: close', 'Expect: 100-continue'],
    ['Content-Length: x', 'Transfer-Encoding: gzip, chunked', 'Expect: nope', 'Bad Name: v', ' folded', 'X: \x01', 'Host: b'],
  ],
  chunked: [['3\r\nabc\r\n0\r\n\r\n', '1;e=v\r\nz\r\n0\r\nT: v\r\n\r\n', 'A\r\n0123456789\r\n0\r\n\r\n'], ['zz\r\n', '3\r\nabc0\r\n\r\n']],
}

function part(kind: keyof typeof PARTS, random: () => number): string {
  const [valid, invalid] = PARTS[kind]
  return pick(random() < 0.9 ? valid : invalid, random)
}

/** One to four requests built from mostly valid parts, so that many of them parse. */
function randomRequests(random: () => number): Buffer {
  let text = ''
  const n = 1 + Math.floor(random() * 4)
  for (let i = 0; i < n; i++) {
    let head = `${part('method', random)} ${part('target', random)} ${part('version', random)}\r\n`
    if (random() < 0.95) head += 'Host: a\r\n'
    const fields = Math.floor(random() * 3)
    for (let f = 0; f < fields; f++) head += part('field', random) + '\r\n'
    const body = /Transfer-Encoding/.test(head) ? part('chunked', random) : /Content-Length: 3/.test(head) ? 'abc' : ''
    text += (random() < 0.2 ? '\r\n' : '') + head + '\r\n' + body
  }
  return bytes(text)
}

/** Parses whole, byte by byte and in random pieces; all three must agree. */
function checkDifferential(t: Test, input: Buffer, random: () => number, name: string): Outcome {
  const diag = { input: input.toString('latin1') }
  let result: Outcome
  try {
    result = parse([input])
    t.same(parse(byteByByte(input)), result, `${name}: byte by byte`, diag)
    t.same(parse(randomPieces(input, random)), result, `${name}: random pieces`, diag)
  } catch (err) {
    t.fail(`${name}: threw ${String(err)}`, diag)
    return { messages: [], error: null, dead: true, idle: false }
  }
  if (result.error !== null) t.ok(STATUSES.has(result.error.status), `${name}: status ${result.error.status}`, diag)
  for (const m of result.messages) t.equal(typeof m.method, 'string', `${name}: method is a string`, diag)
  return result
}

t.test('random input gives events or an HttpError, the same however it is cut', async (t) => {
  const random = prng(0x5eed)
  let errors = 0
  let messages = 0
  for (let i = 0; i < 3000; i++) {
    const input = i % 2 === 0 ? randomInput(random) : randomRequests(random)
    const result = checkDifferential(t, input, random, `random #${i}`)
    if (result.error !== null) errors++
    messages += result.messages.length
  }
  t.ok(errors > 1000, `most random inputs are refused (${errors})`)
  t.ok(messages > 500, `many random inputs make requests (${messages})`)
})

const MUTATION_SEEDS = [
  ...splitCases.map((c) => c.input),
  `${CHUNKED_HEAD}5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n`,
  `POST / HTTP/1.1\r\n${HOST}Content-Length: 5\r\nExpect: 100-continue\r\n\r\nhello`,
]

function mutate(input: Buffer, random: () => number): Buffer {
  let buf = input
  const edits = 1 + Math.floor(random() * 3)
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (buf.length + 1))
    const byte = random() < 0.5 ? Math.floor(random() * 256) : bytes('\r\n :;,0aF\t\x00')[Math.floor(random() * 11)]
    const op = Math.floor(random() * 4)
    if (op === 0 && at < buf.length) {
      buf = Buffer.from(buf)
      buf[at] ^= 1 << Math.floor(random() * 8) // flip a bit
    } else if (op === 1 && at < buf.length) {
      buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1)]) // delete
    } else if (op === 2 && at < buf.length) {
      buf = Buffer.from(buf)
      buf[at] = byte // replace
    } else {
      buf = Buffer.concat([buf.subarray(0, at), Buffer.from([byte]), buf.subarray(at)]) // insert
    }
  }
  return buf
}

t.test('mutated valid requests give events or an HttpError, the same however they are cut', async (t) => {
  const random = prng(42)
  const statuses = new Map<number, number>()
  for (let i = 0; i < 2500; i++) {
    const seed = bytes(MUTATION_SEEDS[i % MUTATION_SEEDS.length])
    const result = checkDifferential(t, mutate(seed, random), random, `mutation #${i}`)
    const status = result.error?.status ?? 0
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
  }
  t.ok((statuses.get(0) ?? 0) > 100, 'some mutations are still valid')
  t.ok((statuses.get(400) ?? 0) > 100, 'many are refused with 400')
})

// --- Regressions: each of these was a bug once.

t.test('a method named like an Object.prototype member is a string', async (t) => {
  for (const method of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
    const result = parse([bytes(`${method} / HTTP/1.1\r\n${HOST}\r\n`)])
    t.equal(result.messages.length, 1, `${method}: parsed`)
    t.equal(typeof result.messages[0]?.method, 'string', `${method}: a string`)
    t.equal(result.messages[0]?.method, method, `${method}: its own name`)
  }
})

t.test('stop() from onRequest or from the last onBody stops for good', async (t) => {
  for (const [input, stopIn] of [
    ['GET /a HTTP/1.1\r\nHost: a\r\n\r\n', 'request'],
    ['POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx', 'body'],
  ]) {
    const events: string[] = []
    const parser: Parser = new Parser({
      onRequest(head) {
        events.push(head.url)
        if (stopIn === 'request') parser.stop()
      },
      onBody() {
        events.push('body')
        if (stopIn === 'body') parser.stop()
      },
      onMessageComplete() {
        events.push('complete')
      },
    })
    parser.execute(bytes(input + 'GET /b HTTP/1.1\r\nHost: a\r\n\r\n'))
    t.notOk(events.includes('/b'), `stop in on${stopIn}: the next request is not parsed`, { events })
    t.ok(parser.dead, `stop in on${stopIn}: dead`)
  }
})

t.test('a 100-continue expectation in an HTTP/1.0 request is ignored (RFC 9110 10.1.1)', async (t) => {
  const m = only(t, 'POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx')
  t.equal(m.expectContinue, false, 'expectContinue is false')
})

t.test('pause() outside a callback while a head is pending keeps the pending bytes', async (t) => {
  const recorder = new Recorder()
  const parser = new Parser(recorder)
  const first = bytes('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 35\r\n')
  t.equal(parser.execute(first), first.length)
  parser.pause() // e.g. a connection under backpressure, outside any callback
  const rest = bytes('\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n')
  t.equal(parser.execute(rest), 0, 'nothing consumed while paused')
  t.ok(parser.headPending, 'the head is still pending')
  parser.resume()
  let error: unknown = null
  try {
    parser.execute(rest)
  } catch (err) {
    error = err
  }
  t.equal(error, null, 'no error')
  t.same(
    recorder.messages.map((m) => [m.method, m.url]),
    [['POST', '/upload']],
    'the bytes after the pause are the POST body',
  )
})

t.test('RequestHead.find does not fold ^ into ~', async (t) => {
  const m = new Recorder()
  new Parser(m).execute(bytes('GET / HTTP/1.1\r\nHost: a\r\nA^B: 1\r\n\r\n'))
  t.equal(m.heads[0].find('a^b'), 1)
  t.equal(m.heads[0].find('a~b'), -1, 'no match')
})

t.test('a Host field with an invalid value is refused (RFC 9112 3.2)', async (t) => {
  for (const value of ['a b', 'a/b', 'a@b', 'a:b', 'a?b']) {
    t.equal(statusOf([bytes(`GET / HTTP/1.1\r\nHost: ${value}\r\n\r\n`)]), 400, JSON.stringify(value))
  }
})

t.test('an http URI with an empty host is refused (RFC 9110 4.2.1)', async (t) => {
  for (const target of ['http://', 'http:///a', 'https://?x']) {
    t.equal(statusOf([bytes(`GET ${target} HTTP/1.1\r\n${HOST}\r\n`)]), 400, target)
  }
})

t.test('a head over a limit gets the same answer however it is cut', async (t) => {
  const small = { maxRequestLineSize: 30, maxHeaderSize: 20, maxHeadSize: 60, maxHeaderCount: 5 }
  const cases: [string, string, number, RegExp, Partial<ParserLimits>][] = [
    ['a long request line ending in a bare LF', `GET /${'a'.repeat(40)} HTTP/1.1\n`, 414, /Request target too long/, {}],
    ['a long method', `${'M'.repeat(40)} / HTTP/1.1\r\n`, 400, /Request method too long/, {}],
    ['a long version', `GET / HTTP/1.1${'1'.repeat(30)}\r\n`, 400, /Invalid HTTP version/, {}],
    ['a long field line ending in a bare LF', `GET / HTTP/1.1\r\nX: ${'a'.repeat(30)}\n`, 431, /Header field too large/, {}],
    ['one field too many, ending in a bare LF', 'GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\n', 431, /Too many header fields/, { maxHeaderCount: 2 }],
    // The request line ends at byte 16, A at 35; B passes the field limit at 55, the head's at 60.
    ['the field limit passed first', `GET / HTTP/1.1\r\nA: ${'a'.repeat(14)}\r\nB${'b'.repeat(40)}\r\n\r\n`, 431, /Header field too large/, {}],
    // A and B end at 35 and 54; C passes the head limit at 60, its own at 74.
    ['the head limit passed first', `GET / HTTP/1.1\r\nA: ${'a'.repeat(14)}\r\nB: ${'b'.repeat(14)}\r\nC${'c'.repeat(30)}\r\n\r\n`, 431, /Request header too large/, {}],
  ]
  for (const [name, input, status, message, limits] of cases) {
    const buf = bytes(input)
    for (let i = 0; i <= buf.length; i++) {
      const parser = new Parser(new Recorder(), { ...DEFAULT_LIMITS, ...small, ...limits })
      let error: unknown = null
      try {
        for (const piece of splitAt(buf, i)) parser.execute(piece)
      } catch (e) {
        error = e
      }
      t.ok(error instanceof HttpError && error.status === status && message.test(error.message), `${name}: split at ${i}`, { error })
    }
  }
})

t.test('the default limits are the documented ones', async (t) => {
  t.same(DEFAULT_LIMITS, {
    maxRequestLineSize: 8192,
    maxHeadSize: 16384,
    maxHeaderSize: 8192,
    maxHeaderCount: 100,
    maxBodySize: 1024 * 1024 * 1024,
    permissiveTarget: false,
  })
  t.same(describeHead(new RequestHead(bytes('Xy'), 'GET', '/', 1, [0, 1, 1, 2], 3, false, true, true)), {
    method: 'GET',
    url: '/',
    versionMinor: 1,
    headers: [['X', 'y']],
    contentLength: 3,
    chunked: false,
    keepAlive: true,
    expectContinue: true,
  })
})

t.test('absolute-form with any RFC 3986 scheme, and an IP-literal Host', async (t) => {
  t.equal(only(t, `GET h2c+x-y.z9://example.com/a HTTP/1.1\r\n${HOST}\r\n`).url, 'h2c+x-y.z9://example.com/a')
  t.equal(only(t, 'GET / HTTP/1.1\r\nHost: [v1.fe80::1]:8080\r\n\r\n').url, '/')
  t.equal(only(t, 'GET / HTTP/1.1\r\nHost: [V1.2]\r\n\r\n').url, '/')
  t.equal(only(t, 'GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n').url, '/')
  t.equal(only(t, 'GET / HTTP/1.1\r\nHost: [v0.KA]\r\n\r\n').url, '/', 'IPvFuture with unreserved characters')
  t.equal(only(t, 'GET http://[v0.KA]/ HTTP/1.1\r\nHost: [v0.KA]\r\n\r\n').url, 'http://[v0.KA]/', 'IPvFuture in absolute-form')
  t.equal(only(t, 'GET / HTTP/1.1\r\nHost: [::ffff:1.2.3.4]:80\r\n\r\n').url, '/', 'IPv6 with an IPv4 tail')
  for (const host of ['[]', '[::1', '[::1]x', '[g::1]', '[...]', '[v]', '[v1.]', '[v.a]', '[1:2:3]', '[::1]]']) {
    t.equal(statusOf([bytes(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`)]), 400, host)
  }
  t.equal(statusOf([bytes(`GET http://user@example.com/ HTTP/1.1\r\n${HOST}\r\n`)]), 400, 'userinfo')
})
