// The HTTP/1.1 request parser (RFC 9112): pure and incremental. Bytes go in through `execute`,
// request heads and body pieces come out through the handler; bad input throws HttpError. It
// knows nothing of sockets, apps or timers. Body pieces are views (`subarray`) of the bytes that
// were passed in, never copies; a head that arrives in pieces is the only thing ever copied.
import { HttpError } from './errors.js'
import { RequestHead } from './head.js'
import { HEX as HEX_DIGITS, LAX, TARGET as TARGET_BYTES, checkTargetForm, scanTarget, validHost } from './target.js'

export { RequestHead }

export interface ParserLimits {
  /** Longest request line, CRLF included (414). */
  maxRequestLineSize: number
  /** Longest request head: request line, fields and the empty line (431). */
  maxHeadSize: number
  /** Longest single header field line (431). */
  maxHeaderSize: number
  /** Most header fields in one head (431). */
  maxHeaderCount: number
  /** Largest body, declared or chunked (413). */
  maxBodySize: number
  /**
   * Not a size: let request-target bytes outside RFC 3986 through (`"<>#`, obs-text, malformed
   * %-escapes) for legacy clients. CTLs, SP, DEL and `%00` stay refused.
   */
  permissiveTarget: boolean
}

export const DEFAULT_LIMITS: ParserLimits = {
  maxRequestLineSize: 8192,
  maxHeadSize: 16384,
  maxHeaderSize: 8192,
  maxHeaderCount: 100,
  maxBodySize: 1024 * 1024 * 1024,
  permissiveTarget: false,
}

export interface ParserHandler {
  /** A complete request head. The body, if any, follows through onBody. */
  onRequest(head: RequestHead): void
  /** A piece of the body: a view of the bytes given to execute (valid as long as they are). */
  onBody(chunk: Buffer): void
  /** The request's body is complete (called right after onRequest when there is none). */
  onMessageComplete(): void
}

const CR = 13
const LF = 10
const SP = 32
const HTAB = 9
const COLON = 58
const SEMICOLON = 59
const EQUALS = 61
const DQUOTE = 34
const BACKSLASH = 92

// Module constants rather than the imported bindings, for the hot loops that read them.
const TARGET = TARGET_BYTES
const HEX = HEX_DIGITS
// Character classes (RFC 9110 section 5.6.2 tchar; field-vchar with obs-text).
const TOKEN = new Uint8Array(256)
const FIELD_VALUE = new Uint8Array(256)
// qdtext (RFC 9110 section 5.6.4): field-vchar, SP and HTAB but `"` and `\`.
const QDTEXT = new Uint8Array(256)
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c)
  if (/[A-Za-z0-9!#$%&'*+\-.^_`|~]/.test(ch)) TOKEN[c] = 1
  if (c === HTAB || (c >= 0x20 && c !== 0x7f)) FIELD_VALUE[c] = 1
  if (FIELD_VALUE[c] === 1 && c !== 0x22 && c !== 0x5c) QDTEXT[c] = 1
}

// Parser states.
const HEAD = 0
const BODY_LENGTH = 1
const CHUNK_SIZE = 2
// Chunk extensions (RFC 9112 section 7.1.1):
//   *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS ( token / quoted-string ) ] )
const CHUNK_EXT_BWS = 3 // after the size: BWS, then ";"
const CHUNK_EXT_NAME_START = 4 // after ";"
const CHUNK_EXT_NAME = 5
const CHUNK_EXT_NAME_END = 6 // BWS after the name: "=", ";" or the line's end
const CHUNK_EXT_VALUE_START = 7 // after "="
const CHUNK_EXT_TOKEN = 8
const CHUNK_EXT_QUOTED = 9
const CHUNK_EXT_ESCAPE = 10 // after a backslash in a quoted string
const CHUNK_EXT_VALUE_END = 11 // BWS after a value: ";" or the line's end
const CHUNK_SIZE_LF = 12
const CHUNK_DATA = 13
const CHUNK_DATA_CR = 14
const CHUNK_DATA_LF = 15
const TRAILER_START = 16
const TRAILER_NAME = 17
const TRAILER_VALUE = 18
const TRAILER_LF = 19
const TRAILERS_END_LF = 20
const DEAD = 21

// Chunk extensions are kept short: they are only ever skipped.
const MAX_CHUNK_EXT = 4096

// Common methods share one string each instead of a new one per request.
const METHODS = new Map<string, string>()
for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) METHODS.set(m, m)

