// How test/gunicorn.ts runs gunicorn's request corpus, and where Pegasus deliberately answers
// differently from gunicorn, and why. A case listed in DIFFERENCES must behave as its `pegasus`
// outcome says (and that must still differ from what gunicorn's `.py` file says, so the list
// cannot go stale); every case not listed must behave as gunicorn does.
import type { ServerOptions } from '../../lib/server.js'
import type { PyValue } from './python-literal.js'

/**
 * gunicorn's default limits, as Pegasus options: the replay's server uses them, so that the
 * corpus's limit cases test the same sizes. (gunicorn counts a line's CRLF in its limits, as
 * Pegasus does.)
 */
export const GUNICORN_LIMITS: ServerOptions = { maxRequestLineSize: 4094, maxHeaderSize: 8190, maxHeaderCount: 100, maxHeadSize: 1024 * 1024 }

/** gunicorn settings a case may set that have a Pegasus option: the options it maps to. */
export const MAPPED_CONFIG: Record<string, (value: PyValue) => ServerOptions | null> = {
  limit_request_line: (v) => ({ maxRequestLineSize: Number(v) }),
  // 0 means "no limit" to gunicorn; Pegasus has no unlimited field size.
  limit_request_field_size: (v) => (Number(v) === 0 ? null : { maxHeaderSize: Number(v) }),
  limit_request_fields: (v) => ({ maxHeaderCount: Number(v) }),
  proxy_protocol: (v) => ({ proxyProtocol: v === true }),
}

/** gunicorn settings Pegasus has no counterpart for: a case that sets one is skipped, and why. */
export const SKIPPED_CONFIG: Record<string, string> = {
  limit_request_field_size: 'a field size limit of 0 (none): Pegasus always has one',
  permit_obsolete_folding: 'obs-fold is always refused (RFC 9112 §5.2)',
  strip_header_spaces: 'whitespace before a colon is always refused (RFC 9112 §5.1)',
  header_map: 'no header map: names with `_` are passed on as sent, but for Transfer_Encoding and Content_Length, which are refused',
  permit_unconventional_http_method: 'any token is a method already; gunicorn-only switch',
  casefold_http_method: 'methods are case-sensitive and never folded (RFC 9110 §9.1)',
  forwarded_allow_ips: "gunicorn's X-Forwarded-Ssl/Proto consistency check has no Pegasus counterpart",
}

export interface PolicyReason {
  title: string
  rfc: string
}

export const REASONS = {
  host: { title: 'Host required on HTTP/1.1: 400', rfc: 'RFC 9112 §3.2' },
  targetGrammar: { title: 'Request-target bytes outside RFC 3986 refused: 400', rfc: 'RFC 9112 §3 (SHOULD), §3.2; RFC 3986 §2' },
  userinfo: { title: 'userinfo in an http(s) target refused: 400', rfc: 'RFC 9110 §4.2.4' },
  connect: { title: 'CONNECT not supported (no proxy): 501', rfc: 'RFC 9110 §9.3.6, §15.6.2' },
  coding: { title: 'Transfer codings other than chunked: 501', rfc: 'RFC 9112 §6.1' },
  trailers: { title: 'Trailer fields that describe the content refused: 400', rfc: 'RFC 9110 §6.5.1' },
  method: { title: 'Any token is a method (the app decides what it implements)', rfc: 'RFC 9110 §9.1, §5.6.2' },
  underscore: { title: 'Transfer_Encoding and Content_Length refused (400), not dropped', rfc: 'RFC 9110 §5.1; RFC 9112 §6.3' },
  eof: { title: 'A body cut short by EOF never reaches the app: the connection closes', rfc: 'RFC 9112 §8' },
  proxyProtocol: { title: 'With the PROXY protocol on, every connection starts with a valid PROXY header, or is closed unanswered', rfc: 'PROXY protocol §2' },
} satisfies Record<string, PolicyReason>

export type ReasonKey = keyof typeof REASONS

/** What Pegasus does with a case. */
export type Outcome =
  /** The requests reach the app (with these header fields, where they differ from gunicorn's). */
  | { kind: 'served'; requests: number; headers?: [string, string][][] }
  /** A 4xx/5xx with this status, and the close (0: the close alone, no HTTP answer). */
  | { kind: 'refused'; status: number }

export interface Difference {
  /** `valid/014`. */
  id: string
  reason: ReasonKey
  /** What gunicorn does with the case. */
  gunicorn: string
  pegasus: Outcome
  /** Pegasus's outcome in words. */
  note?: string
}

const refused = (status: number): Outcome => ({ kind: 'refused', status })

