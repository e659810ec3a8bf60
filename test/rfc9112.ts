// Conformance with RFC 9112 (HTTP/1.1 message syntax) and RFC 9110 section 5 (fields), black box:
// each row is the raw bytes of one request, sent on a fresh TCP connection to a running Pegasus,
// and the outcome the RFCs call for. Either a rejection: the status, a one-line text/plain
// reason, `Connection: close`, the server closes, and the app never ran. Or an acceptance: what
// the app saw (method, target, header values as req.headers gives them, body bytes), and that
// the connection then goes on (a request sent right behind it is answered) or closes, as
// persistence says (RFC 9112 section 9.3).
//
// Where the RFCs leave a choice, Pegasus takes the strict side, and the rows assert that:
// - a bare LF line terminator is refused (RFC 9112 §2.2 says a recipient MAY accept it; refusing
//   it closes a request-smuggling gap with lenient peers);
// - obs-fold, whitespace before a colon, and CTLs other than HTAB in field values are refused
//   rather than repaired (RFC 9112 §5.1, §5.2; RFC 9110 §5.5);
// - Content-Length together with Transfer-Encoding is refused, not resolved in favour of TE
//   (RFC 9112 §6.3 (3) allows either);
// - an Expect other than 100-continue is answered 417 (RFC 9110 §10.1.1: MAY).
//
// - the request-target is checked against RFC 3986 (RFC 9112 §3 says SHOULD answer 400): obs-text,
//   `"<>`, a fragment, malformed %-escapes and %00 are refused; `|^[]{}`\` are let through, as
//   browsers and fetch send them raw (permissiveTarget lets the rest through, not CTLs or %00);
// - Content-Length lists and repeated Content-Length fields are refused even when the values are
//   equal (RFC 9112 §6.3 (5) allows either), as are an empty Host and trailers carrying fields
//   RFC 9110 §6.5.1 forbids there;
// - a repeated Content-Type or Content-Range is refused (RFC 9110 §5.3: not a list, so it cannot
//   be combined; a recipient could read either one);
// - 414 is for a long target only: a request line too long in its method or version gets 400.
//
// A row with `todo` would be a place where Pegasus departs from the RFC without a reason: its
// assertions still run, marked TODO, so the departure shows in the output. There are none now.
//
// Section labels: `§6.3 (3)` is the third numbered item of that section's list.
import t, { type Test } from 'tap'
import http from 'node:http'
import { execFile } from 'node:child_process'
import { RawClient, type RawResponse } from './helpers/raw.js'
import { startServer } from './helpers/server.js'
import type { Request, Response, ServerOptions } from '../lib/server.js'

// --- The table ------------------------------------------------------------------------------

/** What the app must see of an accepted request. Absent keys are not checked. */
interface Accepted {
  method?: string
  url?: string
  httpVersion?: string
  /** Values as req.headers gives them (lower-case names); `undefined`: the field is absent. */
  headers?: Record<string, string | undefined>
  /** req.rawHeaders exactly. */
  rawHeaders?: string[]
  /** The body as latin1 text; '' when not given. */
  body?: string
}

type Expected =
  | { status: number; close: true }
  /** `keepAlive` (default true): whether the connection persists after the response. */
  | { accept: Accepted; keepAlive?: boolean }

interface Row {
  /** Where the rule is: `RFC 9112 §6.3 (3)`, `RFC 9110 §5.5`. */
  section: string
  name: string
  /** The request's bytes, one character a byte (latin1). */
  request: string
  expect: Expected
  /** Pegasus departs from the RFC here: why, and what it does instead. */
  todo?: string
}

interface Group {
  title: string
  /** Server options for the group (the limits rows use small ones). */
  options?: ServerOptions
  rows: Row[]
}

// Request builders. Every field line and the empty line end in CRLF unless a row writes its
// bytes out in full.
const lines = (fields: string[]): string => fields.map((field) => `${field}\r\n`).join('')
/** A request with this request line (no CRLF), `Host: a` and the given field lines. */
const withLine = (requestLine: string, ...fields: string[]): string => `${requestLine}\r\nHost: a\r\n${lines(fields)}\r\n`
/** `GET /` over HTTP/1.1 with `Host: a` and the given field lines. */
const get = (...fields: string[]): string => withLine('GET / HTTP/1.1', ...fields)
/** `POST /` over HTTP/1.1 with `Host: a`, the given field lines and body bytes. */
const post = (fields: string[], body = ''): string => `POST / HTTP/1.1\r\nHost: a\r\n${lines(fields)}\r\n${body}`
/** A chunked `POST /`; `body` is the chunked body as sent. */
const chunked = (body: string): string => post(['Transfer-Encoding: chunked'], body)

const bad = (status = 400): Expected => ({ status, close: true })
const ok = (accept: Accepted = {}, keepAlive = true): Expected => ({ accept, keepAlive })

// A well-formed chunked body of `hello`, for rows whose fault is in the head.
const HELLO_CHUNKED = '5\r\nhello\r\n0\r\n\r\n'

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" /
// "`" / "|" / "~" / DIGIT / ALPHA. The delimiters `"(),/:;<=>?@[\]{}` are not tchars.
const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
// Every VCHAR (0x21-0x7e): all of them may appear in a field value.
const VCHARS = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join('')

// Limits for the limits group: small, so that the rows stay small.
const SMALL: ServerOptions = {
  maxRequestLineSize: 64,
  maxHeaderSize: 128,
  maxHeaderCount: 8,
  maxHeadSize: 512,
  maxBodySize: 32,
}

/** `GET /aaa… HTTP/1.1` of exactly `size` bytes, CRLF included. */
const requestLineOf = (size: number): string => `GET /${'a'.repeat(size - 16)} HTTP/1.1\r\n`
/** A field line `name: vvv…` of exactly `size` bytes, CRLF included. */
const fieldOf = (name: string, size: number): string => `${name}: ${'v'.repeat(size - name.length - 4)}\r\n`
/** A GET whose head (request line to the empty line) is exactly `size` bytes; fields of <= 128. */
function headOf(size: number): string {
  let fields = ''
  let left = size - 'GET / HTTP/1.1\r\nHost: a\r\n\r\n'.length
  for (let i = 0; left > 0; i++) {
    const n = left > 128 ? Math.min(128, left - 8) : left
    fields += fieldOf(`X${i}`, n)
    left -= n
  }
  return `GET / HTTP/1.1\r\nHost: a\r\n${fields}\r\n`
}

