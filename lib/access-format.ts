// Access lines in gunicorn's format language (`%(h)s %(l)s %(u)s %(t)s "%(r)s" ...`) or as one
// JSON object a line. A format is compiled once into a list of small functions; what it reads
// (timing, byte counts) is known at compile time so the server records only that.
import { performance } from 'node:perf_hooks'

/** What an access line reads of a request (Pegasus's Request has it). */
export interface AccessRequest {
  readonly method: string
  readonly url: string
  readonly httpVersion: string
  readonly path: string
  readonly query: string
  /** The client, as the server sees it (trusted proxies' forwarded address included). */
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  header(name: string): string | string[] | undefined
}

/** What an access line reads of a response (Pegasus's Response has it). */
export interface AccessResponse {
  /** Body bytes sent (framing and head excluded). */
  readonly bodyBytes: number
  /** performance.now() when the request's head was read; 0 when not recorded. */
  readonly startedAt: number
  /** The head as sent (status line and fields), '' when none went out. */
  readonly sentHead: string
}

/**
 * The facts of one access line. The Log fills one such object and reuses it: a formatter reads
 * it and keeps nothing. `req` and `res` are null for an answer to a request that could not be
 * read (a malformed head): then `method` and `url` are '-'.
 */
export interface AccessFacts {
  req: AccessRequest | null
  res: AccessResponse | null
  status: number
  address: string | undefined
  port: number | undefined
  method: string
  url: string
  version: string
}

export type AccessFormatter = (facts: AccessFacts) => string

export interface CompiledAccessFormat {
  readonly format: AccessFormatter
  /** The format reads the request's duration: record its start. */
  readonly timing: boolean
  /** The format reads the body bytes sent: count them. */
  readonly bytes: boolean
}

/** A format string that cannot be compiled (an unknown atom, a `%` that starts nothing). */
export class AccessFormatError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'AccessFormatError'
  }
}

type Part = (facts: AccessFacts) => string

// --- Atoms --------------------------------------------------------------------------------------