export class Parser {
  private readonly handler: ParserHandler
  private readonly limits: ParserLimits
  private state: number
  private paused: boolean
  /**
   * A head's first bytes while the rest has not arrived: a copy, grown by doubling so that a
   * head trickling in byte by byte costs linear time. Never reused once the head is complete
   * (the head and body views handed out may point into it).
   */
  private pending: Buffer | null
  private pendingLength: number
  /** Within the pending head: where the first incomplete line starts. */
  private lineFrom: number
  /** Within the pending head: where the search for that line's LF resumes. */
  private searchFrom: number
  /** Lines of the current head seen so far (request line included). */
  private lines: number
  /** During execute: the buffer of ours that the data lives in (when a head was pending). */
  private owned: Buffer | null
  /** Offset of the first header field from the start of the head. */
  private fieldsOffset: number
  // The request line, parsed as soon as it is complete.
  private method: string
  private url: string
  private versionMinor: number
  /** Bytes of body left: in a Content-Length body or in the current chunk. */
  private remaining: number
  private chunkSize: number
  private sizeDigits: number
  private extBytes: number
  private bodyBytes: number
  private trailerBytes: number
  /** The current trailer field's name, lower-cased, while it is short enough to be forbidden. */
  private trailerName: string
  /** The current message is the connection's last: parse nothing after it. */
  private closeAfter: boolean

  constructor(handler: ParserHandler, limits: ParserLimits = DEFAULT_LIMITS) {
    this.handler = handler
    this.limits = limits
    this.state = HEAD
    this.paused = false
    this.pending = null
    this.pendingLength = 0
    this.lineFrom = 0
    this.searchFrom = 0
    this.lines = 0
    this.owned = null
    this.fieldsOffset = 0
    this.method = ''
    this.url = ''
    this.versionMinor = 1
    this.remaining = 0
    this.chunkSize = 0
    this.sizeDigits = 0
    this.extBytes = 0
    this.bodyBytes = 0
    this.trailerBytes = 0
    this.trailerName = ''
    this.closeAfter = false
  }

  /** True between messages, with no bytes of the next head buffered. */
  get idle(): boolean {
    return this.state === HEAD && this.pending === null
  }

  /** True while part of a request head is buffered. */
  get headPending(): boolean {
    return this.state === HEAD && this.pending !== null
  }

  /** True once the parser has stopped for good: after an error or a request that closes. */
  get dead(): boolean {
    return this.state === DEAD
  }

  /** Stop after the current callback; execute returns how many bytes it consumed. */
  pause(): void {
    this.paused = true
  }

  resume(): void {
    this.paused = false
  }

  /** Stop parsing for good: everything that comes after is ignored. */
  stop(): void {
    this.state = DEAD
    this.pending = null
    this.owned = null
  }

  /**
   * Parse `chunk`. Returns the number of its bytes consumed: all of them, unless the handler
   * paused the parser (then feed the rest again after resume) or the parser is dead.
   */
  execute(chunk: Buffer): number {
    if (this.paused) return 0
    let data = chunk
    let base = 0
    const pending = this.pending
    if (pending !== null) {
      base = this.pendingLength
      const length = base + chunk.length
      let owned = pending
      if (length > pending.length) {
        owned = Buffer.allocUnsafe(Math.max(length, pending.length * 2))
        pending.copy(owned, 0, 0, base)
      }
      chunk.copy(owned, base)
      data = owned.subarray(0, length)
      this.owned = owned
      this.pending = null
    }
    let consumed: number
    try {
      consumed = this.run(data, base) - base
    } catch (err) {
      this.stop()
      throw err
    }
    this.owned = null
    return consumed
  }

