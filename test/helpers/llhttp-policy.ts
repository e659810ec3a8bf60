// Where Pegasus deliberately answers llhttp's request corpus differently from llhttp, and why.
// test/llhttp.ts replays every case against a running server: a case listed here must behave as
// its `pegasus` outcome says (and that outcome must still differ from llhttp's, so the list
// cannot go stale); every case not listed must behave as llhttp does.
//
// Outcomes are for the replay with `Host: corpus.test` added to HTTP/1.1 requests that lack it.
// The as-written replay follows from it: Pegasus refuses an HTTP/1.1 request without Host (400).
// A refused case is sent with CRLF CRLF after it: Pegasus checks a head's fields once the head
// is complete, and llhttp's verdict is final before those bytes.
import type { End, Outcome, Served } from './llhttp-corpus.js'

export interface PolicyReason {
  /** A few words, used to group the counts. */
  title: string
  /** The RFC 9110/9112 (or 9113) section that allows or requires Pegasus's answer. */
  rfc: string
}

export const REASONS = {
  host: { title: 'Host required on HTTP/1.1: 400', rfc: 'RFC 9112 §3.2' },
  method: { title: 'Any token is a method (the app decides what it implements)', rfc: 'RFC 9110 §9.1, §5.6.2' },
  protocol: { title: 'Only HTTP/1.x: ICE and RTSP request lines are refused (400)', rfc: 'RFC 9112 §2.3' },
  http09: { title: 'HTTP/0.9 (a request line without version) refused: 400', rfc: 'RFC 9112 §3' },
  version: { title: 'HTTP major versions other than 1: 505', rfc: 'RFC 9110 §15.6.6' },
  connect: { title: 'CONNECT not supported (no proxy): 501', rfc: 'RFC 9110 §9.3.6, §15.6.2' },
  asterisk: { title: 'Asterisk-form only with OPTIONS: 400', rfc: 'RFC 9112 §3.2.4' },
  h2: { title: 'No HTTP/2 prior knowledge: `PRI *` is a bad request (400)', rfc: 'RFC 9113 §3.3; RFC 9112 §3.2.4' },
  userinfo: { title: 'userinfo in an http(s) target refused: 400', rfc: 'RFC 9110 §4.2.4' },
  targetGrammar: { title: 'Request-target bytes outside RFC 3986 (`"`, a fragment) refused: 400', rfc: 'RFC 9112 §3 (SHOULD), §3.2; RFC 3986' },
  upgrade: { title: 'Upgrade ignored: the request is served as HTTP/1.1, later bytes are HTTP', rfc: 'RFC 9110 §7.8' },
  chunkedLast: { title: 'chunked must be the last transfer coding: 400', rfc: 'RFC 9112 §6.3' },
  teAndCl: { title: 'Transfer-Encoding with Content-Length: 400', rfc: 'RFC 9112 §6.1, §6.3' },
  obsFold: { title: 'Obsolete line folding refused: 400', rfc: 'RFC 9112 §5.2' },
  spaceBeforeColon: { title: 'Whitespace between field name and colon: 400', rfc: 'RFC 9112 §5.1' },
  bareCr: { title: 'A bare CR is not a line ending: 400', rfc: 'RFC 9112 §2.2' },
  bareLf: { title: 'A bare LF is not a line ending: 400', rfc: 'RFC 9112 §2.2' },
  ctl: { title: 'Control characters in a field value: 400', rfc: 'RFC 9110 §5.5' },
  chunkFraming: { title: 'Chunk lines exactly as specified: 400', rfc: 'RFC 9112 §7.1, §7.1.1' },
  trailers: { title: 'Trailer fields that frame, route, authenticate or describe the content refused: 400', rfc: 'RFC 9110 §6.5.1' },
  close: { title: 'Nothing is read after a request that closes the connection', rfc: 'RFC 9112 §9.3, §9.6' },
  skipBody: { title: 'A request body is always read (llhttp skipBody is a client-side option)', rfc: 'RFC 9112 §6.3' },
} satisfies Record<string, PolicyReason>

export type ReasonKey = keyof typeof REASONS

export interface PolicyEntry {
  /** Corpus file and test heading (a repeated heading carries ` (2)`). */
  file: string
  name: string
  reason: ReasonKey
  /** What llhttp does with the case, in the mode its type names. */
  llhttp: string
  /** What Pegasus does: the requests that reach the app, then how the exchange ends. */
  pegasus: Outcome
  /** Pegasus's outcome in words, where the outcome alone says too little. */
  note?: string
}