export const DIFFERENCES: Difference[] = [
  // --- The request-target (RFC 9112 §3.2, RFC 3986) --------------------------------------------
  { id: 'valid/005', reason: 'targetGrammar', gunicorn: 'accepts the fragment `#posts-17408` in the target', pegasus: refused(400) },
  { id: 'valid/009', reason: 'targetGrammar', gunicorn: 'accepts the fragment `#hey` in the target', pegasus: refused(400) },
  { id: 'valid/014', reason: 'targetGrammar', gunicorn: 'accepts `"` in the path and the query', pegasus: refused(400) },
  { id: 'valid/027', reason: 'targetGrammar', gunicorn: 'accepts raw UTF-8 (`à`) in the path', pegasus: refused(400) },
  {
    id: 'valid/rfc9112_target_absolute_userinfo_01',
    reason: 'userinfo',
    gunicorn: 'accepts `http://user:pass@example.com:8080/foo?q=1`',
    pegasus: refused(400),
  },
  { id: 'valid/rfc9112_target_authority_connect_01', reason: 'connect', gunicorn: 'parses `CONNECT example.com:443`', pegasus: refused(501) },
  { id: 'valid/rfc9112_target_authority_ipv6_01', reason: 'connect', gunicorn: 'parses `CONNECT [::1]:443`', pegasus: refused(501) },
  { id: 'invalid/003c', reason: 'method', gunicorn: 'refuses `-bl`, a method shorter than 3 characters or not upper-case', pegasus: { kind: 'served', requests: 1 }, note: 'serves `-bl /foo`' },

  // --- Framing -----------------------------------------------------------------------------------
  { id: 'valid/025', reason: 'coding', gunicorn: 'accepts `gzip` then `chunked` and hands over the (still gzipped) body', pegasus: refused(501) },
  { id: 'valid/025_line', reason: 'coding', gunicorn: 'accepts `gzip,chunked` and hands over the (still gzipped) body', pegasus: refused(501) },
  { id: 'valid/029', reason: 'coding', gunicorn: 'accepts `identity` then `chunked` (identity is no coding since RFC 7230)', pegasus: refused(501) },
  { id: 'valid/030', reason: 'coding', gunicorn: 'accepts `identity` then `chunked`', pegasus: refused(501) },
  { id: 'valid/rfc9112_smuggle_gzip_chunked_01', reason: 'coding', gunicorn: 'accepts `gzip, chunked`', pegasus: refused(501) },
  { id: 'valid/rfc9112_smuggle_te_identity_chunked_01', reason: 'coding', gunicorn: 'accepts `identity, chunked`', pegasus: refused(501) },
  {
    id: 'valid/012',
    reason: 'trailers',
    gunicorn: 'accepts the trailers `Vary: *` and `Content-Type: text/plain`',
    pegasus: refused(400),
    note: 'refuses the `Content-Type` trailer (it says how to process the content)',
  },
  {
    id: 'valid/099',
    reason: 'eof',
    gunicorn: "serves the 8,599 body bytes there are of a declared 17,914 (its test harness reads the body to EOF)",
    pegasus: refused(0),
    note: 'waits for the rest of the body; at the FIN, closes without calling the app',
  },

  // --- Header fields -----------------------------------------------------------------------------
  {
    id: 'valid/040',
    reason: 'underscore',
    gunicorn: 'drops `Transfer_Encoding` and `Content_Length` (by default; they would collide with the real fields in a WSGI environ) and serves the request',
    pegasus: refused(400),
    note: 'refuses `Transfer_Encoding` and `Content_Length`: a server or proxy that maps `_` to `-` would frame by them',
  },

  // --- PROXY protocol ----------------------------------------------------------------------------
  { id: 'valid/pp_03', reason: 'proxyProtocol', gunicorn: 'serves a connection from a trusted peer that has no PROXY header', pegasus: refused(0) },
  { id: 'invalid/pp_01', reason: 'proxyProtocol', gunicorn: 'answers an invalid PROXY line with 400', pegasus: refused(0), note: 'closes: no HTTP has been spoken yet' },
  { id: 'invalid/pp_02', reason: 'proxyProtocol', gunicorn: 'answers an invalid PROXY line with 400', pegasus: refused(0), note: 'closes: no HTTP has been spoken yet' },
  { id: 'invalid/pp_03', reason: 'proxyProtocol', gunicorn: 'answers an invalid PROXY line with 400', pegasus: refused(0), note: 'closes: no HTTP has been spoken yet' },
]

/**
 * The statuses that name the problem each gunicorn error class stands for (0: the request
 * ends at EOF, so the connection closes without an answer, as for a FIN in a body).
 */
export const ERROR_STATUS: Record<string, number[]> = {
  InvalidRequestLine: [400],
  InvalidRequestMethod: [400],
  InvalidHTTPVersion: [400, 505],
  InvalidHeader: [400],
  InvalidHeaderName: [400],
  InvalidChunkSize: [400],
  InvalidChunkExtension: [400],
  ObsoleteFolding: [400],
  InvalidProxyLine: [400],
  LimitRequestLine: [414],
  LimitRequestHeaders: [431],
  NoMoreData: [400, 0],
  ChunkMissingTerminator: [0],
}