  private run(data: Buffer, base: number): number {
    const end = data.length
    let pos = 0
    while (pos < end && !this.paused) {
      switch (this.state) {
        case HEAD: {
          const next = this.head(data, pos)
          if (next === -1) return end
          pos = next
          break
        }
        case BODY_LENGTH: {
          const n = Math.min(this.remaining, end - pos)
          this.remaining -= n
          this.handler.onBody(pos === 0 && n === end ? data : data.subarray(pos, pos + n))
          pos += n
          if (this.remaining === 0) this.complete()
          break
        }
        case CHUNK_DATA: {
          const n = Math.min(this.remaining, end - pos)
          this.remaining -= n
          this.handler.onBody(data.subarray(pos, pos + n))
          pos += n
          if (this.remaining === 0) this.state = CHUNK_DATA_CR
          break
        }
        case DEAD:
          return end
        default:
          pos = this.chunked(data, pos)
      }
    }
    return Math.max(pos, base)
  }

  // --- Request head -------------------------------------------------------------------------

  /** Scans for the end of the head from `start`; returns where the body begins, or -1. */
  private head(data: Buffer, start: number): number {
    let headStart = start
    let lineStart = start + this.lineFrom
    let searchFrom = start + this.searchFrom
    for (;;) {
      const lf = data.indexOf(LF, searchFrom)
      if (lf === -1) {
        this.keepPending(data, headStart, lineStart)
        return -1
      }
      const end = lf + 1
      const over = this.overLimit(data, headStart, lineStart, end, true)
      if (over !== null) throw over
      if (lf === lineStart || data[lf - 1] !== CR) throw new HttpError(400, 'Bare LF in request head')
      const lineLength = end - lineStart
      if (this.lines === 0) {
        if (lineLength === 2) {
          // RFC 9112 section 2.2: empty lines before the request line are ignored.
          headStart = lineStart = searchFrom = end
          continue
        }
        this.requestLine(data, lineStart, lf - 1)
      } else if (lineLength === 2) {
        const fieldsStart = headStart + this.fieldsOffset
        this.lines = 0
        this.lineFrom = 0
        this.searchFrom = 0
        this.fields(data, fieldsStart, end)
        return end
      }
      this.lines++
      lineStart = searchFrom = end
      if (this.lines === 1) this.fieldsOffset = lineStart - headStart
    }
  }

  /**
   * The limit that the head's current line passes, judged on its bytes from `lineStart` to
   * `end` (its LF included once it is complete), or null. The limit passed at the earliest byte
   * wins, and before a bare LF, so that a head gets the same answer however it is cut up.
   */
  private overLimit(data: Buffer, headStart: number, lineStart: number, end: number, complete: boolean): HttpError | null {
    const limits = this.limits
    let lineLimit: number
    let error: HttpError | null = null
    if (this.lines === 0) {
      lineLimit = lineStart + limits.maxRequestLineSize
      if (end > lineLimit) error = requestLineTooLong(data, lineStart, lineLimit)
    } else {
      // A field line, not the empty line that ends the head: one too many from its first byte.
      const content = (complete ? end - 1 : end) - lineStart
      if (this.lines > limits.maxHeaderCount && (content > 1 || (content === 1 && data[lineStart] !== CR))) {
        return new HttpError(431, 'Too many header fields')
      }
      lineLimit = lineStart + limits.maxHeaderSize
      if (end > lineLimit) error = new HttpError(431, 'Header field too large')
    }
    const headLimit = headStart + limits.maxHeadSize
    if (end > headLimit && (error === null || headLimit < lineLimit)) error = new HttpError(431, 'Request header too large')
    return error
  }

  /** Keeps the incomplete head (`headStart` on) for the next execute, within the limits. */
  private keepPending(data: Buffer, headStart: number, lineStart: number): void {
    const over = this.overLimit(data, headStart, lineStart, data.length, false)
    if (over !== null) throw over
    const size = data.length - headStart
    this.lineFrom = lineStart - headStart
    this.searchFrom = size
    if (size === 0) return
    let pending = this.owned
    if (pending !== null && headStart === 0) {
      // The head is already at the start of a buffer of ours, from which nothing was handed out.
    } else {
      // Copy: the socket's buffer must not be kept alive by a head that may never finish.
      pending = Buffer.allocUnsafe(Math.max(1024, 2 * size))
      data.copy(pending, 0, headStart)
    }
    this.pending = pending
    this.pendingLength = size
  }