// Text the client or the app chose is escaped, so a line cannot be split or its quotes broken.
const UNSAFE_RE = /[\x00-\x1f"\\\x7f]/
const UNSAFE_ALL_RE = /[\x00-\x1f"\\\x7f]/g

function escapeChar(c: string): string {
  if (c === '"') return '\\"'
  if (c === '\\') return '\\\\'
  return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`
}

/** `value` made safe for a line. */
export function escapeText(value: string): string {
  return UNSAFE_RE.test(value) ? value.replace(UNSAFE_ALL_RE, escapeChar) : value
}

/** `value` made safe for a line; '-' when absent or empty. */
function safe(value: string | undefined): string {
  return value === undefined || value === '' ? '-' : escapeText(value)
}

function requestHeader(facts: AccessFacts, name: string): string | undefined {
  const value = facts.req?.header(name)
  return Array.isArray(value) ? value.join(', ') : value
}

/** A field of a head as sent (`HTTP/1.1 200 OK\r\nName: value\r\n...`); repeats joined with ', '. */
export function sentField(head: string, name: string): string | undefined {
  const lower = name.toLowerCase()
  let found: string | undefined
  let start = head.indexOf('\r\n') + 2
  while (start > 1 && start < head.length) {
    const end = head.indexOf('\r\n', start)
    if (end === -1 || end === start) break
    const colon = head.indexOf(':', start)
    if (colon !== -1 && colon < end && head.slice(start, colon).toLowerCase() === lower) {
      const value = head.slice(colon + 1, end).trim()
      found = found === undefined ? value : `${found}, ${value}`
    }
    start = end + 2
  }
  return found
}

/** The user name of a Basic `Authorization` (as gunicorn's `u`), or undefined. */
export function basicUser(authorization: string | undefined): string | undefined {
  if (authorization === undefined || !/^basic\s/i.test(authorization)) return undefined
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon === -1 ? undefined : decoded.slice(0, colon)
}

function user(facts: AccessFacts): string | undefined {
  return basicUser(requestHeader(facts, 'authorization'))
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
let clfSecond = -1
let clfText = ''

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n)
}

/** Now as `[10/Oct/2000:13:55:36 -0700]` (local time, as gunicorn's `t`), built once a second. */
export function clfTime(now = Date.now()): string {
  const second = Math.floor(now / 1000)
  if (second === clfSecond) return clfText
  const d = new Date(second * 1000)
  const offset = -d.getTimezoneOffset()
  const sign = offset < 0 ? '-' : '+'
  const abs = Math.abs(offset)
  clfText =
    `[${pad2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ` +
    `${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}]`
  clfSecond = second
  return clfText
}

/** Microseconds from the request's head to now (0 when the start was not recorded). */
function micros(facts: AccessFacts): number {
  const started = facts.res === null ? 0 : facts.res.startedAt
  return started === 0 ? 0 : Math.max(0, Math.floor((performance.now() - started) * 1000))
}

function bytes(facts: AccessFacts): number {
  return facts.res === null ? 0 : facts.res.bodyBytes
}

function requestLine(facts: AccessFacts): string {
  return `${facts.method} ${facts.url} HTTP/${facts.version}`
}

/** The atoms without an argument, by gunicorn's names. */
const ATOMS: Record<string, Part> = {
  h: (f) => f.address ?? '-',
  l: () => '-',
  u: (f) => safe(user(f)),
  t: () => clfTime(),
  r: (f) => safe(requestLine(f)),
  m: (f) => safe(f.method),
  U: (f) => safe(f.req === null ? f.url : f.req.path),
  q: (f) => (f.req === null ? '' : escapeText(f.req.query)),
  H: (f) => `HTTP/${f.version}`,
  s: (f) => String(f.status),
  B: (f) => String(bytes(f)),
  b: (f) => {
    const n = bytes(f)
    return n === 0 ? '-' : String(n)
  },
  f: (f) => safe(requestHeader(f, 'referer')),
  a: (f) => safe(requestHeader(f, 'user-agent')),
  T: (f) => String(Math.floor(micros(f) / 1e6)),
  M: (f) => String(Math.floor(micros(f) / 1000)),
  D: (f) => String(micros(f)),
  L: (f) => (micros(f) / 1e6).toFixed(6),
  p: () => `<${process.pid}>`,
}
const TIMING = new Set(['T', 'M', 'D', 'L'])
const BYTES = new Set(['b', 'B'])

/** `{name}i`, `{name}o`, `{name}e`. */
function argumentAtom(name: string, kind: string): Part {
  if (kind === 'i') return (f) => safe(requestHeader(f, name))
  if (kind === 'o') return (f) => safe(f.res === null ? undefined : sentField(f.res.sentHead, name))
  return () => safe(process.env[name])
}

// `%(atom)s` (or `d`, as Python's %-formatting takes it for numbers) and `%%`.
const TOKEN_RE = /%(?:%|\(([^)]*)\)([sd]))/g
const ARGUMENT_RE = /^\{([^{}]+)\}([ioe])$/

/**
 * Compiles a gunicorn access log format: `%(h)s` ... for each atom (h l u t r m U q H s b B f a
 * T D M L p `{header}i` `{header}o` `{var}e`), `%%` for a `%`. Throws AccessFormatError on an
 * unknown atom or a stray `%`.
 */
export function compileAccessFormat(format: string): CompiledAccessFormat {
  const parts: Part[] = []
  let timing = false
  let counts = false
  let at = 0
  const literal = (text: string): void => {
    if (text.includes('%')) {
      throw new AccessFormatError(`Access log format: a "%" must start %(atom)s or be doubled (%%): ${JSON.stringify(format)}`)
    }
    if (text !== '') parts.push(() => text)
  }
  for (const match of format.matchAll(TOKEN_RE)) {
    literal(format.slice(at, match.index))
    at = match.index + match[0].length
    const name = match[1]
    if (name === undefined) {
      parts.push(() => '%')
      continue
    }
    const argument = ARGUMENT_RE.exec(name)
    if (argument !== null) parts.push(argumentAtom(argument[1], argument[2]))
    else if (Object.hasOwn(ATOMS, name)) {
      parts.push(ATOMS[name])
      if (TIMING.has(name)) timing = true
      if (BYTES.has(name)) counts = true
    } else throw new AccessFormatError(`Access log format: unknown atom "%(${name})${match[2]}"`)
  }
  literal(format.slice(at))
  const n = parts.length
  const compiled: AccessFormatter = (facts) => {
    let line = ''
    for (let i = 0; i < n; i++) line += parts[i](facts)
    return line
  }
  return { format: compiled, timing, bytes: counts }
}

/** gunicorn's default access log format (for reference; Pegasus's default is its own line). */
export const GUNICORN_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'

function orNull(value: string | undefined): string | null {
  return value === undefined ? null : value
}

/**
 * One JSON object a line: time (ISO 8601, UTC), pid, remote_addr, remote_port, user, method, url,
 * protocol, status, bytes (body bytes sent), referer, user_agent, duration_ms (with microseconds).
 * A fact that is absent is null.
 */
export const jsonAccessFormat: CompiledAccessFormat = {
  format: (f) =>
    JSON.stringify({
      time: new Date().toISOString(),
      pid: process.pid,
      remote_addr: orNull(f.address),
      remote_port: f.port ?? null,
      user: orNull(user(f)),
      method: f.req === null && f.method === '-' ? null : f.method,
      url: f.req === null && f.url === '-' ? null : f.url,
      protocol: `HTTP/${f.version}`,
      status: f.status,
      bytes: bytes(f),
      referer: orNull(requestHeader(f, 'referer')),
      user_agent: orNull(requestHeader(f, 'user-agent')),
      duration_ms: micros(f) / 1000,
    }),
  timing: true,
  bytes: true,
}
