// The response an app writes: status line, headers and body framing (Content-Length, chunked,
// close-delimited; nothing for HEAD, 1xx, 204 and 304). The bytes go to the connection, which
// writes them in request order.
import { statusLine } from './http/status.js'
import { httpDate } from './clock.js'
import type { Request } from './request.js'
import type { HttpError } from './http/errors.js'

/** What a Response needs from its connection (implemented by Connection). */
export interface ResponseOwner {
  /** Bytes of `res` to go out, in order after the responses before it. */
  send(res: Response, data: string | Uint8Array, latin1: boolean): boolean
  /** `res` is complete (`res.closesConnection` says whether the connection ends after it). */
  finish(res: Response): void
  /** The app threw or rejected while handling `res`. */
  appFailed(res: Response, error: unknown): void
  /**
   * True when `res` is first in line, so that an interface that writes the socket itself may
   * write now (the connection's own pending bytes are flushed first).
   */
  takeTurn(res: Response): boolean
  /** True when `res` is first in line (no flush). */
  isFirst(res: Response): boolean
  /**
   * Output of an interface that writes as the socket would (node's ServerResponse), first in
   * line: `data` joins the connection's batch, `callback` is called once it is written (with an
   * error if it could not be). Returns false when the client is behind ('drain' follows).
   */
  write(res: Response, data: string | Uint8Array, callback: WriteCallback | null): boolean
}

/**
 * An interface adapter whose response object writes the socket itself (node's ServerResponse),
 * in its turn: the exchange stands in the connection's line without output of its own.
 */
export interface ExternalOutput {
  /** Its head has gone out: the status can no longer be replaced by an error response. */
  readonly started: boolean
  /** The exchange has come first in line: its output may go to the socket now. */
  first(): void
  /** The server answers or drops the exchange itself (error, timeout, client gone): let go. */
  abandon(): void
  /**
   * The client ended its side (FIN) before this exchange was over: its app hears of it (as
   * through req.signal); an answer it still gives is delivered.
   */
  clientEnded(): void
  /** The connection closes after this exchange (the server shuts down): a head yet to go says so. */
  closing(): void
  /** The socket has drained while this exchange is first in line. */
  drained(): void
}

type Listener = (...args: unknown[]) => void
type HeaderValue = string | number | readonly string[]
/** writeHead's headers: an object, `[name, value, name, value, ...]` or `[[name, value], ...]`. */
export type HeadHeaders = Record<string, HeaderValue> | readonly HeaderValue[] | readonly (readonly [string, HeaderValue])[]
/** node:http's write callback: an error when the chunk could not be written. */
export type WriteCallback = (error?: Error | null) => void

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// Anything outside HTAB and printable ASCII sends a value down the slow check below.
const UNUSUAL_RE = /[^\t\x20-\x7e]/
const FORBIDDEN_RE = /[^\t\x20-\x7e\x80-\xff]/

// Framing modes, settled when the head goes out.
const UNSET = 0
const LENGTH = 1 // Content-Length: the app's or ours
const CHUNKED = 2
const UNTIL_CLOSE = 3 // HTTP/1.0 stream without a length
const NO_BODY = 4 // HEAD, 1xx, 204, 304

// A Buffer body up to this size goes out in one buffer with its head: one plain write instead of
// a writev of two (copying a small body costs less than the gather write).
const JOIN_LIMIT = 16 * 1024

/** The head (latin1) and a body, in one new buffer. */
function joinHead(head: string, body: Uint8Array): Buffer {
  const headLength = head.length
  const joined = Buffer.allocUnsafe(headLength + body.byteLength)
  joined.write(head, 0, headLength, 'latin1')
  joined.set(body, headLength)
  return joined
}

/** A header value as a list of strings. */
function listOf(value: HeaderValue): string[] {
  return Array.isArray(value) ? value.map(String) : [String(value)]
}

const CHUNK_END = '\r\n'
const LAST_CHUNK = '0\r\n\r\n'
const NOTHING = Buffer.alloc(0)