const groups: Group[] = [
  {
    title: 'RFC 9112 §2: message parsing, line terminators, bare CR, HTTP version',
    rows: [
      // Bare LF: RFC 9112 §2.2 lets a recipient accept a lone LF as a line terminator; Pegasus
      // refuses it everywhere in the head (and in chunked framing, see §7.1).
      { section: 'RFC 9112 §2.2', name: 'bare LF ends the request line', request: 'GET / HTTP/1.1\nHost: a\r\n\r\n', expect: bad() },
      { section: 'RFC 9112 §2.2', name: 'bare LF ends a field line', request: 'GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n', expect: bad() },
      { section: 'RFC 9112 §2.2', name: 'bare LF as the empty line that ends the head', request: 'GET / HTTP/1.1\r\nHost: a\r\n\n', expect: bad() },
      { section: 'RFC 9112 §2.2', name: 'bare LF on every line', request: 'GET / HTTP/1.1\nHost: a\n\n', expect: bad() },
      // Bare CR: "MUST consider that element to be invalid or replace each bare CR with SP".
      { section: 'RFC 9112 §2.2', name: 'bare CR in the method', request: withLine('G\rET / HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §2.2', name: 'bare CR in the target', request: withLine('GET /a\rb HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §2.2', name: 'bare CR in the version', request: withLine('GET / HTTP/1.1\r'), expect: bad() },
      { section: 'RFC 9112 §2.2', name: 'bare CR in a field name', request: get('X\rY: 1'), expect: bad() },
      { section: 'RFC 9112 §2.2', name: 'bare CR in a field value', request: get('X: a\rb'), expect: bad() },
      { section: 'RFC 9112 §2.2', name: 'bare CR before a field line CRLF', request: get('X: a\r'), expect: bad() },
      {
        section: 'RFC 9112 §2.2',
        name: 'whitespace between the request line and the first field',
        request: 'GET / HTTP/1.1\r\n X: 1\r\nHost: a\r\n\r\n',
        expect: bad(),
      },
      // "a server ... SHOULD ignore at least one empty line (CRLF) received prior to the request-line"
      {
        section: 'RFC 9112 §2.2',
        name: 'an empty line before the request line is ignored',
        request: `\r\n${get()}`,
        expect: ok({ method: 'GET', url: '/' }),
      },
      // Content is not a protocol element: CR and LF in it are data.
      {
        section: 'RFC 9112 §2.2',
        name: 'bare CR and LF inside a Content-Length body are data',
        request: post(['Content-Length: 7'], 'a\rb\nc\r\n'),
        expect: ok({ method: 'POST', body: 'a\rb\nc\r\n' }),
      },

      // HTTP-version = HTTP-name "/" DIGIT "." DIGIT, HTTP-name = %s"HTTP" (case-sensitive).
      { section: 'RFC 9112 §2.3', name: 'HTTP/2.0 is not supported (505)', request: withLine('GET / HTTP/2.0'), expect: bad(505) },
      { section: 'RFC 9112 §2.3', name: 'HTTP/3.0 is not supported (505)', request: withLine('GET / HTTP/3.0'), expect: bad(505) },
      { section: 'RFC 9112 §2.3', name: 'HTTP/0.9 in a version field is not supported (505)', request: withLine('GET / HTTP/0.9'), expect: bad(505) },
      { section: 'RFC 9112 §2.3', name: 'the HTTP/2 connection preface (505)', request: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', expect: bad(505) },
      { section: 'RFC 9112 §2.3', name: 'lower-case http/1.1', request: withLine('GET / http/1.1'), expect: bad() },
      { section: 'RFC 9112 §2.3', name: 'mixed-case Http/1.1', request: withLine('GET / Http/1.1'), expect: bad() },
      { section: 'RFC 9112 §2.3', name: 'HTTP/1 without a minor version', request: withLine('GET / HTTP/1'), expect: bad() },
      { section: 'RFC 9112 §2.3', name: 'two-digit minor version HTTP/1.10', request: withLine('GET / HTTP/1.10'), expect: bad() },
      { section: 'RFC 9112 §2.3', name: 'two-digit major version HTTP/01.1', request: withLine('GET / HTTP/01.1'), expect: bad() },
      { section: 'RFC 9112 §2.3', name: 'non-digit version HTTP/a.b', request: withLine('GET / HTTP/a.b'), expect: bad() },
      {
        section: 'RFC 9112 §2.3',
        name: 'HTTP/1.0 without Host, closed after',
        request: 'GET / HTTP/1.0\r\n\r\n',
        expect: ok({ httpVersion: '1.0' }, false),
      },
      {
        // RFC 9110 §2.5: "A recipient that receives a message with a major version number that it
        // implements and a minor version number higher than what it implements SHOULD process the
        // message as if it were in the highest minor version within that major version to which
        // the recipient is conformant." RFC 9112 §2.3 defers to it.
        section: 'RFC 9112 §2.3, RFC 9110 §2.5',
        name: 'HTTP/1.2 is processed as HTTP/1.1',
        request: withLine('GET / HTTP/1.2'),
        expect: ok({ method: 'GET', url: '/', httpVersion: '1.1' }),
      },
    ],
  },

  {
    title: 'RFC 9112 §3: request line, method, request target, Host',
    rows: [
      // request-line = method SP request-target SP HTTP-version: exactly one SP each. §3 lets a
      // recipient split on any whitespace; Pegasus does not (lenient splitting enables smuggling).
      { section: 'RFC 9112 §3', name: 'two SPs after the method', request: withLine('GET  / HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3', name: 'HTAB as the separator', request: withLine('GET\t/ HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3', name: 'SP before the method', request: withLine(' GET / HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3', name: 'SP after the version', request: withLine('GET / HTTP/1.1 '), expect: bad() },
      { section: 'RFC 9112 §3', name: 'no version', request: withLine('GET /'), expect: bad() },
      { section: 'RFC 9112 §3', name: 'no target', request: withLine('GET HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3', name: 'method only', request: withLine('GET'), expect: bad() },

      // method = token
      { section: 'RFC 9112 §3.1', name: 'SP inside the method (GE T)', request: withLine('GE T / HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.1', name: '( in the method (G(T)', request: withLine('G(T / HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.1', name: '@ in the method (G@T)', request: withLine('G@T / HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.1', name: 'NUL after the method (GET\\0)', request: withLine('GET\0 / HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.1', name: 'obs-text in the method', request: withLine('G\xc9T / HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.1', name: 'extension method FOO', request: withLine('FOO / HTTP/1.1'), expect: ok({ method: 'FOO', url: '/' }) },
      { section: 'RFC 9112 §3.1', name: 'extension method M-SEARCH', request: withLine('M-SEARCH / HTTP/1.1'), expect: ok({ method: 'M-SEARCH' }) },
      {
        section: 'RFC 9112 §3.1',
        name: 'WebDAV method PROPFIND',
        request: withLine('PROPFIND /dav/ HTTP/1.1', 'Depth: 1'),
        expect: ok({ method: 'PROPFIND', url: '/dav/', headers: { depth: '1' } }),
      },
      {
        section: 'RFC 9112 §3.1',
        name: 'a method of every tchar',
        request: withLine(`X${TCHARS}Y / HTTP/1.1`),
        expect: ok({ method: `X${TCHARS}Y` }),
      },
      // Methods are case-sensitive (RFC 9110 §9.1): `get` is a different, valid token.
      {
        section: 'RFC 9112 §3.1',
        name: 'lower-case method get is passed as sent',
        request: withLine('get / HTTP/1.1'),
        expect: ok({ method: 'get' }),
      },

      // request-target: "No whitespace is allowed in the request-target."
      { section: 'RFC 9112 §3.2', name: 'SP inside the target', request: withLine('GET /a b HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'HTAB inside the target', request: withLine('GET /a\tb HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'CTL 0x01 in the target', request: withLine('GET /a\x01b HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'NUL in the target', request: withLine('GET /a\0b HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'DEL in the target', request: withLine('GET /a\x7fb HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'relative target without a leading /', request: withLine('GET a/b HTTP/1.1'), expect: bad() },
      // RFC 9112 §3: "Recipients of an invalid request-line SHOULD respond with either a 400 (Bad
      // Request) error or a 301 (Moved Permanently) redirect with the request-target properly
      // encoded"; these bytes are outside the URI grammar (RFC 3986) that origin-form uses.
      { section: 'RFC 9112 §3, §3.2.1', name: 'obs-text (0xE9) in the target', request: withLine('GET /caf\xe9 HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3, §3.2.1', name: 'raw UTF-8 in the query', request: withLine('GET /?q=\xc3\xa9 HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3, §3.2.1', name: '`"` in the target', request: withLine('GET /a"b HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3, §3.2.1', name: '`<` and `>` in the query', request: withLine('GET /?a=<b> HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.2.1', name: 'a fragment in the target', request: withLine('GET /a#frag HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3, RFC 3986 §2.1', name: 'a `%` without two hex digits', request: withLine('GET /a%zz HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3, RFC 3986 §2.1', name: 'a `%` at the end of the target', request: withLine('GET /a?b=100% HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3, RFC 3986 §7.3', name: 'a percent-encoded NUL (%00)', request: withLine('GET /a%00.txt HTTP/1.1'), expect: bad() },
      // Outside RFC 3986 too, but sent raw by WHATWG URL serializers (browsers, fetch, Node's URL):
      // accepted (see docs/http.md, HTTP/1.1).
      {
        section: 'RFC 9112 §3 (SHOULD)',
        name: '`|^[]` in the path and `{}`\\` in the query, as browsers send them: accepted (policy)',
        request: withLine('GET /a|b^[c]?q={}`\\|^[] HTTP/1.1'),
        expect: ok({ url: '/a|b^[c]?q={}`\\|^[]' }),
      },
      {
        section: 'RFC 9112 §3.2.1',
        name: 'a percent-encoded target is passed as sent',
        request: withLine('GET /a%20b/%E2%82%AC%2F HTTP/1.1'),
        expect: ok({ url: '/a%20b/%E2%82%AC%2F' }),
      },
      {
        section: 'RFC 9112 §3.2.1',
        name: 'odd but legal pchar and query characters',
        request: withLine("GET /p/a:b@c;d=e!$&'()*+,~-._?q=/?:@!$&'()*+,;=-._~%20 HTTP/1.1"),
        expect: ok({ url: "/p/a:b@c;d=e!$&'()*+,~-._?q=/?:@!$&'()*+,;=-._~%20" }),
      },
      {
        section: 'RFC 9112 §3.2.1',
        name: 'an empty query and empty segments',
        request: withLine('GET //a//b/? HTTP/1.1'),
        expect: ok({ url: '//a//b/?' }),
      },

      // absolute-form: "a server MUST accept the absolute-form in requests"; an origin server
      // "MUST ignore the received Host header field" and use the target's authority.
      {
        section: 'RFC 9112 §3.2.2',
        name: 'absolute-form with Host, target as sent',
        request: 'GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n',
        expect: ok({ url: 'http://example.com/x?y', headers: { host: 'example.com' } }),
      },
      {
        section: 'RFC 9112 §3.2.2',
        name: 'absolute-form whose authority differs from Host',
        request: 'GET http://example.com/x HTTP/1.1\r\nHost: other.example\r\n\r\n',
        expect: ok({ url: 'http://example.com/x' }),
      },
      {
        section: 'RFC 9112 §3.2.2',
        name: 'absolute-form with an upper-case scheme, a port and no path',
        request: 'GET HTTP://EXAMPLE.COM:8080 HTTP/1.1\r\nHost: EXAMPLE.COM:8080\r\n\r\n',
        expect: ok({ url: 'HTTP://EXAMPLE.COM:8080' }),
      },
      {
        section: 'RFC 9112 §3.2.2, RFC 9110 §4.2.1',
        name: 'absolute-form with an empty host',
        request: withLine('GET http:///x HTTP/1.1'),
        expect: bad(),
      },
      // RFC 9110 §4.2.4: "A recipient SHOULD parse for userinfo and treat its presence as an error".
      {
        section: 'RFC 9112 §3.2.2, RFC 9110 §4.2.4',
        name: 'absolute-form with userinfo',
        request: withLine('GET http://user@a/ HTTP/1.1'),
        expect: bad(),
      },
      // authority-form is only for CONNECT; Pegasus does not proxy, so CONNECT is 501 (RFC 9110 §9.1).
      { section: 'RFC 9112 §3.2.3', name: 'authority-form with GET', request: withLine('GET example.com:80 HTTP/1.1'), expect: bad() },
      {
        section: 'RFC 9112 §3.2.3, RFC 9110 §9.3.6',
        name: 'CONNECT is not implemented (501)',
        request: 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
        expect: bad(501),
      },
      // asterisk-form is only for OPTIONS.
      { section: 'RFC 9112 §3.2.4', name: 'OPTIONS *', request: withLine('OPTIONS * HTTP/1.1'), expect: ok({ method: 'OPTIONS', url: '*' }) },
      { section: 'RFC 9112 §3.2.4', name: 'GET * (asterisk-form other than OPTIONS)', request: withLine('GET * HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.2.4', name: 'M-SEARCH * (asterisk-form other than OPTIONS)', request: withLine('M-SEARCH * HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.2.4', name: 'OPTIONS *a (not exactly *)', request: withLine('OPTIONS *a HTTP/1.1'), expect: bad() },

      // "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request message
      // that lacks a Host header field and to any request message that contains more than one Host
      // header field line or a Host header field with an invalid field value."
      { section: 'RFC 9112 §3.2', name: 'HTTP/1.1 without Host', request: 'GET / HTTP/1.1\r\n\r\n', expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'HTTP/1.1 absolute-form without Host', request: 'GET http://example.com/ HTTP/1.1\r\n\r\n', expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'two Host fields with the same value', request: get('Host: a'), expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'two Host fields differing in case', request: get('HOST: b'), expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'two Host fields on HTTP/1.0', request: 'GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n', expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'Host with SP inside', request: 'GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n', expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'Host with a path', request: 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'Host with userinfo', request: 'GET / HTTP/1.1\r\nHost: user@a\r\n\r\n', expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'Host with a non-numeric port', request: 'GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n', expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'Host with an unclosed IP literal', request: 'GET / HTTP/1.1\r\nHost: [::1\r\n\r\n', expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'Host with obs-text', request: 'GET / HTTP/1.1\r\nHost: caf\xe9\r\n\r\n', expect: bad() },
      {
        section: 'RFC 9112 §3.2',
        name: 'Host with a port',
        request: 'GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n',
        expect: ok({ headers: { host: 'example.com:8080' } }),
      },
      {
        section: 'RFC 9112 §3.2',
        name: 'Host as an IPv6 literal with a port',
        request: 'GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n',
        expect: ok({ headers: { host: '[::1]:8080' } }),
      },
      {
        section: 'RFC 9112 §3.2',
        name: 'Host as an IPv4 address',
        request: 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
        expect: ok({ headers: { host: '127.0.0.1' } }),
      },
      // An empty Host is for target URIs without an authority (RFC 9112 §3.2); an http(s) URI
      // with an empty host is invalid and "MUST" be rejected (RFC 9110 §4.2.1, §4.2.2).
      { section: 'RFC 9110 §4.2.1, RFC 9112 §3.2', name: 'an empty Host', request: 'GET / HTTP/1.1\r\nHost:\r\n\r\n', expect: bad() },
      { section: 'RFC 9110 §4.2.1, RFC 9112 §3.2', name: 'a Host of blanks', request: 'GET / HTTP/1.1\r\nHost: \t \r\n\r\n', expect: bad() },
    ],
  },

  {
    title: 'RFC 9112 §5 and RFC 9110 §5: field lines',
    rows: [
      // "A server MUST reject, with a response status code of 400 (Bad Request), any received
      // request message that contains whitespace between a header field name and colon."
      { section: 'RFC 9112 §5.1', name: 'SP between the field name and the colon', request: get('X-A : 1'), expect: bad() },
      { section: 'RFC 9112 §5.1', name: 'HTAB between the field name and the colon', request: get('X-A\t: 1'), expect: bad() },
      {
        section: 'RFC 9112 §5.1',
        name: 'SP before the colon of Transfer-Encoding',
        request: post(['Transfer-Encoding : chunked'], HELLO_CHUNKED),
        expect: bad(),
      },
      // obs-fold: "MUST either reject the message by sending a 400 (Bad Request) ... or replace
      // each received obs-fold with one or more SP octets"; Pegasus rejects.
      { section: 'RFC 9112 §5.2', name: 'obs-fold with SP', request: get('X: a', ' b'), expect: bad() },
      { section: 'RFC 9112 §5.2', name: 'obs-fold with HTAB', request: get('X: a', '\tb'), expect: bad() },
      {
        section: 'RFC 9112 §5.2',
        name: 'obs-fold continuing Transfer-Encoding',
        request: post(['Transfer-Encoding:', ' chunked'], HELLO_CHUNKED),
        expect: bad(),
      },

      // field-name = token
      { section: 'RFC 9110 §5.1', name: 'SP inside a field name (Foo Bar)', request: get('Foo Bar: x'), expect: bad() },
      // '@' is a delimiter, not a tchar (RFC 9110 §5.6.2).
      { section: 'RFC 9110 §5.1', name: '@ in a field name (Foo@)', request: get('Foo@: x'), expect: bad() },
      { section: 'RFC 9110 §5.1', name: '( ) in a field name', request: get('Foo(bar): x'), expect: bad() },
      { section: 'RFC 9110 §5.1', name: '/ in a field name', request: get('Foo/Bar: x'), expect: bad() },
      { section: 'RFC 9110 §5.1', name: 'DQUOTE in a field name', request: get('"Foo": x'), expect: bad() },
      { section: 'RFC 9110 §5.1', name: '[ ] in a field name', request: get('Foo[1]: x'), expect: bad() },
      { section: 'RFC 9110 §5.1', name: 'obs-text in a field name', request: get('F\xe9: x'), expect: bad() },
      { section: 'RFC 9110 §5.1', name: 'NUL in a field name', request: get('Fo\0o: x'), expect: bad() },
      { section: 'RFC 9110 §5.1', name: 'an empty field name (: value)', request: get(': value'), expect: bad() },
      { section: 'RFC 9112 §5', name: 'a field line without a colon', request: get('NoColon'), expect: bad() },
      {
        section: 'RFC 9110 §5.1, §5.6.2',
        name: 'a field name of every tchar',
        request: get(`${TCHARS}: v`),
        expect: ok({ headers: { [TCHARS.toLowerCase()]: 'v' } }),
      },

      // Field names are case-insensitive: req.headers has them lower-cased, rawHeaders as sent.
      {
        section: 'RFC 9110 §5.1',
        name: 'field names are case-insensitive',
        request: 'GET / HTTP/1.1\r\nhOsT: a\r\nX-MiXeD-CaSe: v\r\n\r\n',
        expect: ok({ headers: { host: 'a', 'x-mixed-case': 'v' }, rawHeaders: ['hOsT', 'a', 'X-MiXeD-CaSe', 'v'] }),
      },
      // Repeated fields combine, in order, separated by a comma and a space.
      {
        section: 'RFC 9110 §5.3',
        name: 'a repeated field is combined with ", "',
        request: get('Accept: a', 'Accept: b'),
        expect: ok({ headers: { accept: 'a, b' } }),
      },
      {
        section: 'RFC 9110 §5.3',
        name: 'repeated fields combine in order around other fields',
        request: get('X: 1', 'Y: 2', 'X: 3', 'x: 4'),
        expect: ok({ headers: { x: '1, 3, 4', y: '2' }, rawHeaders: ['Host', 'a', 'X', '1', 'Y', '2', 'X', '3', 'x', '4'] }),
      },
      { section: 'RFC 9110 §5.3', name: 'repeated list-valued fields', request: get('X: a, b', 'X: c'), expect: ok({ headers: { x: 'a, b, c' } }) },
      // A field whose value is not a list cannot be combined; repeated, Content-Type and
      // Content-Range would have the app read the body by the first and a proxy perhaps by the
      // last: refused (policy; gunicorn 26.1 refuses a second Content-Type, nginx a second
      // Content-Range). List fields about the content combine as any list does.
      {
        section: 'RFC 9110 §5.3, §8.3',
        name: 'two Content-Type fields',
        request: post(['Content-Type: application/json', 'Content-Type: text/plain', 'Content-Length: 2'], '{}'),
        expect: bad(),
      },
      {
        section: 'RFC 9110 §5.3, §8.3',
        name: 'two Content-Type fields with the same value',
        request: post(['Content-Type: text/plain', 'content-type: text/plain', 'Content-Length: 2'], 'hi'),
        expect: bad(),
      },
      {
        section: 'RFC 9110 §5.3, §14.4',
        name: 'two Content-Range fields',
        request: withLine('PUT / HTTP/1.1', 'Content-Range: bytes 0-1/4', 'Content-Range: bytes 2-3/4', 'Content-Length: 2') + 'ab',
        expect: bad(),
      },
      {
        section: 'RFC 9110 §8.3, §14.4',
        name: 'one Content-Type and one Content-Range',
        request: withLine('PUT / HTTP/1.1', 'Content-Type: text/plain', 'Content-Range: bytes 2-3/4', 'Content-Length: 2') + 'cd',
        expect: ok({ method: 'PUT', headers: { 'content-type': 'text/plain', 'content-range': 'bytes 2-3/4' }, body: 'cd' }),
      },
      {
        section: 'RFC 9110 §5.3, §8.4',
        name: 'repeated Content-Encoding (a list) combines',
        request: post(['Content-Encoding: gzip', 'Content-Encoding: br', 'Content-Length: 2'], 'xy'),
        expect: ok({ headers: { 'content-encoding': 'gzip, br' }, body: 'xy' }),
      },

      // field-line = field-name ":" OWS field-value OWS; OWS is not part of the value.
      { section: 'RFC 9110 §5.5', name: 'one SP before the value', request: get('X: value'), expect: ok({ headers: { x: 'value' } }) },
      { section: 'RFC 9110 §5.5', name: 'no OWS at all', request: get('X:value'), expect: ok({ headers: { x: 'value' } }) },
      {
        section: 'RFC 9110 §5.5',
        name: 'SP and HTAB around the value are trimmed',
        request: get('X: \t  a b \t '),
        expect: ok({ headers: { x: 'a b' } }),
      },
      { section: 'RFC 9110 §5.5', name: 'HTAB-only OWS', request: get('X:\tv\t'), expect: ok({ headers: { x: 'v' } }) },
      {
        section: 'RFC 9110 §5.5',
        name: 'HTAB and SP inside a value are kept',
        request: get('X: a\tb  c'),
        expect: ok({ headers: { x: 'a\tb  c' } }),
      },
      {
        section: 'RFC 9110 §5.5',
        name: 'obs-text in a value (latin1)',
        request: get('X: caf\xe9 \x80\xff'),
        expect: ok({ headers: { x: 'caf\xe9 \x80\xff' } }),
      },
      { section: 'RFC 9110 §5.5', name: 'every VCHAR in a value', request: get(`X: ${VCHARS}`), expect: ok({ headers: { x: VCHARS } }) },
      { section: 'RFC 9110 §5.5', name: 'an empty value', request: get('X:'), expect: ok({ headers: { x: '' } }) },
      { section: 'RFC 9110 §5.5', name: 'a value of only whitespace is empty', request: get('X: \t  '), expect: ok({ headers: { x: '' } }) },
      {
        section: 'RFC 9110 §5.5',
        name: 'a long value within the default limit (8192-byte field line)',
        request: get(`X-Long: ${'v'.repeat(8192 - 'X-Long: \r\n'.length)}`),
        expect: ok({ headers: { 'x-long': 'v'.repeat(8192 - 'X-Long: \r\n'.length) } }),
      },
      // "Field values containing CR, LF, or NUL characters are invalid and dangerous"; other CTLs
      // are invalid too (a recipient MAY keep them; Pegasus refuses).
      { section: 'RFC 9110 §5.5', name: 'NUL in a value', request: get('X: a\0b'), expect: bad() },
      { section: 'RFC 9110 §5.5', name: 'CTL 0x01 in a value', request: get('X: a\x01b'), expect: bad() },
      { section: 'RFC 9110 §5.5', name: 'VT (0x0B) in a value', request: get('X: a\x0bb'), expect: bad() },
      { section: 'RFC 9110 §5.5', name: 'FF (0x0C) before a value', request: get('X:\x0cb'), expect: bad() },
      { section: 'RFC 9110 §5.5', name: 'ESC (0x1B) in a value', request: get('X: a\x1bb'), expect: bad() },
      { section: 'RFC 9110 §5.5', name: 'US (0x1F) in a value', request: get('X: a\x1fb'), expect: bad() },
      { section: 'RFC 9110 §5.5', name: 'DEL (0x7F) in a value', request: get('X: a\x7fb'), expect: bad() },
      { section: 'RFC 9110 §5.5', name: 'bare LF inside a value', request: get('X: a\nb'), expect: bad() },
      {
        section: 'RFC 9110 §5.5',
        name: 'CTL after Transfer-Encoding: chunked',
        request: post(['Transfer-Encoding: chunked\x0b'], HELLO_CHUNKED),
        expect: bad(),
      },
    ],
  },

  {
    title: 'RFC 9112 §6: message body length (Content-Length, Transfer-Encoding)',
    rows: [
      // Both: "ought to be handled as an error"; a server MAY reject, and MUST close either way.
      {
        section: 'RFC 9112 §6.3 (3)',
        name: 'CL then TE chunked',
        request: post(['Content-Length: 5', 'Transfer-Encoding: chunked'], HELLO_CHUNKED),
        expect: bad(),
      },
      {
        section: 'RFC 9112 §6.3 (3)',
        name: 'TE chunked then CL',
        request: post(['Transfer-Encoding: chunked', 'Content-Length: 5'], HELLO_CHUNKED),
        expect: bad(),
      },
      {
        section: 'RFC 9112 §6.3 (3)',
        name: 'CL: 0 with TE chunked',
        request: post(['Content-Length: 0', 'Transfer-Encoding: chunked'], HELLO_CHUNKED),
        expect: bad(),
      },
      {
        section: 'RFC 9112 §6.3 (3)',
        name: 'CL then TE gzip',
        request: post(['Content-Length: 5', 'Transfer-Encoding: gzip'], 'hello'),
        expect: bad(),
      },
      {
        section: 'RFC 9112 §6.3 (3)',
        name: 'TE gzip then CL',
        request: post(['Transfer-Encoding: gzip', 'Content-Length: 5'], 'hello'),
        expect: bad(),
      },
      // "If a Transfer-Encoding header field is present in a request and the chunked transfer
      // coding is not the final encoding ... the server MUST respond with the 400 (Bad Request)
      // status code and then close the connection."
      { section: 'RFC 9112 §6.3 (4)', name: 'TE gzip (chunked not final)', request: post(['Transfer-Encoding: gzip'], 'hello'), expect: bad() },
      {
        section: 'RFC 9112 §6.3 (4)',
        name: 'TE chunked, gzip (chunked not final)',
        request: post(['Transfer-Encoding: chunked, gzip'], HELLO_CHUNKED),
        expect: bad(),
      },
      {
        section: 'RFC 9112 §6.3 (4)',
        name: 'TE chunked then a TE gzip field',
        request: post(['Transfer-Encoding: chunked', 'Transfer-Encoding: gzip'], HELLO_CHUNKED),
        expect: bad(),
      },
      {
        section: 'RFC 9112 §6.3 (4)',
        name: 'TE identity (no longer a coding)',
        request: post(['Transfer-Encoding: identity'], 'hello'),
        expect: bad(),
      },
      { section: 'RFC 9112 §6.3 (4)', name: 'TE xchunked', request: post(['Transfer-Encoding: xchunked'], HELLO_CHUNKED), expect: bad() },
      { section: 'RFC 9112 §6.3 (4)', name: 'an empty TE', request: post(['Transfer-Encoding:'], 'hello'), expect: bad() },
      // "A sender MUST NOT apply the chunked transfer coding more than once to a message body."
      { section: 'RFC 9112 §6.1', name: 'TE chunked, chunked', request: post(['Transfer-Encoding: chunked, chunked'], HELLO_CHUNKED), expect: bad() },
      {
        section: 'RFC 9112 §6.1',
        name: 'two TE fields, each chunked',
        request: post(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], HELLO_CHUNKED),
        expect: bad(),
      },
      // "A server that receives a request message with a transfer coding it does not understand
      // SHOULD respond with 501 (Not Implemented)."
      {
        section: 'RFC 9112 §6.1',
        name: 'TE gzip, chunked (coding not implemented, 501)',
        request: post(['Transfer-Encoding: gzip, chunked'], HELLO_CHUNKED),
        expect: bad(501),
      },
      // "A server or client that receives an HTTP/1.0 message containing a Transfer-Encoding header
      // field MUST treat the message as if the framing is faulty ... and close the connection".
      {
        section: 'RFC 9112 §6.1',
        name: 'TE in an HTTP/1.0 request',
        request: `POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n${HELLO_CHUNKED}`,
        expect: bad(),
      },
      // Transfer coding names are case-insensitive (RFC 9112 §7); empty list elements are
      // ignored (RFC 9110 §5.6.1).
      {
        section: 'RFC 9110 §5.1',
        name: 'framing field names in any case (cOnTeNt-LeNgTh)',
        request: post(['cOnTeNt-LeNgTh: 5'], 'hello'),
        expect: ok({ body: 'hello', headers: { 'content-length': '5' } }),
      },
      {
        section: 'RFC 9110 §5.1',
        name: 'framing field names in any case (transfer-encoding)',
        request: post(['transfer-encoding: chunked'], HELLO_CHUNKED),
        expect: ok({ body: 'hello' }),
      },
      {
        section: 'RFC 9112 §7',
        name: 'TE CHUNKED in upper case',
        request: post(['Transfer-Encoding: CHUNKED'], HELLO_CHUNKED),
        expect: ok({ body: 'hello' }),
      },
      {
        section: 'RFC 9110 §5.6.1',
        name: 'TE with an empty list element (, chunked)',
        request: post(['Transfer-Encoding: , chunked'], HELLO_CHUNKED),
        expect: ok({ body: 'hello' }),
      },
      {
        section: 'RFC 9110 §5.5',
        name: 'TE with HTAB OWS',
        request: post(['Transfer-Encoding:\tchunked\t'], HELLO_CHUNKED),
        expect: ok({ body: 'hello' }),
      },

      // Content-Length = 1*DIGIT; an invalid one is "an unrecoverable error" (400 and close),
      // unless it is a list of identical valid values.
      { section: 'RFC 9112 §6.3 (5)', name: 'CL +5', request: post(['Content-Length: +5'], 'hello'), expect: bad() },
      { section: 'RFC 9112 §6.3 (5)', name: 'CL -1', request: post(['Content-Length: -1'], 'hello'), expect: bad() },
      { section: 'RFC 9112 §6.3 (5)', name: 'CL 0x5', request: post(['Content-Length: 0x5'], 'hello'), expect: bad() },
      { section: 'RFC 9112 §6.3 (5)', name: 'CL 1_0', request: post(['Content-Length: 1_0'], 'helloworld'), expect: bad() },
      { section: 'RFC 9112 §6.3 (5)', name: 'CL 5.0', request: post(['Content-Length: 5.0'], 'hello'), expect: bad() },
      { section: 'RFC 9112 §6.3 (5)', name: 'CL 5a', request: post(['Content-Length: 5a'], 'hello'), expect: bad() },
      { section: 'RFC 9112 §6.3 (5)', name: 'CL " 5 5"', request: post(['Content-Length:  5 5'], 'hello'), expect: bad() },
      { section: 'RFC 9112 §6.3 (5)', name: 'CL 5,6', request: post(['Content-Length: 5,6'], 'hello'), expect: bad() },
      {
        section: 'RFC 9112 §6.3 (5)',
        name: 'CL list of differing values 5, 5, 6',
        request: post(['Content-Length: 5, 5, 6'], 'hello'),
        expect: bad(),
      },
      {
        section: 'RFC 9112 §6.3 (5)',
        name: 'two CL fields with different values',
        request: post(['Content-Length: 5', 'Content-Length: 6'], 'hello'),
        expect: bad(),
      },
      { section: 'RFC 9112 §6.3 (5)', name: 'an empty CL', request: post(['Content-Length:'], 'hello'), expect: bad() },
      { section: 'RFC 9112 §6.3 (5)', name: 'CL with an empty list element (5,)', request: post(['Content-Length: 5,'], 'hello'), expect: bad() },
      // "MUST anticipate potentially large decimal numerals and prevent parsing errors due to
      // integer conversion overflows or precision loss" (RFC 9110 §8.6): past 2^53 is refused.
      {
        section: 'RFC 9112 §6.3 (5), RFC 9110 §8.6',
        name: 'CL of 20 digits',
        request: post(['Content-Length: 99999999999999999999'], 'hello'),
        expect: bad(),
      },
      {
        section: 'RFC 9110 §8.6',
        name: 'CL with leading zeros (007)',
        request: post(['Content-Length: 007'], 'abcdefg'),
        expect: ok({ body: 'abcdefg' }),
      },
      // "the recipient MUST either reject the message as invalid or replace the duplicated
      // field-values with a single valid Content-Length field": Pegasus rejects (policy).
      { section: 'RFC 9112 §6.3 (5)', name: 'CL list of identical values 5, 5', request: post(['Content-Length: 5, 5'], 'hello'), expect: bad() },
      { section: 'RFC 9112 §6.3 (5)', name: 'CL list 5,5 without blanks', request: post(['Content-Length: 5,5'], 'hello'), expect: bad() },
      // Valid tokens, but a server or proxy that maps `_` to `-` would frame by them (policy).
      { section: 'RFC 9110 §5.1, RFC 9112 §6.3', name: 'a Content_Length field', request: post(['Content_Length: 5'], 'hello'), expect: bad() },
      { section: 'RFC 9110 §5.1, RFC 9112 §6.3', name: 'a Transfer_Encoding field', request: post(['Transfer_Encoding: chunked'], '0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §6.3 (5)', name: 'two CL fields with the same value', request: post(['Content-Length: 5', 'Content-Length: 5'], 'hello'), expect: bad() },
      {
        section: 'RFC 9110 §5.5',
        name: 'CL with SP and HTAB OWS',
        request: post(['Content-Length: \t5\t '], 'hello'),
        expect: ok({ body: 'hello' }),
      },
      { section: 'RFC 9112 §6.3 (6)', name: 'CL: 0 on GET', request: get('Content-Length: 0'), expect: ok({ method: 'GET', body: '' }) },
      {
        section: 'RFC 9112 §6.3 (6)',
        name: 'CL frames a body on GET too',
        request: `GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello`,
        expect: ok({ method: 'GET', body: 'hello' }),
      },
      {
        section: 'RFC 9112 §6.3 (6)',
        name: 'CL body on HTTP/1.0',
        request: 'POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello',
        expect: ok({ httpVersion: '1.0', body: 'hello' }, false),
      },
      // "If this is a request message and none of the above are true, then the message body
      // length is zero": the bytes after the head are the next request.
      { section: 'RFC 9112 §6.3 (7)', name: 'POST with neither CL nor TE has no body', request: post([]), expect: ok({ method: 'POST', body: '' }) },
    ],
  },

  {
    title: 'RFC 9112 §7.1: chunked transfer coding',
    rows: [
      // chunk-size = 1*HEXDIG
      { section: 'RFC 9112 §7.1', name: 'chunk size g (not hex)', request: chunked('g\r\nhello\r\n0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1', name: 'chunk size -1', request: chunked('-1\r\nh\r\n0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1', name: 'chunk size +1', request: chunked('+1\r\nh\r\n0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1', name: 'chunk size 0x1', request: chunked('0x1\r\nh\r\n0\r\n\r\n'), expect: bad() },
      // "Recipients MUST anticipate potentially large hexadecimal numerals and prevent parsing
      // errors due to integer conversion overflows or precision loss".
      {
        section: 'RFC 9112 §7.1',
        name: 'chunk size of 20 hex digits (past 2^53)',
        request: chunked('ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n'),
        expect: bad(),
      },
      { section: 'RFC 9112 §7.1', name: 'an empty chunk size line', request: chunked('\r\nhello\r\n0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1', name: 'SP before the chunk size', request: chunked(' 5\r\nhello\r\n0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1', name: 'SP inside the chunk size (5 5)', request: chunked('5 5\r\nhello\r\n0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1', name: 'an extension without a chunk size', request: chunked(';a\r\nhello\r\n0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1', name: 'no CRLF after the chunk data', request: chunked('5\r\nhello0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1', name: 'chunk data longer than its size', request: chunked('3\r\nhello\r\n0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1, §2.2', name: 'bare LF after the chunk data', request: chunked('5\r\nhello\n0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1, §2.2', name: 'bare CR after the chunk data', request: chunked('5\r\nhello\r0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1, §2.2', name: 'bare LF ends the chunk size line', request: chunked('5\nhello\r\n0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1, §2.2', name: 'bare CR in the chunk size line', request: chunked('5\r5\r\nhello\r\n0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1, §2.2', name: 'bare LF ends the last chunk', request: chunked('5\r\nhello\r\n0\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1, §2.2', name: 'bare LF ends the chunked body', request: chunked('5\r\nhello\r\n0\r\n\n'), expect: bad() },
      { section: 'RFC 9112 §7.1', name: 'a simple chunked body', request: chunked(HELLO_CHUNKED), expect: ok({ body: 'hello' }) },
      {
        section: 'RFC 9112 §7.1',
        name: 'several chunks',
        request: chunked('5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n'),
        expect: ok({ body: 'hello world' }),
      },
      {
        section: 'RFC 9112 §7.1',
        name: 'hex sizes in both cases (a, A)',
        request: chunked(`a\r\n${'x'.repeat(10)}\r\nA\r\n${'y'.repeat(10)}\r\n0\r\n\r\n`),
        expect: ok({ body: 'x'.repeat(10) + 'y'.repeat(10) }),
      },
      {
        section: 'RFC 9112 §7.1',
        name: 'chunk sizes with leading zeros (0005, 000)',
        request: chunked('0005\r\nhello\r\n000\r\n\r\n'),
        expect: ok({ body: 'hello' }),
      },
      // Chunk data is content: a last-chunk look-alike inside it is data.
      {
        section: 'RFC 9112 §7.1',
        name: 'chunk data that looks like a last chunk',
        request: chunked('5\r\n0\r\n\r\n\r\n0\r\n\r\n'),
        expect: ok({ body: '0\r\n\r\n' }),
      },

      // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ); a recipient
      // MUST ignore unrecognized chunk extensions.
      {
        section: 'RFC 9112 §7.1.1',
        name: 'extension with BWS before ; (5 ;ext=val)',
        request: chunked('5 ;ext=val\r\nhello\r\n0\r\n\r\n'),
        expect: ok({ body: 'hello' }),
      },
      {
        section: 'RFC 9112 §7.1.1',
        name: 'extension with HTAB BWS',
        request: chunked('5\t;ext=val\r\nhello\r\n0\r\n\r\n'),
        expect: ok({ body: 'hello' }),
      },
      {
        section: 'RFC 9112 §7.1.1',
        name: 'extension with BWS around = (5 ; a = b)',
        request: chunked('5 ; a = b\r\nhello\r\n0\r\n\r\n'),
        expect: ok({ body: 'hello' }),
      },
      {
        section: 'RFC 9112 §7.1.1',
        name: 'quoted-string extension value',
        request: chunked('5;ext="quo;ted \\"x\\""\r\nhello\r\n0\r\n\r\n'),
        expect: ok({ body: 'hello' }),
      },
      {
        section: 'RFC 9112 §7.1.1',
        name: 'several extensions',
        request: chunked('5;a;b=1;c="x"\r\nhello\r\n0;end=1\r\n\r\n'),
        expect: ok({ body: 'hello' }),
      },
      {
        section: 'RFC 9112 §7.1.1, §2.2',
        name: 'a chunk extension outside the grammar (5;a b=)',
        request: chunked('5;a b=\r\nhello\r\n0\r\n\r\n'),
        expect: bad(),
      },
      {
        section: 'RFC 9112 §7.1.1',
        name: 'whitespace after the size not followed by ;',
        request: chunked('5 x\r\nhello\r\n0\r\n\r\n'),
        expect: bad(),
      },
      { section: 'RFC 9112 §7.1.1, §2.2', name: 'bare LF inside an extension', request: chunked('5;a\nb\r\nhello\r\n0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1.1, §2.2', name: 'bare CR inside an extension', request: chunked('5;a\rb\r\nhello\r\n0\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1.1', name: 'NUL inside an extension', request: chunked('5;a\0b\r\nhello\r\n0\r\n\r\n'), expect: bad() },

      // trailer-section = *( field-line CRLF )
      {
        section: 'RFC 9112 §7.1.2',
        name: 'trailer fields',
        request: chunked('5\r\nhello\r\n0\r\nX-Trailer: v\r\nY:w \r\n\r\n'),
        expect: ok({ body: 'hello' }),
      },
      // RFC 9110 §6.5.1: "A sender MUST NOT generate a trailer field" that frames, routes,
      // modifies the request, authenticates or says how to process the content; a proxy that
      // merges trailers into the head could act on one, so the request is refused (policy).
      ...['Content-Length: 99', 'Transfer-Encoding: chunked', 'Host: b', 'Authorization: Basic YTpi', 'Cookie: s=1', 'X-Forwarded-For: 10.0.0.1', 'Content-Type: text/plain', 'Connection: close'].map(
        (field): Row => ({ section: 'RFC 9112 §7.1.2, RFC 9110 §6.5.1', name: `a \`${field}\` trailer`, request: chunked(`5\r\nhello\r\n0\r\n${field}\r\n\r\n`), expect: bad() }),
      ),
      {
        section: 'RFC 9112 §7.1.2, RFC 9110 §6.5.1',
        name: 'trailers that only resemble forbidden fields',
        request: chunked('5\r\nhello\r\n0\r\nContent-Lengthy: 99\r\nX-Host: b\r\nServer-Timing: a\r\n\r\n'),
        expect: ok({ body: 'hello' }),
      },
      { section: 'RFC 9112 §7.1.2, §5.2', name: 'obs-fold in a trailer', request: chunked('5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1.2, §5.1', name: 'SP before a trailer colon', request: chunked('5\r\nhello\r\n0\r\nX : a\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1.2', name: 'a trailer line without a colon', request: chunked('5\r\nhello\r\n0\r\nX\r\n\r\n'), expect: bad() },
      { section: 'RFC 9112 §7.1.2', name: 'an empty trailer name', request: chunked('5\r\nhello\r\n0\r\n: a\r\n\r\n'), expect: bad() },
      {
        section: 'RFC 9112 §7.1.2, RFC 9110 §5.5',
        name: 'NUL in a trailer value',
        request: chunked('5\r\nhello\r\n0\r\nX: a\0b\r\n\r\n'),
        expect: bad(),
      },
      { section: 'RFC 9112 §7.1.2, §2.2', name: 'bare CR in a trailer value', request: chunked('5\r\nhello\r\n0\r\nX: a\rb\r\n\r\n'), expect: bad() },
    ],
  },

  {
    title: 'RFC 9110 §10.1.1 Expect and RFC 9112 §9.3 persistence',
    rows: [
      { section: 'RFC 9110 §10.1.1', name: 'Expect: foo (417)', request: get('Expect: foo'), expect: bad(417) },
      {
        section: 'RFC 9110 §10.1.1',
        name: 'Expect: 100-continue, foo (417)',
        request: post(['Expect: 100-continue, foo', 'Content-Length: 5'], 'hello'),
        expect: bad(417),
      },
      {
        section: 'RFC 9110 §10.1.1',
        name: 'Expect: 100-continuex (417)',
        request: post(['Expect: 100-continuex', 'Content-Length: 5'], 'hello'),
        expect: bad(417),
      },
      {
        section: 'RFC 9110 §10.1.1',
        name: 'Expect: 100-continue with the body sent at once',
        request: post(['Expect: 100-continue', 'Content-Length: 5'], 'hello'),
        expect: ok({ body: 'hello' }),
      },
      // Expect = #expectation, and "a recipient MUST parse and ignore a reasonable number of empty
      // list elements" (RFC 9110 §5.6.1.2): an empty element is no expectation.
      {
        section: 'RFC 9110 §10.1.1, §5.6.1.2',
        name: 'Expect: 100-continue, (an empty list element)',
        request: post(['Expect: 100-continue,', 'Content-Length: 5'], 'hello'),
        expect: ok({ body: 'hello' }),
      },
      {
        section: 'RFC 9110 §10.1.1, §5.6.1.2',
        name: 'an empty Expect (an empty list)',
        request: get('Expect:'),
        expect: ok(),
      },
      // "The Expect field value is case-insensitive."
      {
        section: 'RFC 9110 §10.1.1',
        name: 'Expect: 100-CONTINUE',
        request: post(['Expect: 100-CONTINUE', 'Content-Length: 5'], 'hello'),
        expect: ok({ body: 'hello' }),
      },
      // "A server that receives a 100-continue expectation in an HTTP/1.0 request MUST ignore that
      // expectation"; Pegasus ignores any expectation there.
      {
        section: 'RFC 9110 §10.1.1',
        name: 'Expect on HTTP/1.0 is ignored',
        request: 'GET / HTTP/1.0\r\nExpect: foo\r\n\r\n',
        expect: ok({ httpVersion: '1.0' }, false),
      },

      {
        section: 'RFC 9112 §9.3',
        name: 'HTTP/1.1 Connection: close closes after the response',
        request: get('Connection: close'),
        expect: ok({}, false),
      },
      {
        section: 'RFC 9112 §9.3',
        name: 'Connection options are a case-insensitive list',
        request: get('Connection: keep-alive, Close'),
        expect: ok({}, false),
      },
      {
        section: 'RFC 9112 §9.3',
        name: 'HTTP/1.0 Connection: keep-alive persists',
        request: 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
        expect: ok({ httpVersion: '1.0' }),
      },
      {
        section: 'RFC 9112 §9.3',
        name: 'keep-alive after a chunked body with trailers',
        request: chunked('5\r\nhello\r\n0\r\nX: y\r\n\r\n'),
        expect: ok({ body: 'hello' }),
      },
    ],
  },

  {
    title: 'permissiveTarget: request-target bytes outside RFC 3986 let through',
    options: { permissiveTarget: true },
    rows: [
      { section: 'RFC 9112 §3 (SHOULD)', name: 'obs-text, `"<>` and a fragment', request: withLine('GET /caf\xe9"<>?q=\xc3\xa9#f HTTP/1.1'), expect: ok({ url: '/caf\xe9"<>?q=\xc3\xa9#f' }) },
      { section: 'RFC 9112 §3 (SHOULD)', name: 'malformed %-escapes', request: withLine('GET /a%zz?b=100% HTTP/1.1'), expect: ok({ url: '/a%zz?b=100%' }) },
      { section: 'RFC 9112 §3.2', name: 'still refused: a CTL', request: withLine('GET /a\x01b HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'still refused: DEL', request: withLine('GET /a\x7fb HTTP/1.1'), expect: bad() },
      { section: 'RFC 9112 §3.2', name: 'still refused: SP inside the target', request: withLine('GET /a b HTTP/1.1'), expect: bad() },
      { section: 'RFC 3986 §7.3', name: 'still refused: %00', request: withLine('GET /a%00 HTTP/1.1'), expect: bad() },
    ],
  },
  {
    title: `Limits (maxRequestLineSize 64, maxHeaderSize 128, maxHeaderCount 8, maxHeadSize 512, maxBodySize 32)`,
    options: SMALL,
    rows: [
      // "A server that receives a request-target longer than any URI it wishes to parse MUST
      // respond with a 414 (URI Too Long) status code."
      {
        section: 'RFC 9112 §3',
        name: 'a request line at the limit',
        request: `${requestLineOf(64)}Host: a\r\n\r\n`,
        expect: ok({ url: `/${'a'.repeat(48)}` }),
      },
      { section: 'RFC 9112 §3', name: 'a request line one byte over (414)', request: `${requestLineOf(65)}Host: a\r\n\r\n`, expect: bad(414) },
      // 414 names the target: a request line too long for another part is malformed (400).
      { section: 'RFC 9112 §3, RFC 9110 §15.5.15', name: 'a method longer than the request line limit (400)', request: `${'M'.repeat(70)} / HTTP/1.1\r\nHost: a\r\n\r\n`, expect: bad(400) },
      { section: 'RFC 9112 §3, RFC 9110 §15.5.15', name: 'a version past the request line limit (400)', request: `GET / HTTP/1.1${'1'.repeat(60)}\r\nHost: a\r\n\r\n`, expect: bad(400) },
      {
        section: 'RFC 9112 §3',
        name: 'a request line over the limit before its end arrives (414)',
        request: `GET /${'a'.repeat(100)}`,
        expect: bad(414),
      },
      // RFC 6585 §5: 431 for header fields too large, one or all together.
      {
        section: 'RFC 6585 §5',
        name: 'a field line at the limit',
        request: `GET / HTTP/1.1\r\nHost: a\r\n${fieldOf('X', 128)}\r\n`,
        expect: ok({ headers: { x: 'v'.repeat(123) } }),
      },
      {
        section: 'RFC 6585 §5',
        name: 'a field line one byte over (431)',
        request: `GET / HTTP/1.1\r\nHost: a\r\n${fieldOf('X', 129)}\r\n`,
        expect: bad(431),
      },
      {
        section: 'RFC 6585 §5',
        name: 'a field line over the limit before its end arrives (431)',
        request: `GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(200)}`,
        expect: bad(431),
      },
      {
        section: 'RFC 6585 §5',
        name: 'as many fields as allowed',
        request: get('A: 1', 'B: 2', 'C: 3', 'D: 4', 'E: 5', 'F: 6', 'G: 7'),
        expect: ok({ headers: { g: '7' } }),
      },
      {
        section: 'RFC 6585 §5',
        name: 'one field too many (431)',
        request: get('A: 1', 'B: 2', 'C: 3', 'D: 4', 'E: 5', 'F: 6', 'G: 7', 'H: 8'),
        expect: bad(431),
      },
      { section: 'RFC 6585 §5', name: 'a head at the limit', request: headOf(512), expect: ok({ method: 'GET' }) },
      { section: 'RFC 6585 §5', name: 'a head one byte over (431)', request: headOf(513), expect: bad(431) },
      {
        section: 'RFC 6585 §5',
        name: 'a trailer section over the head limit (431)',
        request: chunked(`5\r\nhello\r\n0\r\n${fieldOf('A', 120)}${fieldOf('B', 120)}${fieldOf('C', 120)}${fieldOf('D', 120)}${fieldOf('E', 120)}\r\n`),
        expect: bad(431),
      },
      // RFC 9110 §15.5.14: 413 Content Too Large. A declared length is refused from the head
      // alone: the body is never sent here.
      {
        section: 'RFC 9110 §15.5.14',
        name: 'a Content-Length body at the limit',
        request: post(['Content-Length: 32'], 'b'.repeat(32)),
        expect: ok({ body: 'b'.repeat(32) }),
      },
      {
        section: 'RFC 9110 §15.5.14',
        name: 'Content-Length over the limit, answered before the body (413)',
        request: post(['Content-Length: 33']),
        expect: bad(413),
      },
      {
        section: 'RFC 9110 §15.5.14',
        name: 'a chunked body at the limit',
        request: chunked(`10\r\n${'c'.repeat(16)}\r\n10\r\n${'d'.repeat(16)}\r\n0\r\n\r\n`),
        expect: ok({ body: 'c'.repeat(16) + 'd'.repeat(16) }),
      },
      {
        section: 'RFC 9110 §15.5.14',
        name: 'a chunked body that grows past the limit (413)',
        request: chunked(`10\r\n${'c'.repeat(16)}\r\n11\r\n${'d'.repeat(17)}\r\n0\r\n\r\n`),
        expect: bad(413),
      },
    ],
  },
]

// --- The runner -----------------------------------------------------------------------------

/** What the app saw of one request. */
interface Seen {
  method: string
  url: string
  httpVersion: string
  headers: Record<string, string>
  rawHeaders: string[]
  /** null until the app has read it. */
  body: Buffer | null
}

/** An app that records every request it sees (at entry, before reading the body) and says ok. */
function recorder(seen: Seen[]) {
  return async (req: Request, res: Response): Promise<void> => {
    const entry: Seen = {
      method: req.method,
      url: req.url,
      httpVersion: req.httpVersion,
      headers: { ...req.headers },
      rawHeaders: [...req.rawHeaders],
      body: null,
    }
    seen.push(entry)
    // A copy: the body may be a view of the socket's buffer.
    entry.body = Buffer.from(await req.body())
    res.end('ok')
  }
}

// Sent right behind an accepted request, in the same write: answered only if the request's
// framing ended exactly where it should and the connection persists.
const FOLLOW_UP = 'GET /next HTTP/1.1\r\nHost: a\r\n\r\n'
// Long enough for a loaded machine, short enough that a row that hangs costs little.
const WAIT = 2000

/** Final (non-1xx) responses received so far; a 100 Continue may come before them. */
function finals(client: RawClient): RawResponse[] {
  return client.responses().filter((res) => res.statusCode >= 200)
}

/** Waits until `check` holds; false after WAIT ms (the assertions then say what is missing). */
async function settle(client: RawClient, check: () => boolean): Promise<boolean> {
  try {
    await client.until(check, WAIT)
    return true
  } catch {
    return false
  }
}

type Todo = { todo?: string }

async function checkRejected(t: Test, client: RawClient, seen: Seen[], row: Row, status: number, todo: Todo): Promise<void> {
  await client.write(row.request)
  // Done once the server has closed; or at once on a success, which will not be followed by one.
  await settle(client, () => client.ended || finals(client).some((res) => res.statusCode < 400))
  const responses = finals(client)
  t.equal(responses.length, 1, 'one response', todo)
  const res = responses[0]
  t.equal(res?.statusCode, status, `status ${status}`, todo)
  t.match(res?.headers['content-type'], /^text\/plain/, 'a text/plain reason', todo)
  t.match(res?.body.toString('latin1'), /^[\x20-\x7e]+\n?$/, `a one-line reason: ${JSON.stringify(res?.body.toString('latin1'))}`, todo)
  t.equal(res?.headers.connection, 'close', 'Connection: close', todo)
  t.ok(client.ended, 'the server closes the connection', todo)
  t.equal(seen.length, 0, 'the app is never called', todo)
}

async function checkAccepted(t: Test, client: RawClient, seen: Seen[], row: Row, accept: Accepted, keepAlive: boolean, todo: Todo): Promise<void> {
  await client.write(row.request + FOLLOW_UP)
  await settle(client, () => client.ended || finals(client).length >= 2)
  const responses = finals(client)
  t.equal(responses[0]?.statusCode, 200, 'answered 200', todo)
  const got = seen[0]
  t.ok(got, 'the app is called', todo)
  if (got !== undefined) {
    if (accept.method !== undefined) t.equal(got.method, accept.method, 'req.method', todo)
    if (accept.url !== undefined) t.equal(got.url, accept.url, 'req.url', todo)
    if (accept.httpVersion !== undefined) t.equal(got.httpVersion, accept.httpVersion, 'req.httpVersion', todo)
    for (const [name, value] of Object.entries(accept.headers ?? {})) {
      t.equal(got.headers[name], value, `req.headers[${JSON.stringify(name)}]`, todo)
    }
    if (accept.rawHeaders !== undefined) t.same(got.rawHeaders, accept.rawHeaders, 'req.rawHeaders', todo)
    t.equal(got.body?.toString('latin1'), accept.body ?? '', 'body', todo)
  }
  if (keepAlive) {
    t.equal(responses[1]?.statusCode, 200, 'the request behind it on the connection is answered', todo)
    t.equal(seen[1]?.url, '/next', 'as a request of its own', todo)
    t.equal(seen.length, 2, 'and nothing else reaches the app', todo)
    t.notOk(client.ended, 'the connection stays open', todo)
  } else {
    t.equal(responses.length, 1, 'one response', todo)
    t.equal(responses[0]?.headers.connection, 'close', 'Connection: close', todo)
    t.ok(client.ended, 'the server closes the connection', todo)
    t.equal(seen.length, 1, 'the bytes after the request are not read', todo)
  }
}

async function runRow(t: Test, port: number, seen: Seen[], row: Row): Promise<void> {
  seen.length = 0
  const todo: Todo = row.todo === undefined ? {} : { todo: row.todo }
  const client = await RawClient.connect(port)
  try {
    const expect = row.expect
    if ('status' in expect) await checkRejected(t, client, seen, row, expect.status, todo)
    else await checkAccepted(t, client, seen, row, expect.accept, expect.keepAlive ?? true, todo)
  } catch (error) {
    // A reply the strict response parser refuses lands here.
    t.fail(`no usable reply: ${String(error)}`, todo)
  } finally {
    client.destroy()
  }
}

// One server per group; its rows run one after another on fresh connections. (A todo option on
// the row's t.test would skip it in tap 21; the todo goes on each assertion instead, so the row
// runs and shows what Pegasus does.)
for (const group of groups) {
  t.test(group.title, async (t) => {
    const seen: Seen[] = []
    const s = await startServer(t, recorder(seen), group.options)
    for (const row of group.rows) {
      t.test(`${row.section}: ${row.name}`, (t) => runRow(t, s.port, seen, row))
    }
    t.test('nothing was logged as an error', async (t) => {
      t.equal(s.errText(), '')
    })
  })
}

// Mainstream clients' request-targets are accepted as they send them: fetch (undici) and
// node:http's client serialize URLs by the WHATWG URL standard, which leaves `|[]` raw in a path
// (and `^` too in Node.js 20's URL; Node.js 24's encodes it) and `|{}^`[]\` raw in a query, and
// percent-encodes the rest (`"<>`, `{}` and backtick in a path, non-ASCII, SP); curl sends the
// URL as given (with -g for its `[]{}` globbing).
t.test("mainstream clients' targets are accepted as they send them", async (t) => {
  const urls: string[] = []
  const s = await startServer(t, (req: Request, res: Response) => {
    urls.push(req.url)
    res.end()
  })
  const url = '/a|b^[c]{d}`e?q=|{}^`[]\\&r="<x>"&s=é f'
  // What this Node.js's URL makes of it: one of the two forms the standard has had.
  const serialized = new URL(s.origin + url)
  const encoded = serialized.pathname + serialized.search
  t.match(encoded, /^\/a\|b(\^|%5E)\[c\]%7Bd%7D%60e\?q=\|\{\}\^`\[\]\\&r=%22%3Cx%3E%22&s=%C3%A9%20f$/, 'the WHATWG serialization')
  t.equal((await fetch(s.origin + url)).status, 200, 'fetch')
  t.equal(urls.pop(), encoded, 'fetch: the target as WHATWG URL serializes it')
  const status = await new Promise<number | undefined>((resolve, reject) => {
    http.get(s.origin + url, (res) => resolve(res.resume().statusCode)).on('error', reject)
  })
  t.equal(status, 200, 'node:http')
  t.equal(urls.pop(), encoded, 'node:http: the same')
  // Not spawnSync: the server answers on this event loop.
  const curl = await new Promise<{ error: Error | null; stdout: string }>((resolve) => {
    execFile('curl', ['-g', '-s', '-o', '/dev/null', '-w', '%{http_code}', `${s.origin}/a|b^[c]{d}\`e?q=|{}^\`[]\\&x=1`], (error, stdout) => resolve({ error, stdout }))
  })
  if ((curl.error as NodeJS.ErrnoException | null)?.code === 'ENOENT') t.comment('curl is not installed: its part is skipped')
  else {
    t.equal(curl.stdout, '200', 'curl -g')
    t.equal(urls.pop(), '/a|b^[c]{d}`e?q=|{}^`[]\\&x=1', 'curl: the target as given')
  }
})