  /** Parses the request line (`start` to the CR at `cr`): method SP request-target SP HTTP-version. */
  private requestLine(data: Buffer, start: number, cr: number): void {
    let p = start
    while (TOKEN[data[p]] === 1) p++
    if (p === start || data[p] !== SP) throw new HttpError(400, 'Invalid request method')
    const methodText = data.toString('latin1', start, p)
    const method = METHODS.get(methodText) ?? methodText
    const targetStart = ++p
    while (TARGET[data[p]] === 1) p++
    // The rare bytes (a %-escape, or what permissiveTarget lets through) go the long way.
    if (data[p] !== SP) p = scanTarget(data, p, this.limits.permissiveTarget)
    if (p === targetStart || data[p] !== SP) {
      if (TARGET[data[p]] === LAX) throw new HttpError(400, 'Invalid character in request target')
      throw new HttpError(400, p > targetStart && p === cr ? 'Missing HTTP version' : 'Invalid request target')
    }
    const url = data.toString('latin1', targetStart, p)
    p++
    if (cr - p !== 8) throw new HttpError(400, 'Invalid HTTP version')
    this.versionMinor = this.version(data, p)
    checkTargetForm(method, data, targetStart, p - 1)
    this.method = method
    this.url = url
  }

  /** Parses the header fields (`start` to `end`, the final empty line included) and emits the head. */
  private fields(data: Buffer, start: number, end: number): void {
    const versionMinor = this.versionMinor
    let p = start
    const fields: number[] = []
    let contentLength = -1
    let transferEncoding = false
    let chunked = false
    let otherCoding = false
    let connectionClose = false
    let connectionKeepAlive = false
    let connectionUpgrade = false
    let upgradeField = false
    let expectContinue = false
    let hosts = 0
    let contentType = false
    let contentRange = false
    while (p < end - 2) {
      const nameStart = p
      while (TOKEN[data[p]] === 1) p++
      if (data[p] !== COLON || p === nameStart) {
        const c = data[nameStart]
        if (c === SP || c === HTAB) throw new HttpError(400, 'Obsolete line folding in header')
        if (p > nameStart && (data[p] === SP || data[p] === HTAB)) {
          throw new HttpError(400, 'Whitespace before colon in header')
        }
        throw new HttpError(400, 'Invalid header name')
      }
      const nameEnd = p++
      while (data[p] === SP || data[p] === HTAB) p++
      const valueStart = p
      while (FIELD_VALUE[data[p]] === 1) p++
      if (data[p] !== CR || data[p + 1] !== LF) throw new HttpError(400, 'Invalid character in header value')
      const lineEnd = p
      let valueEnd = p
      while (valueEnd > valueStart && (data[valueEnd - 1] === SP || data[valueEnd - 1] === HTAB)) valueEnd--
      fields.push(nameStart, nameEnd, valueStart, valueEnd)
      p = lineEnd + 2

      switch (nameEnd - nameStart) {
        case 4:
          if (nameIs(data, nameStart, HOST)) {
            // RFC 9110 section 4.2.1: an http URI with an empty host is invalid, so is this field.
            if (valueStart === valueEnd) throw new HttpError(400, 'Empty Host header')
            if (!validHost(data, valueStart, valueEnd)) throw new HttpError(400, 'Invalid Host header')
            hosts++
          }
          break
        case 6:
          // RFC 9110 section 10.1.1: an HTTP/1.0 request's expectation is ignored.
          if (versionMinor === 1 && nameIs(data, nameStart, EXPECT)) {
            // A list (RFC 9110 section 5.6.1): empty elements are ignored; 100-continue is the
            // only expectation defined.
            for (const index of listTokens(data, valueStart, valueEnd, EXPECTATIONS)) {
              if (index !== 0) throw new HttpError(417, 'Unsupported expectation')
              expectContinue = true
            }
          }
          break
        case 7:
          if (nameIs(data, nameStart, UPGRADE)) upgradeField = true
          break
        case 10:
          if (nameIs(data, nameStart, CONNECTION)) {
            for (const option of listTokens(data, valueStart, valueEnd, CONNECTION_TOKENS)) {
              if (option === 0) connectionClose = true
              else if (option === 1) connectionKeepAlive = true
              else if (option === 2) connectionUpgrade = true
            }
          }
          break
        // RFC 9110 section 5.3: a field whose value is not a list cannot be combined. Repeated,
        // those that say how to read the body are refused: the app would read the first, a proxy
        // in front may read the last (gunicorn 26.1 refuses a second Content-Type, nginx a
        // second Content-Range).
        case 12:
          if (nameIs(data, nameStart, CONTENT_TYPE)) {
            if (contentType) throw new HttpError(400, 'Multiple Content-Type fields')
            contentType = true
          }
          break
        case 13:
          if (nameIs(data, nameStart, CONTENT_RANGE)) {
            if (contentRange) throw new HttpError(400, 'Multiple Content-Range fields')
            contentRange = true
          }
          break
        case 14:
          if (nameIs(data, nameStart, CONTENT_LENGTH)) {
            // RFC 9112 section 6.3 (5): a recipient may refuse repeated values even when equal.
            if (contentLength !== -1) throw new HttpError(400, 'Multiple Content-Length fields')
            contentLength = parseContentLength(data, valueStart, valueEnd)
          } else if (underscored(data, nameStart, CONTENT_LENGTH)) throw new HttpError(400, 'Content_Length is ambiguous')
          break
        case 17:
          if (nameIs(data, nameStart, TRANSFER_ENCODING)) {
            transferEncoding = true
            // Codings apply in order across repeated fields; chunked must come once, and last.
            for (const coding of listTokens(data, valueStart, valueEnd, TE_TOKENS)) {
              if (chunked) throw new HttpError(400, 'Transfer-Encoding after chunked')
              if (coding === 0) chunked = true
              else otherCoding = true
            }
          } else if (underscored(data, nameStart, TRANSFER_ENCODING)) throw new HttpError(400, 'Transfer_Encoding is ambiguous')
          break
      }
    }

    if (versionMinor === 1 && hosts === 0) throw new HttpError(400, 'Missing Host header')
    if (hosts > 1) throw new HttpError(400, 'Multiple Host headers')
    if (transferEncoding) {
      // RFC 9112 section 6.1 and 6.3: TE with CL is a smuggling vector; refuse it outright.
      if (contentLength !== -1) throw new HttpError(400, 'Both Transfer-Encoding and Content-Length')
      if (versionMinor === 0) throw new HttpError(400, 'Transfer-Encoding in an HTTP/1.0 request')
      if (!chunked) throw new HttpError(400, 'Transfer-Encoding must end with chunked')
      if (otherCoding) throw new HttpError(501, 'Unsupported transfer coding')
    }
    if (contentLength > this.limits.maxBodySize) throw new HttpError(413, 'Request body too large')

    const keepAlive = versionMinor === 1 ? !connectionClose : connectionKeepAlive && !connectionClose
    this.closeAfter = !keepAlive
    // RFC 9110 section 7.8: an Upgrade field counts only when Connection lists it.
    const upgrade = versionMinor === 1 && connectionUpgrade && upgradeField
    const head = new RequestHead(data, this.method, this.url, versionMinor, fields, contentLength, chunked, keepAlive, expectContinue, upgrade)
    this.bodyBytes = 0
    if (chunked) {
      this.state = CHUNK_SIZE
      this.chunkSize = 0
      this.sizeDigits = 0
      this.extBytes = 0
      this.handler.onRequest(head)
    } else if (contentLength > 0) {
      this.state = BODY_LENGTH
      this.remaining = contentLength
      this.handler.onRequest(head)
    } else {
      this.state = HEAD
      this.handler.onRequest(head)
      this.complete()
    }
  }