/** A string chunk with a declared encoding, as bytes (UTF-8 strings stay strings: the common case). */
function encode(chunk: string, encoding: BufferEncoding): string | Buffer {
  return encoding === 'utf8' || encoding === 'utf-8' ? chunk : Buffer.from(chunk, encoding)
}

/** What a write callback gets once the response can no longer be written (node's error). */
function destroyedError(): Error {
  return Object.assign(new Error('Cannot call write after a stream was destroyed'), { code: 'ERR_STREAM_DESTROYED' })
}

export class Response {
  statusCode: number
  statusMessage: string | undefined
  readonly req: Request
  private readonly owner: ResponseOwner
  /** Next exchange on the same connection (the connection's in-order list). */
  next: Response | null
  /** Output held back while an earlier response on the connection is still going. */
  queued: (string | Uint8Array)[] | null
  queuedBytes: number
  /** A write of held-back output returned false: 'drain' is owed once this response is first. */
  queuedFull: boolean
  /** When the app was called (Date.now()), for the app timeout. */
  calledAt: number
  /** Release of this exchange's dispatch slot; null once released. */
  release: (() => void) | null
  /** The request asked for `100 Continue` and it has not been sent. */
  expectContinue: boolean
  /** The request turned out bad while its body arrived: this error is the answer instead. */
  failure: HttpError | null
  /** The app failed after producing output that was still held back: the connection ends here. */
  broken: boolean
  /** Set by an interface that writes the socket itself; null for the native interface. */
  external: ExternalOutput | null
  /** Body bytes sent, framing excluded (for the access log). */
  bodyBytes: number
  /** performance.now() when the head was read, set when the access log wants durations; else 0. */
  startedAt: number
  /** The head as it went out ('' until then), for the access log's response fields. */
  sentHead: string
  private callbacks: (() => void)[] | null
  /** Write callbacks of output held back behind an earlier response: called once it is written. */
  private writeCallbacks: WriteCallback[] | null
  private names: string[]
  private keys: string[]
  private values: HeaderValue[]
  private headLatin1: boolean
  private headWritten: boolean
  /** The head has gone to the connection: its status and headers are fixed. */
  private headFlushed: boolean
  private framing: number
  private declaredLength: number
  private sentLength: number
  private closeAfter: boolean
  private ended: boolean
  private _destroyed: boolean
  private listeners: Record<string, Listener[]> | null

  constructor(owner: ResponseOwner, req: Request) {
    this.statusCode = 200
    this.statusMessage = undefined
    this.req = req
    this.owner = owner
    this.next = null
    this.queued = null
    this.queuedBytes = 0
    this.queuedFull = false
    this.calledAt = 0
    this.release = null
    this.expectContinue = req.head.expectContinue
    this.failure = null
    this.broken = false
    this.external = null
    this.bodyBytes = 0
    this.startedAt = 0
    this.sentHead = ''
    this.callbacks = null
    this.writeCallbacks = null
    this.names = []
    this.keys = []
    this.values = []
    this.headLatin1 = false
    this.headWritten = false
    this.headFlushed = false
    this.framing = UNSET
    this.declaredLength = -1
    this.sentLength = 0
    this.closeAfter = false
    this.ended = false
    this._destroyed = false
    this.listeners = null
  }

  // --- Headers --------------------------------------------------------------------------------

  get headersSent(): boolean {
    return this.headWritten
  }

  get writableEnded(): boolean {
    return this.ended
  }

  /** True once the response is complete or the client went away. */
  get finished(): boolean {
    return this.ended
  }

  get destroyed(): boolean {
    return this._destroyed
  }

  setHeader(name: string, value: HeaderValue): this {
    if (this.headWritten) throw new Error(`Cannot set header "${name}" after the head was sent`)
    if (typeof name !== 'string' || !TOKEN_RE.test(name)) throw new TypeError(`Invalid header name: ${JSON.stringify(name)}`)
    if (typeof value === 'number') value = String(value)
    if (typeof value === 'string') this.checkText(`header "${name}"`, value)
    else if (Array.isArray(value)) for (const v of value) this.checkText(`header "${name}"`, String(v))
    else throw new TypeError(`Invalid value for header "${name}"`)
    const key = name.toLowerCase()
    const i = this.keys.indexOf(key)
    if (i === -1) {
      this.names.push(name)
      this.keys.push(key)
      this.values.push(value)
    } else {
      this.names[i] = name
      this.values[i] = value
    }
    return this
  }

