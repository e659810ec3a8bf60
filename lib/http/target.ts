// The request-target (RFC 9112 section 3.2, RFC 3986) and the Host field's value: the byte table
// the parser's scan of the request line uses, the slower checks of %-escapes and of the target's
// form, and the uri-host grammar. Pure functions over the bytes; errors are HttpErrors.
import { isIPv6 } from 'node:net'
import { HttpError } from './errors.js'

const COLON = 58

// The request-target's bytes: 1 in RFC 3986's grammar, or sent raw by WHATWG URL serializers
// (browsers, fetch, Node's URL: `|^[]{}` and backtick and `\`); PERCENT; LAX only with
// permissiveTarget (`"<>#`, obs-text); 0 never (CTLs, SP, DEL).
export const TARGET = new Uint8Array(256)
export const PERCENT = 2
export const LAX = 3
/** Each byte's value as a hex digit, or -1. */
export const HEX = new Int8Array(256).fill(-1)
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c)
  if (/[A-Za-z0-9\-._~!$&'()*+,;=:@/?\[\]{}|^`\\]/.test(ch)) TARGET[c] = 1
  else if (c === 0x25) TARGET[c] = PERCENT
  else if (c > 0x20 && c !== 0x7f) TARGET[c] = LAX
  if (/[0-9]/.test(ch)) HEX[c] = c - 48
  else if (/[a-f]/.test(ch)) HEX[c] = c - 87
  else if (/[A-F]/.test(ch)) HEX[c] = c - 55
}

/**
 * Goes on with the request-target from `p`, the first byte that is not plainly in its grammar:
 * checks each %-escape (RFC 3986 section 2.1) and, with `permissive`, steps over the bytes that
 * setting lets through. Returns where the target stops (SP, or a byte it may not hold).
 */
export function scanTarget(data: Buffer, p: number, permissive: boolean): number {
  for (;;) {
    const kind = TARGET[data[p]]
    if (kind === PERCENT) {
      // The line ends in CRLF, so p + 2 is still within it.
      const high = HEX[data[p + 1]]
      const low = HEX[data[p + 2]]
      if (high === 0 && low === 0) throw new HttpError(400, 'Percent-encoded NUL in request target')
      if (high >= 0 && low >= 0) p += 3
      else if (permissive) p++
      else throw new HttpError(400, 'Malformed percent-encoding in request target')
    } else if (kind === LAX && permissive) p++
    else return p
    while (TARGET[data[p]] === 1) p++
  }
}

/** RFC 9112 section 3.2: origin-form, absolute-form, or `*` for OPTIONS only (`at` to `end`). */
export function checkTargetForm(method: string, data: Buffer, at: number, end: number): void {
  if (method === 'CONNECT') throw new HttpError(501, 'CONNECT is not supported')
  const c = data[at]
  if (c === 47) return // '/'
  if (c === 42) {
    // '*'
    if (method === 'OPTIONS' && end === at + 1) return
    throw new HttpError(400, 'Asterisk-form is only allowed with OPTIONS')
  }
  // absolute-form: scheme "://" authority (RFC 3986 scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ))
  let p = at
  if (!isAlpha(data[p])) throw new HttpError(400, 'Invalid request target')
  while (isAlpha(data[p]) || (data[p] >= 48 && data[p] <= 57) || data[p] === 43 || data[p] === 45 || data[p] === 46) p++
  if (data[p] !== COLON || data[p + 1] !== 47 || data[p + 2] !== 47) throw new HttpError(400, 'Invalid request target')
  // RFC 9110 section 4.2: an http(s) URI with an empty host is invalid.
  p += 3
  let hostEnd = p
  while (hostEnd < end && data[hostEnd] !== 47 && data[hostEnd] !== 63 && data[hostEnd] !== 35) hostEnd++
  const at_ = data.indexOf(64, p) // userinfo@ is not allowed in http(s) URIs either
  if (hostEnd === p || (at_ !== -1 && at_ < hostEnd) || !validHost(data, p, hostEnd)) {
    throw new HttpError(400, 'Invalid request target')
  }
}

// reg-name characters (RFC 3986 section 3.2.2: unreserved, pct-encoded, sub-delims).
const REG_NAME = new Uint8Array(256)
for (const ch of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=") {
  REG_NAME[ch.charCodeAt(0)] = 1
}

// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
const IP_FUTURE = /^[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+$/

/**
 * Host = uri-host [ ":" port ] (RFC 9112 section 3.2): a reg-name or IPv4 address, or an IP
 * literal in brackets, then an optional port. (The callers refuse an empty one.)
 */
export function validHost(data: Buffer, start: number, end: number): boolean {
  let p = start
  if (data[p] === 91) {
    // IP-literal = "[" ( IPv6address / IPvFuture ) "]" (RFC 3986 section 3.2.2)
    const close = data.indexOf(93, p)
    if (close === -1 || close >= end) return false
    const literal = data.toString('latin1', p + 1, close)
    if (!isIPv6(literal) && !IP_FUTURE.test(literal)) return false
    p = close + 1
  } else {
    while (p < end && REG_NAME[data[p]] === 1) p++
  }
  if (p < end && data[p] === COLON) {
    p++
    while (p < end && data[p] >= 48 && data[p] <= 57) p++
  }
  return p === end
}

function isAlpha(c: number): boolean {
  return (c | 0x20) >= 97 && (c | 0x20) <= 122
}