  /** `HTTP/1.x` followed by CRLF at `p`; returns the minor version. */
  private version(data: Buffer, p: number): number {
    if (
      data[p] !== 72 || data[p + 1] !== 84 || data[p + 2] !== 84 || data[p + 3] !== 80 || data[p + 4] !== 47 ||
      data[p + 6] !== 46 || HEX[data[p + 5]] < 0 || HEX[data[p + 5]] > 9 || HEX[data[p + 7]] < 0 ||
      HEX[data[p + 7]] > 9 || data[p + 8] !== CR || data[p + 9] !== LF
    ) {
      throw new HttpError(400, 'Invalid HTTP version')
    }
    const major = data[p + 5] - 48
    const minor = data[p + 7] - 48
    if (major !== 1) throw new HttpError(505, 'HTTP version not supported')
    // RFC 9110 section 2.5: a later 1.x minor version is processed as 1.1.
    return minor > 1 ? 1 : minor
  }

  private complete(): void {
    // A handler may have stopped the parser during onRequest: it stays stopped.
    if (this.state !== DEAD) this.state = this.closeAfter ? DEAD : HEAD
    this.handler.onMessageComplete()
  }

  // --- Chunked body (RFC 9112 section 7.1) --------------------------------------------------

  /**
   * One byte of a chunk extension: checked against the grammar, then skipped. (Blanks before
   * the line's end are let through: they cannot change the framing.)
   */
  private extension(c: number): void {
    const blank = c === SP || c === HTAB
    let next = -1
    switch (this.state) {
      case CHUNK_EXT_BWS:
      case CHUNK_EXT_VALUE_END:
        if (blank) next = this.state
        else if (c === SEMICOLON) next = CHUNK_EXT_NAME_START
        else if (c === CR && this.state === CHUNK_EXT_VALUE_END) next = CHUNK_SIZE_LF
        break
      case CHUNK_EXT_NAME_START:
        if (blank) next = CHUNK_EXT_NAME_START
        else if (TOKEN[c] === 1) next = CHUNK_EXT_NAME
        break
      case CHUNK_EXT_NAME:
      case CHUNK_EXT_TOKEN:
        if (TOKEN[c] === 1) next = this.state
        else if (c === CR) next = CHUNK_SIZE_LF
        else if (c === SEMICOLON) next = CHUNK_EXT_NAME_START
        else if (blank) next = this.state === CHUNK_EXT_NAME ? CHUNK_EXT_NAME_END : CHUNK_EXT_VALUE_END
        else if (c === EQUALS && this.state === CHUNK_EXT_NAME) next = CHUNK_EXT_VALUE_START
        break
      case CHUNK_EXT_NAME_END:
        if (blank) next = CHUNK_EXT_NAME_END
        else if (c === EQUALS) next = CHUNK_EXT_VALUE_START
        else if (c === SEMICOLON) next = CHUNK_EXT_NAME_START
        else if (c === CR) next = CHUNK_SIZE_LF
        break
      case CHUNK_EXT_VALUE_START:
        if (blank) next = CHUNK_EXT_VALUE_START
        else if (c === DQUOTE) next = CHUNK_EXT_QUOTED
        else if (TOKEN[c] === 1) next = CHUNK_EXT_TOKEN
        break
      case CHUNK_EXT_QUOTED:
        if (c === DQUOTE) next = CHUNK_EXT_VALUE_END
        else if (c === BACKSLASH) next = CHUNK_EXT_ESCAPE
        else if (QDTEXT[c] === 1) next = CHUNK_EXT_QUOTED
        break
      default: // CHUNK_EXT_ESCAPE: quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
        if (FIELD_VALUE[c] === 1) next = CHUNK_EXT_QUOTED
    }
    if (next === -1) throw new HttpError(400, 'Invalid chunk extension')
    this.state = next
  }