  getHeader(name: string): HeaderValue | undefined {
    const i = this.keys.indexOf(name.toLowerCase())
    return i === -1 ? undefined : this.values[i]
  }

  hasHeader(name: string): boolean {
    return this.keys.indexOf(name.toLowerCase()) !== -1
  }

  getHeaderNames(): string[] {
    return this.keys.slice()
  }

  getHeaders(): Record<string, HeaderValue> {
    const headers: Record<string, HeaderValue> = Object.create(null)
    for (let i = 0; i < this.keys.length; i++) headers[this.keys[i]] = this.values[i]
    return headers
  }

  removeHeader(name: string): void {
    if (this.headWritten) throw new Error(`Cannot remove header "${name}" after the head was sent`)
    const i = this.keys.indexOf(name.toLowerCase())
    if (i === -1) return
    this.names.splice(i, 1)
    this.keys.splice(i, 1)
    this.values.splice(i, 1)
  }

  /**
   * Text that goes into the head (a header value, the reason phrase): refuses CR, LF, NUL and
   * other controls (no response splitting); notes non-ASCII text, which goes out as latin1.
   */
  private checkText(what: string, value: string): void {
    if (!UNUSUAL_RE.test(value)) return
    if (FORBIDDEN_RE.test(value)) throw new TypeError(`Invalid character in ${what}`)
    this.headLatin1 = true
  }

