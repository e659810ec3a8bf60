// Reads llhttp's request test corpus (its test/request/*.md files) into cases a black-box test
// can replay: the input bytes, and from llhttp's callback log what llhttp made of them (the
// messages it completed, with method, target and body, and where it stopped with an error).
// The Markdown format is the one llhttp's test/md-test.ts reads; this is a reading of it.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { runInNewContext } from 'node:vm'

/** The `<!-- meta={...} -->` line before a case. */
export interface Meta {
  /** `request`, `request-finish` or `request-lenient-<flag>` (response cases are skipped). */
  type: string
  noScan?: boolean
  pause?: string
  skipBody?: boolean
  mode?: string
}

/** One line of llhttp's log, split into its offset, its event and the event's fields. */
export interface LogEntry {
  off: number
  /** `message begin`, `span`, `headers complete`, `message complete`, `error`, `url complete`... */
  event: string
  /** For spans: the span's kind (`method`, `url`, `header_field`, `body`...). */
  span?: string
  /** For spans: the length in bytes. */
  len?: number
  /** For spans: the logged text; for errors: the reason. */
  text?: string
  /** `key=value` fields (`code`, `method`, `v`, `flags`, `content_length`...). */
  fields: Record<string, string>
}

/** A message as llhttp saw it, from `message begin` on. */
export interface LlhttpMessage {
  /** Offset of `message begin`: the request line starts here. */
  begin: number
  method: string
  target: string
  body: Buffer
  /** `1.1`, `1.0`, `0.9`...: from `headers complete` (null when the head never completed). */
  version: string | null
  /** A header field named Host (case-insensitively) was logged. */
  hasHost: boolean
  headersComplete: boolean
  /** llhttp_should_keep_alive() after this message: from its version and Connection flags. */
  keepAlive: boolean
  complete: boolean
}

export interface LlhttpError {
  off: number
  code: number
  reason: string
}

export interface CorpusCase {
  /** `file > heading`: unique within the corpus (a repeated heading gets ` (2)`, ...). */
  id: string
  file: string
  name: string
  meta: Meta
  input: Buffer
  log: (LogEntry | RegExp)[]
  /** Every message llhttp began, in order. */
  messages: LlhttpMessage[]
  /** The error llhttp stopped with, if any (pauses for upgrade count: code 22 and 23). */
  error: LlhttpError | null
  /** request-finish cases: llhttp_finish()'s result at EOF (0: safe; else the message was cut). */
  finish: number | null
}

// llhttp's error codes the replay treats specially (llhttp's include/llhttp.h numbering).
export const HPE_CLOSED_CONNECTION = 5
export const HPE_PAUSED_UPGRADE = 22
export const HPE_PAUSED_H2_UPGRADE = 23

/** Every request case of every `*.md` file in `dir`, files in name order. */
export function loadCorpus(dir: string): CorpusCase[] {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.md'))
    .sort()
  return files.flatMap((file) => parseCorpusFile(file, readFileSync(path.join(dir, file), 'utf8')))
}

/** The cases of one Markdown file: each is a heading, a meta comment, an http block and a log block. */
export function parseCorpusFile(file: string, text: string): CorpusCase[] {
  const lines = text.split(/\r?\n/)
  const cases: CorpusCase[] = []
  const seen = new Map<string, number>()
  let heading = ''
  let meta: Meta | null = null
  let input: string | null = null
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const title = /^#+\s+(.*)$/.exec(line)
    if (title !== null) {
      heading = title[1].trim()
      continue
    }
    const comment = /^<!--\s*meta=(.*?)\s*-->\s*$/.exec(line)
    if (comment !== null) {
      meta = JSON.parse(comment[1]) as Meta
      input = null
      continue
    }
    const fence = /^```(\w+)\s*$/.exec(line)
    if (fence === null) continue
    const end = lines.indexOf('```', i + 1)
    if (end === -1) throw new Error(`${file}:${i + 1}: unterminated code block`)
    const body = lines.slice(i + 1, end).join('\n')
    i = end
    if (meta === null) continue
    if (fence[1] === 'http') input = body + '\n'
    else if (fence[1] === 'log' && input !== null) {
      if (meta.type.startsWith('request')) {
        const count = (seen.get(heading) ?? 0) + 1
        seen.set(heading, count)
        const name = count === 1 ? heading : `${heading} (${count})`
        cases.push(buildCase(file, name, meta, input, body))
      }
      meta = null
      input = null
    }
  }
  return cases
}