  /** Runs the chunked-body states over `data` from `pos`; returns where it stopped. */
  private chunked(data: Buffer, pos: number): number {
    const end = data.length
    while (pos < end) {
      const c = data[pos]
      switch (this.state) {
        case CHUNK_SIZE: {
          const v = HEX[c]
          if (v >= 0) {
            this.chunkSize = this.chunkSize * 16 + v
            if (this.chunkSize > Number.MAX_SAFE_INTEGER) throw new HttpError(400, 'Chunk size too large')
            this.sizeDigits++
          } else if (this.sizeDigits === 0) {
            throw new HttpError(400, 'Invalid chunk size')
          } else if (c === CR) {
            this.state = CHUNK_SIZE_LF
          } else if (c === SEMICOLON) {
            this.state = CHUNK_EXT_NAME_START
          } else if (c === SP || c === HTAB) {
            this.state = CHUNK_EXT_BWS
          } else {
            throw new HttpError(400, 'Invalid chunk size')
          }
          break
        }
        case CHUNK_EXT_BWS:
        case CHUNK_EXT_NAME_START:
        case CHUNK_EXT_NAME:
        case CHUNK_EXT_NAME_END:
        case CHUNK_EXT_VALUE_START:
        case CHUNK_EXT_TOKEN:
        case CHUNK_EXT_QUOTED:
        case CHUNK_EXT_ESCAPE:
        case CHUNK_EXT_VALUE_END:
          if (++this.extBytes > MAX_CHUNK_EXT) throw new HttpError(400, 'Chunk extension too long')
          this.extension(c)
          break
        case CHUNK_SIZE_LF: {
          if (c !== LF) throw new HttpError(400, 'Invalid chunk size line')
          const size = this.chunkSize
          this.chunkSize = 0
          this.sizeDigits = 0
          this.extBytes = 0
          if (size === 0) {
            this.state = TRAILER_START
            this.trailerBytes = 0
          } else {
            this.bodyBytes += size
            if (this.bodyBytes > this.limits.maxBodySize) throw new HttpError(413, 'Request body too large')
            this.remaining = size
            this.state = CHUNK_DATA
            return pos + 1
          }
          break
        }
        case CHUNK_DATA_CR:
          if (c !== CR) throw new HttpError(400, 'Missing CRLF after chunk data')
          this.state = CHUNK_DATA_LF
          break
        case CHUNK_DATA_LF:
          if (c !== LF) throw new HttpError(400, 'Missing CRLF after chunk data')
          this.state = CHUNK_SIZE
          break
        case TRAILER_START:
          if (c === CR) this.state = TRAILERS_END_LF
          else if (TOKEN[c] === 1) {
            this.state = TRAILER_NAME
            this.trailerName = String.fromCharCode(c | 0x20)
          } else throw new HttpError(400, 'Invalid trailer field')
          break
        case TRAILER_NAME:
          if (c === COLON) {
            this.state = TRAILER_VALUE
            if (FORBIDDEN_TRAILERS.has(this.trailerName)) {
              throw new HttpError(400, `${this.trailerName} is not allowed in trailers`)
            }
          } else if (TOKEN[c] !== 1) throw new HttpError(400, 'Invalid trailer field')
          else if (this.trailerName.length < MAX_FORBIDDEN_NAME) this.trailerName += String.fromCharCode(c | 0x20)
          break
        case TRAILER_VALUE:
          if (c === CR) this.state = TRAILER_LF
          else if (FIELD_VALUE[c] !== 1) throw new HttpError(400, 'Invalid character in trailer field')
          break
        case TRAILER_LF:
          if (c !== LF) throw new HttpError(400, 'Invalid trailer field')
          this.state = TRAILER_START
          break
        default: // TRAILERS_END_LF
          if (c !== LF) throw new HttpError(400, 'Invalid end of chunked body')
          this.complete()
          return pos + 1
      }
      if (this.state >= TRAILER_START && ++this.trailerBytes > this.limits.maxHeadSize) {
        throw new HttpError(431, 'Trailer section too large')
      }
      pos++
    }
    return pos
  }
}