  /**
   * Sets the status (and reason phrase) and merges `headers`; the head goes out with the first
   * body bytes. Accepts `writeHead(status, headers)` and `writeHead(status, reason, headers)`;
   * `headers` is an object, a flat `[name, value, ...]` list or a list of `[name, value]` pairs.
   */
  writeHead(status: number, reason?: string | HeadHeaders | null, headers?: HeadHeaders | null): this {
    if (this.headWritten) throw new Error('writeHead called after the head was sent')
    if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`Invalid status code: ${status}`)
    if (typeof reason === 'string') {
      this.checkText('reason phrase', reason)
      this.statusMessage = reason
    } else {
      headers ??= reason
    }
    this.statusCode = status
    if (Array.isArray(headers)) this.setHeaderList(headers)
    else if (headers != null) {
      for (const name of Object.keys(headers)) this.setHeader(name, (headers as Record<string, HeaderValue>)[name])
    }
    this.headWritten = true
    return this
  }

  /**
   * writeHead's list forms, as node:http takes them: a name in the list replaces what was set
   * before, and a name repeated in the list sends each value (`Set-Cookie`, say).
   */
  private setHeaderList(list: readonly unknown[]): void {
    const pairs = Array.isArray(list[0])
    if (!pairs && list.length % 2 !== 0) throw new TypeError('writeHead: a header list needs a value after each name')
    const names: string[] = []
    const values: HeaderValue[] = []
    if (pairs) {
      for (const pair of list as readonly (readonly [string, HeaderValue])[]) {
        names.push(pair[0])
        values.push(pair[1])
      }
    } else {
      for (let i = 0; i < list.length; i += 2) {
        names.push(list[i] as string)
        values.push(list[i + 1] as HeaderValue)
      }
    }
    for (const name of names) if (typeof name === 'string') this.removeHeader(name)
    for (let i = 0; i < names.length; i++) {
      const name = names[i]
      const at = typeof name === 'string' ? this.keys.indexOf(name.toLowerCase()) : -1
      // A repeat keeps the name as first spelled, as node's appendHeader does.
      if (at === -1) this.setHeader(name, values[i])
      else this.setHeader(this.names[at], listOf(this.values[at]).concat(listOf(values[i])))
    }
  }

  // --- Body -----------------------------------------------------------------------------------

  /**
   * Streams a piece of the body (a string in `encoding`, UTF-8 by default). Returns false when the
   * client is behind: wait for 'drain'. `callback` is called once the piece is written to the
   * socket, or with an error if the client has gone.
   */
  write(chunk: string | Uint8Array, callback?: WriteCallback): boolean
  write(chunk: string | Uint8Array, encoding: BufferEncoding | undefined, callback?: WriteCallback): boolean
  write(chunk: string | Uint8Array, encoding?: BufferEncoding | WriteCallback, callback?: WriteCallback): boolean {
    if (typeof encoding === 'function') {
      callback = encoding
      encoding = undefined
    }
    if (this.ended) throw new Error('write after end')
    if (this._destroyed) {
      if (callback !== undefined) process.nextTick(callback, destroyedError())
      return true
    }
    if (typeof chunk === 'string' && encoding !== undefined) chunk = encode(chunk, encoding)
    const length = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength
    if (!this.headFlushed) this.startBody(-1)
    const ok = length === 0 || this.framing === NO_BODY || this.sendBody(chunk, length)
    if (callback !== undefined) this.whenWritten(callback)
    return ok
  }

  /**
   * Completes the response, with `body` (a string in `encoding`, UTF-8 by default) as its last
   * (or only) piece; `callback` is called once the response is out.
   */
  end(callback?: () => void): this
  end(body: string | Uint8Array | null | undefined, callback?: () => void): this
  end(body: string | Uint8Array | null | undefined, encoding: BufferEncoding | undefined, callback?: () => void): this
  end(body?: string | Uint8Array | null | (() => void), encoding?: BufferEncoding | (() => void), callback?: () => void): this {
    if (this.ended) return this
    // node:http's forms: end(cb), end(body, cb), end(body, encoding, cb).
    const done = typeof body === 'function' ? body : typeof encoding === 'function' ? encoding : callback
    if (typeof done === 'function') (this.callbacks ??= []).push(done)
    if (typeof body === 'function' || body === null) body = undefined
    else if (typeof body === 'string' && typeof encoding === 'string') body = encode(body, encoding)
    if (this._destroyed) {
      this.ended = true
      return this
    }
    const length = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength
    if (!this.headFlushed) {
      const head = this.buildHead(length, true)
      this.headFlushed = true
      this.headWritten = true
      if (this.framing === NO_BODY || length === 0) this.owner.send(this, head, this.headLatin1)
      else if (typeof body === 'string' && !this.headLatin1) this.owner.send(this, head + body, false)
      else if (typeof body !== 'string' && length <= JOIN_LIMIT) this.owner.send(this, joinHead(head, body as Uint8Array), false)
      else {
        this.owner.send(this, head, this.headLatin1)
        this.owner.send(this, body as string | Uint8Array, false)
      }
      this.sentLength = length
      if (this.framing !== NO_BODY) this.bodyBytes = length
    } else {
      if (length > 0 && this.framing !== NO_BODY) this.sendBody(body as string | Uint8Array, length)
      if (this.framing === CHUNKED) this.owner.send(this, LAST_CHUNK, false)
      else if (this.framing === LENGTH && this.sentLength !== this.declaredLength) this.closeAfter = true
    }
    this.ended = true
    this.owner.finish(this)
    return this
  }

  /** Called by the connection once the whole response has been handed to the socket. */
  emitFinished(): void {
    // The next exchange's held-back output has just been handed on behind this one's: its write
    // callbacks can follow it.
    const next = this.next
    if (next !== null && next.writeCallbacks !== null) next.writeHeldCallbacks()
    if (this.callbacks !== null) for (const callback of this.callbacks) process.nextTick(callback)
    if (this.listeners !== null) {
      this.emit('finish')
      this.emit('close')
    }
  }

  /**
   * node:http calls a write callback once its chunk is written to the socket. First in line, the
   * chunk has gone to the socket (takeTurn flushes): an empty write behind it calls back when it
   * is written. Held back, the callback waits for this response's turn.
   */
  private whenWritten(callback: WriteCallback): void {
    if (this.owner.takeTurn(this)) this.writeSocket(callback)
    else (this.writeCallbacks ??= []).push(callback)
  }

  /** This response has come first in line: its held-back output has gone to the socket. */
  private writeHeldCallbacks(): void {
    const callbacks = this.writeCallbacks as WriteCallback[]
    this.writeCallbacks = null
    this.owner.takeTurn(this)
    for (const callback of callbacks) this.writeSocket(callback)
  }

  /**
   * The socket is open: the connection ends it only after dropping (destroying) every exchange
   * left. A destroyed socket calls back with ERR_STREAM_DESTROYED itself.
   */
  private writeSocket(callback: WriteCallback): void {
    this.req.socket.write(NOTHING, callback)
  }

  /** Sends the head for a streamed body (`length` -1: not known yet). */
  private startBody(length: number): void {
    const head = this.buildHead(length, false)
    this.headFlushed = true
    this.headWritten = true
    this.owner.send(this, head, this.headLatin1)
  }

  private sendBody(chunk: string | Uint8Array, length: number): boolean {
    if (this.framing === CHUNKED) {
      this.bodyBytes += length
      this.owner.send(this, `${length.toString(16)}\r\n`, false)
      this.owner.send(this, chunk, false)
      return this.owner.send(this, CHUNK_END, false)
    }
    if (this.framing === LENGTH && this.sentLength + length > this.declaredLength) {
      throw new Error(`Response body longer than its Content-Length (${this.declaredLength})`)
    }
    this.sentLength += length
    this.bodyBytes += length
    return this.owner.send(this, chunk, false)
  }

  /**
   * The status line and header block. `length` is the whole body's size when `complete` (end()
   * with nothing written before), else -1. Settles the framing and whether the connection closes.
   */
  private buildHead(length: number, complete: boolean): string {
    const status = this.statusCode
    const req = this.req
    if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`Invalid status code: ${status}`)
    const reason = this.statusMessage
    // statusMessage may be set directly: it gets the same check as a header value.
    if (reason !== undefined) this.checkText('reason phrase', reason)
    let head = statusLine(status, reason)
    let hasDate = false
    let appLength = -1
    for (let i = 0; i < this.keys.length; i++) {
      const key = this.keys[i]
      const value = this.values[i]
      if (key.length === 10 && key === 'connection') {
        if (/(?:^|,)\s*close\s*(?:,|$)/i.test(String(value))) this.closeAfter = true
        continue
      }
      if (key.length === 17 && key === 'transfer-encoding') continue // framing is the server's
      if (key.length === 14 && key === 'content-length') {
        appLength = Number(value)
        if (!/^\d+$/.test(String(value)) || !Number.isSafeInteger(appLength)) {
          throw new Error(`Invalid Content-Length: ${String(value)}`)
        }
        continue
      }
      if (key.length === 4 && key === 'date') hasDate = true
      const name = this.names[i]
      if (typeof value === 'string') head += `${name}: ${value}\r\n`
      else for (const v of value as readonly string[]) head += `${name}: ${v}\r\n`
    }
    if (!hasDate) head += httpDate()

    if (status < 200 || status === 204 || status === 304) {
      this.framing = NO_BODY
      if (status === 304 && appLength !== -1) head += `Content-Length: ${appLength}\r\n`
    } else if (appLength !== -1) {
      if (complete && req.method !== 'HEAD' && appLength !== length) {
        throw new Error(`Content-Length ${appLength} does not match the body's ${length} bytes`)
      }
      this.framing = req.method === 'HEAD' ? NO_BODY : LENGTH
      this.declaredLength = appLength
      head += `Content-Length: ${appLength}\r\n`
    } else if (complete) {
      this.framing = req.method === 'HEAD' ? NO_BODY : LENGTH
      this.declaredLength = length
      head += `Content-Length: ${length}\r\n`
    } else if (req.method === 'HEAD') {
      this.framing = NO_BODY
    } else if (req.httpVersion === '1.1') {
      this.framing = CHUNKED
      head += 'Transfer-Encoding: chunked\r\n'
    } else {
      this.framing = UNTIL_CLOSE
      this.closeAfter = true
    }

    // A client still waiting for `100 Continue` may or may not send the body: framing is in
    // doubt once the final response goes out without it, so the connection closes.
    if (this.expectContinue && !req.complete) this.closeAfter = true
    if (this.closeAfter || !req.head.keepAlive) {
      this.closeAfter = true
      head += 'Connection: close\r\n\r\n'
    } else if (req.httpVersion === '1.0') {
      head += 'Connection: keep-alive\r\n\r\n'
    } else {
      head += '\r\n'
    }
    this.sentHead = head
    return head
  }

  /** The connection ends after this response. */
  get closesConnection(): boolean {
    return this.closeAfter
  }

  /** The app failed while handling this exchange. */
  fail(error: unknown): void {
    this.owner.appFailed(this, error)
  }

  /** The connection will close after this response (server shutting down, say). */
  closeConnection(): void {
    this.closeAfter = true
    // An interface that writes its own head says so in it, if the head has yet to go out.
    if (this.external !== null) this.external.closing()
  }

  /** True when no byte of this response has gone out: the status can still be replaced. */
  get replaceable(): boolean {
    return this.external === null ? !this.headFlushed : !this.external.started
  }

  /**
   * The interface that wrote this exchange's output itself has finished it (`close`: the
   * connection ends after it).
   */
  completeExternally(close: boolean): void {
    // Defensive: the server takes an exchange back (ExternalOutput.abandon) before it ends it.
    /* c8 ignore next */
    if (this.ended) return
    if (close) this.closeAfter = true
    this.ended = true
    this.owner.finish(this)
  }

  /** True when this exchange is first in line. */
  get isFirst(): boolean {
    return this.owner.isFirst(this)
  }

  /** Output of an interface that writes as the socket would (see ResponseOwner.write). */
  writeExternal(data: string | Uint8Array, callback: WriteCallback | null): boolean {
    return this.owner.write(this, data, callback)
  }

  /** The server takes the exchange back from the interface writing it (see ExternalOutput). */
  private takeBack(): void {
    const external = this.external
    if (external !== null) {
      this.external = null
      external.abandon()
    }
  }

  /** Drops whatever the app set, so an error response can take this one's place. */
  reset(status: number): void {
    this.takeBack()
    this.statusCode = status
    this.statusMessage = undefined
    this.names = []
    this.keys = []
    this.values = []
    this.headLatin1 = false
    this.headWritten = false
  }

  /** The client went away: nothing more will be sent. */
  destroy(): void {
    // Again: an exchange that failed while waiting its turn, dropped when the connection closes.
    /* c8 ignore next */
    if (this._destroyed) return
    this._destroyed = true
    this.takeBack()
    const callbacks = this.writeCallbacks
    if (callbacks !== null) {
      this.writeCallbacks = null
      for (const callback of callbacks) process.nextTick(callback, destroyedError())
    }
    if (!this.ended && this.listeners !== null) this.emit('close')
  }

  // --- Events: 'drain', 'finish', 'close' (a light emitter: most responses have no listener) --

  on(event: string, listener: Listener): this {
    const listeners = this.listeners ?? (this.listeners = Object.create(null) as Record<string, Listener[]>)
    ;(listeners[event] ??= []).push(listener)
    return this
  }

  addListener(event: string, listener: Listener): this {
    return this.on(event, listener)
  }

  once(event: string, listener: Listener): this {
    const wrapper: Listener = (...args) => {
      this.off(event, wrapper)
      listener(...args)
    }
    return this.on(event, wrapper)
  }

  off(event: string, listener: Listener): this {
    const list = this.listeners?.[event]
    if (list !== undefined) {
      const i = list.indexOf(listener)
      if (i !== -1) list.splice(i, 1)
    }
    return this
  }

  removeListener(event: string, listener: Listener): this {
    return this.off(event, listener)
  }

  emit(event: string, ...args: unknown[]): boolean {
    const list = this.listeners?.[event]
    if (list === undefined || list.length === 0) return false
    for (const listener of list.slice()) listener(...args)
    return true
  }
}