function buildCase(file: string, name: string, meta: Meta, rawInput: string, rawLog: string): CorpusCase {
  const input = decodeInput(rawInput)
  const log = rawLog
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(parseLogLine)
  const { messages, error } = summarise(log, input)
  const finishLine = log.find((e): e is LogEntry => !(e instanceof RegExp) && e.event === 'finish')
  const finish = finishLine === undefined ? null : Number(finishLine.fields.finish)
  return { id: `${file} > ${name}`, file, name, meta, input, log, messages, error, finish }
}

/**
 * The bytes a case sends, transformed in md-test's order. llhttp hands the resulting string to
 * its parser as UTF-8 (its logged offsets and lengths count `ÿ` as two bytes), so it is
 * encoded as UTF-8 here too: the offsets in the log then point into these bytes.
 */
export function decodeInput(raw: string): Buffer {
  let s = raw.replace(/\n$/, '')
  s = s.replace(/\\(\r\n|\r|\n)/g, '')
  s = s.replace(/\r\n|\r|\n/g, '\r\n')
  s = s.replace(/\\r/g, '\r').replace(/\\n/g, '\n').replace(/\\t/g, '\t').replace(/\\f/g, '\f')
  s = s.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
  s = s.replace(/\\([0-7]{1,3})/g, (_, digits: string) => String.fromCharCode(parseInt(digits, 8)))
  s = s.replace(/\$\{(.+?)\}/g, (_, code: string) => String(runInNewContext(code)))
  return Buffer.from(s, 'utf8')
}