// Fields a sender must not put in trailers (RFC 9110 section 6.5.1): framing, connection
// options, routing, request modifiers, authentication, and how to process the content. A request
// that carries one is refused: a proxy in front that merges trailers into the head would act on
// it. (Trailers are otherwise read and skipped.)
const FORBIDDEN_TRAILERS = new Set([
  'content-length', 'transfer-encoding', 'trailer', 'te', 'connection', 'keep-alive', 'proxy-connection', 'upgrade',
  'host', 'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'max-forwards',
  'expect', 'range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range',
  'cache-control', 'pragma', 'authorization', 'proxy-authorization', 'cookie',
  'content-encoding', 'content-type', 'content-range',
])
/** Longer names cannot be forbidden: the name stops being kept past this. */
const MAX_FORBIDDEN_NAME = 20
const HOST = lower('host')
const EXPECT = lower('expect')
const EXPECTATIONS = [lower('100-continue')]
const CONNECTION = lower('connection')
const CONTENT_LENGTH = lower('content-length')
const CONTENT_TYPE = lower('content-type')
const CONTENT_RANGE = lower('content-range')
const TRANSFER_ENCODING = lower('transfer-encoding')
const TE_TOKENS = [lower('chunked')]
const CONNECTION_TOKENS = [lower('close'), lower('keep-alive'), lower('upgrade')]
const UPGRADE = lower('upgrade')