// Shorthands for the table.
function req(method: string, target: string, body = ''): Served {
  return { method, target, body }
}
function status(code: number): End {
  return { kind: 'error', status: code }
}
const OPEN: End = { kind: 'open' }
const CLOSE: End = { kind: 'close' }
const refused = (code: number): Outcome => ({ served: [], end: status(code) })

export const POLICY: PolicyEntry[] = [
  // --- Methods, versions, request targets ---------------------------------------------------
  {
    file: 'invalid.md',
    name: 'HTTP protocol and ANNOUNCE method',
    reason: 'method',
    llhttp: 'rejects ANNOUNCE, an RTSP method, in an HTTP request',
    pegasus: { served: [req('ANNOUNCE', '/music/sweet/music')], end: CLOSE },
  },
  {
    file: 'invalid.md',
    name: 'Invalid method',
    reason: 'method',
    llhttp: 'rejects MKCOLA, a method it does not know',
    pegasus: { served: [req('MKCOLA', '/')], end: OPEN },
  },
  {
    file: 'method.md',
    name: 'SOURCE request with ICE',
    reason: 'protocol',
    llhttp: 'accepts the ICE/1.0 request line',
    pegasus: refused(400),
  },
  {
    file: 'method.md',
    name: 'OPTIONS request with RTSP',
    reason: 'protocol',
    llhttp: 'accepts the RTSP/1.0 request line',
    pegasus: refused(400),
  },
  {
    file: 'method.md',
    name: 'ANNOUNCE request with RTSP',
    reason: 'protocol',
    llhttp: 'accepts the RTSP/1.0 request line',
    pegasus: refused(400),
  },
  {
    file: 'sample.md',
    name: 'No HTTP version',
    reason: 'http09',
    llhttp: 'accepts `GET /` as HTTP/0.9',
    pegasus: refused(400),
  },
  {
    file: 'lenient-version.md',
    name: 'Invalid HTTP version (lenient)',
    reason: 'version',
    llhttp: '(lenient-version) accepts HTTP/5.6',
    pegasus: refused(505),
  },
  {
    file: 'method.md',
    name: 'CONNECT request',
    reason: 'connect',
    llhttp: 'completes the CONNECT, then hands the connection over',
    pegasus: refused(501),
  },
  {
    file: 'method.md',
    name: 'CONNECT request with CAPS',
    reason: 'connect',
    llhttp: 'completes the CONNECT, then hands the connection over',
    pegasus: refused(501),
  },
  {
    file: 'method.md',
    name: 'CONNECT with body',
    reason: 'connect',
    llhttp: 'completes the CONNECT (ignoring its Content-Length), then hands the connection over',
    pegasus: refused(501),
  },
  {
    file: 'uri.md',
    name: 'Underscore in hostname',
    reason: 'connect',
    llhttp: 'completes the CONNECT, then hands the connection over',
    pegasus: refused(501),
  },
  {
    file: 'method.md',
    name: 'M-SEARCH request',
    reason: 'asterisk',
    llhttp: 'accepts `M-SEARCH *`',
    pegasus: refused(400),
  },
  {
    file: 'method.md',
    name: 'PRI request HTTP2',
    reason: 'h2',
    llhttp: 'reads the HTTP/2 connection preface (`PRI * HTTP/1.1`...) and pauses for HTTP/2',
    pegasus: refused(400),
  },
  {
    file: 'uri.md',
    name: '`host:port` and basic auth',
    reason: 'userinfo',
    llhttp: 'accepts `http://a%12:b!&*$@hypnotoad.org:1234/toto`',
    pegasus: refused(400),
  },
  // Deliberate in Pegasus (test/parser.ts takes `/\x80` as a valid target); RFC 9112 §3 only
  // says SHOULD 400 for an invalid request-line.
  {
    file: 'uri.md',
    name: 'Quotes in URI',
    reason: 'targetGrammar',
    llhttp: 'accepts `"` and `\\` in the target',
    pegasus: refused(400),
  },
  {
    file: 'uri.md',
    name: 'Fragment in URI',
    reason: 'targetGrammar',
    llhttp: 'accepts a fragment (`#posts-17408`) in the target',
    pegasus: refused(400),
  },
  {
    file: 'transfer-encoding.md',
    name: 'POST with `chunked` as last transfer-encoding',
    reason: 'targetGrammar',
    llhttp: 'accepts `deflate, chunked` and hands over the (still deflated) body',
    pegasus: refused(400),
    note: 'refuses the fragment `#hey` in the target (the request line is checked first; `deflate` would get 501)',
  },
  {
    file: 'transfer-encoding.md',
    name: 'POST with `chunked` as last transfer-encoding (multiple headers)',
    reason: 'targetGrammar',
    llhttp: 'accepts `deflate` then `chunked` and hands over the (still deflated) body',
    pegasus: refused(400),
    note: 'refuses the fragment `#hey` in the target (the request line is checked first; `deflate` would get 501)',
  },

  // --- Upgrade ------------------------------------------------------------------------------
  {
    file: 'connection.md',
    name: 'Multiple tokens with folding and LWS',
    reason: 'upgrade',
    llhttp: 'completes the GET, then hands the connection over to the Upgrade protocol',
    pegasus: { served: [req('GET', '/demo')], end: OPEN },
  },
  {
    file: 'connection.md',
    name: 'Setting a flag and pausing',
    reason: 'upgrade',
    llhttp: 'completes the PUT, then hands the connection over to the Upgrade protocol',
    pegasus: { served: [req('PUT', '/url')], end: OPEN },
  },
  {
    file: 'connection.md',
    name: 'Emitting part of body and pausing',
    reason: 'upgrade',
    llhttp: 'completes the PUT (4-byte body), then hands the connection over to the Upgrade protocol',
    pegasus: { served: [req('PUT', '/url', 'abcd')], end: OPEN },
  },
  {
    file: 'connection.md',
    name: 'Upgrade GET request',
    reason: 'upgrade',
    llhttp: 'completes the GET, then hands the connection over to the Upgrade protocol',
    pegasus: { served: [req('GET', '/demo')], end: OPEN },
  },
  {
    file: 'connection.md',
    name: 'Upgrade POST request',
    reason: 'upgrade',
    llhttp: 'completes the POST (15-byte body), then hands the connection over to the Upgrade protocol',
    pegasus: { served: [req('POST', '/demo', 'sweet post body')], end: OPEN },
  },

  // --- Framing ------------------------------------------------------------------------------
  {
    file: 'transfer-encoding.md',
    name: 'Trailing headers',
    reason: 'trailers',
    llhttp: 'accepts the trailers `Vary: *` and `Content-Type: text/plain`',
    pegasus: refused(400),
    note: 'refuses the `Content-Type` trailer (it says how to process the content), after the body',
  },
  {
    file: 'transfer-encoding.md',
    name: 'POST with `chunked` before other transfer-coding (lenient)',
    reason: 'chunkedLast',
    llhttp: '(lenient-transfer-encoding) reads the body until the connection closes',
    pegasus: refused(400),
  },
  {
    file: 'transfer-encoding.md',
    name: 'POST with `chunked` and duplicate transfer-encoding (lenient)',
    reason: 'chunkedLast',
    llhttp: '(lenient-transfer-encoding) reads the body until the connection closes',
    pegasus: refused(400),
  },
  {
    file: 'content-length.md',
    name: 'No error on simultaneous `Content-Length` and `Transfer-Encoding: identity` (lenient)',
    reason: 'teAndCl',
    llhttp: '(lenient-chunked-length) accepts both fields and waits for a body',
    pegasus: refused(400),
  },
  {
    file: 'transfer-encoding.md',
    name: 'POST with `Transfer-Encoding` and `Content-Length` (lenient)',
    reason: 'teAndCl',
    llhttp: '(lenient-chunked-length) accepts both fields and reads the body until the connection closes',
    pegasus: refused(400),
  },
  {
    file: 'transfer-encoding.md',
    name: 'Chunk data not terminated by CRLF (lenient)',
    reason: 'chunkFraming',
    llhttp: '(lenient-optional-crlf-after-chunk) takes `0` after the data as the next chunk size',
    pegasus: refused(400),
  },
  {
    file: 'transfer-encoding.md',
    name: 'Space after chunk header (lenient)',
    reason: 'chunkFraming',
    llhttp: '(lenient-spaces-after-chunk-size) accepts `a ` as a chunk size',
    pegasus: refused(400),
  },
  {
    file: 'content-length.md',
    name: 'Content-Length reset when no body is received',
    reason: 'skipBody',
    llhttp: 'told by its callback to skip bodies (as for a response to HEAD), completes both requests',
    pegasus: { served: [], end: OPEN },
    note: 'reads the POST that follows as the PUT\'s 123-byte body, and waits for the rest of it',
  },

  // --- Field syntax (llhttp's lenient flags) ------------------------------------------------
  {
    file: 'connection.md',
    name: 'Multiple tokens with folding',
    reason: 'obsFold',
    llhttp: '(lenient-headers) unfolds the Connection field, completes the GET, then hands the connection over',
    pegasus: refused(400),
  },
  {
    file: 'connection.md',
    name: 'Multiple tokens with folding, LWS, and CRLF',
    reason: 'obsFold',
    llhttp: '(lenient-headers) unfolds the Connection field, completes the GET, then hands the connection over',
    pegasus: refused(400),
  },
  {
    file: 'sample.md',
    name: 'Line folding in header value with CRLF',
    reason: 'obsFold',
    llhttp: '(lenient-headers) unfolds the values and completes the GET',
    pegasus: refused(400),
  },
  {
    file: 'sample.md',
    name: 'X-SSL-Nonsense',
    reason: 'obsFold',
    llhttp: '(lenient-headers) unfolds the certificate and completes the GET',
    pegasus: refused(400),
  },
  {
    file: 'invalid.md',
    name: 'Spaces before headers (lenient)',
    reason: 'obsFold',
    llhttp: '(lenient-headers) takes ` Content-Length: 38` as a continuation, completes both requests',
    pegasus: refused(400),
  },
  {
    file: 'connection.md',
    name: 'Invalid whitespace token with `Connection` header field (lenient)',
    reason: 'spaceBeforeColon',
    llhttp: '(lenient-headers) accepts `Connection :`, completes the PUT, then hands the connection over',
    pegasus: refused(400),
  },
  {
    file: 'content-length.md',
    name: 'Invalid whitespace token with `Content-Length` header field (lenient)',
    reason: 'spaceBeforeColon',
    llhttp: '(lenient-headers) accepts `Content-Length :`, completes the PUT, then hands the connection over',
    pegasus: refused(400),
  },
  {
    file: 'sample.md',
    name: 'No LF after CR (lenient)',
    reason: 'bareCr',
    llhttp: '(lenient-optional-lf-after-cr) takes the CR as the end of the request line',
    pegasus: refused(400),
  },
  {
    file: 'content-length.md',
    name: 'Missing CRLF-CRLF before body (lenient)',
    reason: 'bareCr',
    llhttp: '(lenient-optional-lf-after-cr) takes the CR as the end of the head, completes the PUT',
    pegasus: refused(400),
  },
  {
    file: 'invalid.md',
    name: 'Headers separated by dummy characters (lenient)',
    reason: 'bareCr',
    llhttp: '(lenient-optional-lf-after-cr) takes the CR as the end of the head, completes the GET',
    pegasus: refused(400),
  },
  {
    file: 'lenient-headers.md',
    name: 'Empty headers separated by CR (lenient)',
    reason: 'bareCr',
    llhttp: '(lenient-headers) takes `x:\\r` as an empty field and reads the chunked body',
    pegasus: refused(400),
  },
  {
    file: 'transfer-encoding.md',
    name: 'Chunk header not terminated by CRLF (lenient)',
    reason: 'bareCr',
    llhttp: '(lenient-optional-lf-after-cr) takes `6\\r` as a chunk-size line, so the next request becomes body',
    pegasus: refused(400),
  },
  {
    file: 'invalid.md',
    name: 'Only LFs present (lenient)',
    reason: 'bareLf',
    llhttp: '(lenient-all) takes bare LFs as line endings and completes the POST',
    pegasus: refused(400),
  },
  {
    file: 'lenient-header-value-relaxed.md',
    name: 'Control char in header value (relaxed)',
    reason: 'ctl',
    llhttp: '(lenient-header-value-relaxed) accepts a form feed in a value',
    pegasus: refused(400),
  },
  {
    file: 'lenient-headers.md',
    name: 'Header value (lenient)',
    reason: 'ctl',
    llhttp: '(lenient-headers) accepts a form feed in a value',
    pegasus: refused(400),
  },
  {
    file: 'lenient-headers.md',
    name: 'Second request header value (lenient)',
    reason: 'ctl',
    llhttp: '(lenient-headers) accepts a form feed in the second request\'s value',
    pegasus: { served: [req('GET', '/url')], end: status(400) },
  },

  // --- Connection management ----------------------------------------------------------------
  {
    file: 'connection.md',
    name: 'Resetting flags when keep-alive is off (1.0, lenient)',
    reason: 'close',
    llhttp: '(lenient-keep-alive) goes on after the HTTP/1.0 request and begins the next one',
    pegasus: { served: [req('PUT', '/url')], end: CLOSE },
  },
  {
    file: 'connection.md',
    name: 'CRLF between requests, explicit `close` (lenient)',
    reason: 'close',
    llhttp: '(lenient-keep-alive) goes on after `Connection: close` and begins the next request',
    pegasus: { served: [req('POST', '/', 'q=42')], end: CLOSE },
  },
]

/** The policy entry for a case id (`file > name`), if any. */
export function policyFor(id: string): PolicyEntry | undefined {
  return POLICY.find((p) => `${p.file} > ${p.name}` === id)
}