/** One log line: `off=N <event> [key=value ...]`, a span, or a `/regex/` line. */
export function parseLogLine(line: string): LogEntry | RegExp {
  if (line.startsWith('/')) {
    const last = line.lastIndexOf('/')
    return new RegExp(line.slice(1, last), line.slice(last + 1))
  }
  // A one-byte span of CR or LF is logged bare, as `cr` or `lf`.
  const span = /^off=(\d+) len=(\d+) span\[([a-z_]+)\]=(?:"(.*)"|(cr|lf))$/.exec(line)
  if (span !== null) {
    const text = span[4] !== undefined ? unescapeSpan(span[4]) : span[5] === 'cr' ? '\r' : '\n'
    return { off: Number(span[1]), event: 'span', span: span[3], len: Number(span[2]), text, fields: {} }
  }
  // request-finish cases end with llhttp_finish()'s result: 0 when EOF was a safe place to stop.
  const finish = /^off=NULL finish=(\d+)$/.exec(line)
  if (finish !== null) return { off: -1, event: 'finish', fields: { finish: finish[1] } }
  const error = /^off=(\d+) error code=(\d+) reason="(.*)"$/.exec(line)
  if (error !== null) return { off: Number(error[1]), event: 'error', text: error[3], fields: { code: error[2] } }
  const plain = /^off=(\d+) ([a-z_ ]+?)((?: [a-z_]+=\S*)*)$/.exec(line)
  if (plain === null) throw new Error(`Unreadable log line: ${JSON.stringify(line)}`)
  const fields: Record<string, string> = {}
  for (const pair of plain[3].trim().split(' ').filter((p) => p !== '')) {
    const eq = pair.indexOf('=')
    fields[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return { off: Number(plain[1]), event: plain[2], fields }
}

/** Logged span text: md-test turns `\t` and `\f` in expected lines into the characters. */
function unescapeSpan(text: string): string {
  return text.replace(/\\t/g, '\t').replace(/\\f/g, '\f')
}

/**
 * What llhttp made of the input: its messages (spans of one kind logged in pieces are joined)
 * and its error. Method, target and body are taken from the input at the logged offsets; the
 * logged text must agree with them, which also checks the input was decoded as llhttp did.
 */
export function summarise(log: (LogEntry | RegExp)[], input: Buffer): { messages: LlhttpMessage[]; error: LlhttpError | null } {
  const messages: LlhttpMessage[] = []
  let error: LlhttpError | null = null
  let current: LlhttpMessage | null = null
  let field = ''
  let lastKind = ''
  for (const entry of log) {
    if (entry instanceof RegExp) continue
    if (entry.event === 'message begin') {
      current = {
        begin: entry.off,
        method: '',
        target: '',
        body: Buffer.alloc(0),
        version: null,
        hasHost: false,
        headersComplete: false,
        keepAlive: false,
        complete: false,
      }
      messages.push(current)
      lastKind = ''
      continue
    }
    if (entry.event === 'error') {
      error = { off: entry.off, code: Number(entry.fields.code), reason: entry.text ?? '' }
      continue
    }
    if (current === null) continue
    if (entry.event === 'span') {
      const kind = entry.span as string
      const bytes = input.subarray(entry.off, entry.off + (entry.len as number))
      if (bytes.toString('utf8') !== entry.text) {
        throw new Error(`Span ${kind} at ${entry.off} is ${JSON.stringify(bytes.toString('utf8'))} in the input but ${JSON.stringify(entry.text)} in the log`)
      }
      if (kind === 'method') current.method += bytes.toString('latin1')
      else if (kind === 'url') current.target += bytes.toString('latin1')
      else if (kind === 'body') current.body = Buffer.concat([current.body, bytes])
      else if (kind === 'header_field') {
        // A field name logged in pieces continues the previous piece.
        field = lastKind === 'header_field' ? field + bytes.toString('latin1') : bytes.toString('latin1')
        if (field.toLowerCase() === 'host') current.hasHost = true
      }
      lastKind = kind
      continue
    }
    lastKind = ''
    if (entry.event === 'headers complete') {
      current.headersComplete = true
      const v = /^(\d+)\/(\d+)$/.exec(entry.fields.v ?? '')
      current.version = v === null ? null : `${v[1]}.${v[2]}`
      current.keepAlive = keepAlive(current.version, parseInt(entry.fields.flags ?? '0', 16))
    } else if (entry.event === 'message complete') {
      current.complete = true
    }
  }
  return { messages, error }
}

// llhttp's flags (logged in hex): F_CONNECTION_KEEP_ALIVE and F_CONNECTION_CLOSE.
const F_KEEP_ALIVE = 0x1
const F_CLOSE = 0x2

/** llhttp_should_keep_alive for a request: 1.1 unless `close`, 1.0 (and 0.9) only with `keep-alive`. */
function keepAlive(version: string | null, flags: number): boolean {
  if (version === '1.1') return (flags & F_CLOSE) === 0
  return (flags & F_KEEP_ALIVE) !== 0
}

/** The completed messages of a case, in order. */
export function completed(c: CorpusCase): LlhttpMessage[] {
  return c.messages.filter((m) => m.complete)
}

const HOST_FIELD = Buffer.from('Host: corpus.test\r\n', 'latin1')

/**
 * The HTTP/1.1 messages llhttp began without a Host field, each with where a Host line would go
 * (right after its request line). A message whose head never completed counts as 1.1 when its
 * request line says so.
 */
export function hostless(c: CorpusCase): { index: number; at: number }[] {
  const found: { index: number; at: number }[] = []
  c.messages.forEach((m, index) => {
    if (m.hasHost || (!m.headersComplete && headHasHost(c.input, m.begin))) return
    const lineEnd = c.input.indexOf('\r\n', m.begin)
    if (lineEnd === -1) return
    const requestLine = c.input.toString('latin1', m.begin, lineEnd)
    // A request line with a bare CR or LF in it is what the case tests: leave it as it is.
    if (/[\r\n]/.test(requestLine)) return
    const version = m.version ?? / HTTP\/(\d\.\d)$/.exec(requestLine)?.[1] ?? null
    if (version === '1.1') found.push({ index, at: lineEnd + 2 })
  })
  return found
}

/**
 * The input with `Host: corpus.test` after the request line of every message `hostless` finds.
 * Returns the input itself when there is none.
 */
export function injectHost(c: CorpusCase): Buffer {
  const at = hostless(c).map((h) => h.at)
  if (at.length === 0) return c.input
  const pieces: Buffer[] = []
  let from = 0
  for (const p of at) {
    pieces.push(c.input.subarray(from, p), HOST_FIELD)
    from = p
  }
  pieces.push(c.input.subarray(from))
  return Buffer.concat(pieces)
}

/** Whether the head starting at `from` has a Host line (for heads llhttp stopped reading). */
function headHasHost(input: Buffer, from: number): boolean {
  const headEnd = input.indexOf('\r\n\r\n', from)
  const head = input.toString('latin1', from, headEnd === -1 ? input.length : headEnd)
  return head.split('\r\n').some((line, i) => i > 0 && /^host\s*:/i.test(line))
}

// --- Outcomes: what a server should do with a case, and what it did ----------------------------

/** A request as it reached the app. Body bytes (and any non-ASCII in method or target) as latin1. */
export interface Served {
  method: string
  target: string
  body: string
  /** `1.1`, `1.0`...: compared only when both sides give it. */
  version?: string
}

/** How an exchange ends, after the requests that were served. */
export type End =
  /** A 4xx/5xx response (with this status, when it is known), then the server closes. */
  | { kind: 'error'; status?: number }
  /** The server closes without an error response. */
  | { kind: 'close' }
  /** The connection stays open: the server waits for more bytes. */
  | { kind: 'open' }
  /** llhttp only: the connection is handed to another protocol (Upgrade, CONNECT, PRI). */
  | { kind: 'upgrade' }
  /** request-finish: EOF inside a message; the server closes, an error response allowed. */
  | { kind: 'cut' }

export interface Outcome {
  served: Served[]
  end: End
}

/** What llhttp did with a case, as a server would see it. */
export function llhttpOutcome(c: CorpusCase): Outcome {
  const done = completed(c)
  const served = done.map((m): Served => {
    const message: Served = { method: m.method, target: m.target, body: m.body.toString('latin1') }
    if (m.version !== null) message.version = m.version
    return message
  })
  return { served, end: llhttpEnd(c, done) }
}

function llhttpEnd(c: CorpusCase, done: LlhttpMessage[]): End {
  if (c.meta.type === 'request-finish') return c.finish === 0 ? { kind: 'close' } : { kind: 'cut' }
  const error = c.error
  if (error !== null) {
    // Data after a `close` message is not a bad request: the connection is over before it.
    if (error.code === HPE_CLOSED_CONNECTION) return { kind: 'close' }
    if (error.code === HPE_PAUSED_UPGRADE || error.code === HPE_PAUSED_H2_UPGRADE) return { kind: 'upgrade' }
    return { kind: 'error' }
  }
  const last = c.messages[c.messages.length - 1]
  if (last === undefined || !last.complete) return { kind: 'open' }
  return done[done.length - 1].keepAlive ? { kind: 'open' } : { kind: 'close' }
}

/** The status every HTTP/1.1 request without Host gets (RFC 9112 section 3.2). */
export const HOST_REQUIRED: End = { kind: 'error', status: 400 }

/**
 * What a server that requires Host must do with the case as written, given what it does with
 * the Host-injected variant: the messages before the first Host-less HTTP/1.1 one are served,
 * and that one is refused with 400 once its head is complete.
 */
export function hostRequiredOutcome(c: CorpusCase, injected: Outcome): Outcome {
  const k = hostless(c)[0]?.index
  if (k === undefined) return injected
  if (injected.served.length > k) return { served: injected.served.slice(0, k), end: HOST_REQUIRED }
  const end = injected.end
  // Refused at or before that message anyway: which error comes first is not fixed.
  if (end.kind === 'error') return { served: injected.served, end: { kind: 'error' } }
  // Closed before that message is read, or the client's EOF cut it short.
  if (end.kind === 'close' || end.kind === 'cut') return injected
  if (c.messages[k].headersComplete) return { served: injected.served, end: HOST_REQUIRED }
  return injected
}

export function sameEnd(a: End, b: End): boolean {
  if (a.kind !== b.kind) return false
  if (a.kind === 'error' && b.kind === 'error') return a.status === undefined || b.status === undefined || a.status === b.status
  return true
}

export function sameOutcome(a: Outcome, b: Outcome): boolean {
  return sameServed(a.served, b.served) && sameEnd(a.end, b.end)
}

export function sameServed(a: Served[], b: Served[]): boolean {
  return a.length === b.length && a.every((m, i) => sameMessage(m, b[i]))
}

function sameMessage(a: Served, b: Served): boolean {
  const versions = a.version === undefined || b.version === undefined || a.version === b.version
  return a.method === b.method && a.target === b.target && a.body === b.body && versions
}

/** One line of prose: `serves GET /a, POST /b (5-byte body); then 400 and close`. */
export function describeOutcome(o: Outcome): string {
  const served =
    o.served.length === 0
      ? 'serves nothing'
      : 'serves ' + o.served.map((m) => `${m.method} ${m.target}${m.body === '' ? '' : ` (${m.body.length}-byte body)`}`).join(', ')
  return `${served}; then ${describeEnd(o.end)}`
}

export function describeEnd(end: End): string {
  switch (end.kind) {
    case 'error':
      return end.status === undefined ? '4xx/5xx and close' : `${end.status} and close`
    case 'close':
      return 'close'
    case 'open':
      return 'waits for more'
    case 'upgrade':
      return 'hands the connection over (upgrade)'
    case 'cut':
      return 'close (EOF inside a message)'
  }
}