function lower(text: string): Uint8Array {
  return Buffer.from(text, 'latin1')
}

/** Case-insensitive compare of `data` at `at` with a lower-case ASCII literal. */
function nameIs(data: Buffer, at: number, literal: Uint8Array): boolean {
  for (let i = 0; i < literal.length; i++) {
    const c = data[at + i]
    if (c !== literal[i] && (c | 0x20) !== literal[i]) return false
  }
  return true
}

/**
 * A framing field's name with `_` for its `-`s: a valid token, but a server or proxy that maps
 * `_` to `-` (CGI-style environments do) would frame the message by it and Pegasus would not.
 */
function underscored(data: Buffer, at: number, literal: Uint8Array): boolean {
  // Called once nameIs has failed: a name that matches here has a `_` somewhere.
  for (let i = 0; i < literal.length; i++) {
    const c = data[at + i]
    if (c !== literal[i] && (c | 0x20) !== literal[i] && (c !== 95 || literal[i] !== 45)) return false
  }
  return true
}

/**
 * The elements of a comma-separated field value (RFC 9110 section 5.6.1), each as the index of
 * the case-insensitive token it equals in `tokens`, or -1; empty elements are skipped.
 */
function listTokens(data: Buffer, start: number, end: number, tokens: readonly Uint8Array[]): number[] {
  const found: number[] = []
  let p = start
  while (p < end) {
    let e = p
    while (e < end && data[e] !== 44) e++
    let s = p
    let t = e
    while (s < t && (data[s] === SP || data[s] === HTAB)) s++
    while (t > s && (data[t - 1] === SP || data[t - 1] === HTAB)) t--
    if (s < t) {
      let index = -1
      for (let i = 0; i < tokens.length; i++) {
        if (tokens[i].length === t - s && nameIs(data, s, tokens[i])) index = i
      }
      found.push(index)
    }
    p = e + 1
  }
  return found
}

/**
 * Content-Length = 1*DIGIT (RFC 9110 section 8.6). Anything else is refused: signs, hex, empty,
 * past 2^53, and a list, even of equal values (RFC 9112 section 6.3 (5) lets a recipient refuse
 * it; a proxy in front that takes it another way could be desynchronised).
 */
function parseContentLength(data: Buffer, start: number, end: number): number {
  let n = 0
  for (let p = start; p < end; p++) {
    const c = data[p]
    if (c < 48 || c > 57) throw new HttpError(400, c === 44 ? 'Content-Length in list form' : 'Invalid Content-Length')
    n = n * 10 + (c - 48)
    if (n > Number.MAX_SAFE_INTEGER) throw new HttpError(400, 'Invalid Content-Length')
  }
  if (start === end) throw new HttpError(400, 'Invalid Content-Length')
  return n
}

/**
 * The error for a request line that passes its limit at `limit`, named after the part to blame
 * (judged on the bytes before the limit, so the same however the line is cut): 400 for a method
 * still going, or a version that is not one; else 414, the target is too long.
 */
function requestLineTooLong(data: Buffer, start: number, limit: number): HttpError {
  const methodEnd = data.indexOf(SP, start)
  if (methodEnd === -1 || methodEnd >= limit) return new HttpError(400, 'Request method too long')
  const targetEnd = data.indexOf(SP, methodEnd + 1)
  if (targetEnd !== -1 && targetEnd < limit) {
    // `HTTP/d.d` CR LF: had it all fitted, the line would have ended before the limit.
    for (let i = 0; i < limit - targetEnd - 1; i++) {
      const c = data[targetEnd + 1 + i]
      if (i === 5 || i === 7 ? c < 48 || c > 57 : c !== VERSION_SHAPE[i]) return new HttpError(400, 'Invalid HTTP version')
    }
  }
  return new HttpError(414, 'Request target too long')
}
const VERSION_SHAPE = lower('HTTP/1.1\r\n')

