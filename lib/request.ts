// The request an app sees: lazy views over the parser's head (nothing is decoded until asked
// for) and a body that is buffered or streamed as the app chooses.
import type { Socket } from 'node:net'
import type { RequestHead } from './http/head.js'
import type { Response } from './response.js'
import type { Forwarded } from './proxy.js'

/** Header fields as node:http builds them (`set-cookie` always a list). */
export interface RequestHeaders {
  [name: string]: string | string[] | undefined
  'set-cookie'?: string[]
}

/** What a Request needs from its connection (implemented by Connection). */
export interface RequestOwner {
  readonly socket: Socket
  /** The peer's address and port: a PROXY protocol header's, else the socket's. */
  readonly peerAddress: string | undefined
  readonly peerPort: number | undefined
  /** The peer is a PROXY protocol header's client, not the socket's own. */
  readonly viaProxyProtocol: boolean
  /** What a trusted proxy says in `head`; null when the peer is not trusted or says nothing. */
  forwardedOf(head: RequestHead): Forwarded | null
  /** The app has started to read the body: time to send `100 Continue` if it was asked for. */
  bodyWanted(req: Request): void
  /** Buffered body bytes fell below the high-water mark: reading may go on. */
  bodyDrained(req: Request): void
}

// Body buffered beyond this, unread by a streaming consumer, pauses the socket.
export const BODY_HIGH_WATER = 64 * 1024

const enum BodyMode {
  /** Nobody has asked for the body yet: it is buffered (up to the high-water mark). */
  Unread,
  /** body()/text()/json(): everything is gathered. */
  Collect,
  /** for await: pieces are handed over as they come. */
  Stream,
  /** The exchange is over: whatever still arrives is dropped. */
  Discard,
}

type Waiter = (error: Error | null) => void

const EMPTY = Buffer.alloc(0)

// Fields node:http keeps once: a repeat is dropped, the first value stays.
const SINGLE = new Set([
  'content-type', 'content-length', 'user-agent', 'referer', 'host', 'authorization', 'proxy-authorization',
  'if-modified-since', 'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag',
  'last-modified', 'server', 'age', 'expires',
])

/**
 * Adds one field to `headers` as node:http's IncomingMessage does: set-cookie gathers an array,
 * cookie joins with `; `, the SINGLE fields keep their first value, any other joins with `, `.
 */
function addField(headers: RequestHeaders, name: string, value: string): void {
  const previous = headers[name]
  // Only a string is a previous value: `constructor` and its kin are Object.prototype's.
  if (typeof previous === 'string') {
    if (name === 'cookie') headers[name] = `${previous}; ${value}`
    else if (!SINGLE.has(name)) headers[name] = `${previous}, ${value}`
  } else if (name === 'set-cookie') {
    if (previous === undefined) headers[name] = [value]
    else (previous as string[]).push(value)
  } else {
    headers[name] = value
  }
}

function discardedError(): Error {
  return new Error('The request body was dropped: the response ended before it was read')
}

export class Request {
  readonly method: string
  readonly url: string
  readonly httpVersion: string
  /** Set by the connection: the head this request was parsed from. */
  readonly head: RequestHead
  private readonly owner: RequestOwner
  /** The response of the same exchange (set by the connection right after both are made). */
  response: Response | null
  private _headers: RequestHeaders | null
  private _rawHeaders: string[] | null
  private _split: number
  private chunks: Buffer[]
  private buffered: number
  /** All of the body has arrived. */
  complete: boolean
  private mode: BodyMode
  private collected: Buffer | null
  private waiter: Waiter | null
  private controller: AbortController | null
  private abortError: Error | null
  /** undefined until first asked for (most requests never are). */
  private _forwarded: Forwarded | null | undefined

  constructor(owner: RequestOwner, head: RequestHead) {
    this.owner = owner
    this.response = null
    this.head = head
    this.method = head.method
    this.url = head.url
    this.httpVersion = head.versionMinor === 1 ? '1.1' : '1.0'
    this._headers = null
    this._rawHeaders = null
    this._split = -2
    this.chunks = []
    this.buffered = 0
    this.complete = false
    this.mode = BodyMode.Unread
    this.collected = null
    this.waiter = null
    this.controller = null
    this.abortError = null
    this._forwarded = undefined
  }

  // --- Target ---------------------------------------------------------------------------------

  /** Index of the first `?` in the path part of the target, or -1. */
  private splitAt(): number {
    if (this._split === -2) this._split = this.url.indexOf('?')
    return this._split
  }

  /** The path of the target, before the first `?` (not decoded). Absolute-form loses its origin. */
  get path(): string {
    const q = this.splitAt()
    const url = this.url
    let path = q === -1 ? url : url.slice(0, q)
    if (path.charCodeAt(0) !== 47 && path !== '*') {
      // absolute-form: scheme://authority/path
      const slash = path.indexOf('/', path.indexOf('//') + 2)
      path = slash === -1 ? '/' : path.slice(slash)
    }
    return path
  }

  /** The query after the first `?` ('' when there is none), not decoded. */
  get query(): string {
    const q = this.splitAt()
    return q === -1 ? '' : this.url.slice(q + 1)
  }

  // --- Headers --------------------------------------------------------------------------------

  /**
   * Header fields by lower-case name, built on first access as node:http builds them: a plain
   * object; set-cookie an array; repeated cookie lines joined with `; `; a repeated single-valued
   * field (content-type, host, authorization...) keeps its first value; other repeats join with `, `.
   */
  get headers(): RequestHeaders {
    if (this._headers !== null) return this._headers
    const headers: RequestHeaders = {}
    const head = this.head
    for (let i = 0, n = head.fieldCount; i < n; i++) addField(headers, head.name(i).toLowerCase(), head.value(i))
    this._headers = headers
    return headers
  }

  /** As node:http's: an app or a middleware may replace the headers object. */
  set headers(headers: RequestHeaders) {
    this._headers = headers
  }

  /** `[name, value, name, value, ...]` as received. */
  get rawHeaders(): string[] {
    if (this._rawHeaders !== null) return this._rawHeaders
    const head = this.head
    const raw: string[] = []
    for (let i = 0, n = head.fieldCount; i < n; i++) raw.push(head.name(i), head.value(i))
    this._rawHeaders = raw
    return raw
  }

  /**
   * A header's value by case-insensitive name, what `headers[name]` gives (an array for
   * set-cookie), without building `headers`.
   */
  header(name: 'set-cookie' | 'Set-Cookie'): string[] | undefined
  header(name: string): string | undefined
  header(name: string): string | string[] | undefined {
    const lower = name.toLowerCase()
    const built = this._headers
    if (built !== null) return Object.hasOwn(built, lower) ? built[lower] : undefined
    const head = this.head
    let i = head.find(lower)
    if (i === -1) return undefined
    if (lower === 'set-cookie') {
      const all = [head.value(i)]
      while ((i = head.find(lower, i + 1)) !== -1) all.push(head.value(i))
      return all
    }
    let value = head.value(i)
    if (SINGLE.has(lower)) return value
    const separator = lower === 'cookie' ? '; ' : ', '
    while ((i = head.find(lower, i + 1)) !== -1) value += separator + head.value(i)
    return value
  }

  /** The connection's socket (for its address, or to take over after an upgrade). */
  get socket(): Socket {
    return this.owner.socket
  }

  /**
   * True when the connection is TLS (the server's `tls` option): the request came as `https:`.
   * With TLS, `socket` is the node:tls TLSSocket (getPeerCertificate(), authorized...).
   */
  get secure(): boolean {
    return (this.owner.socket as Socket & { encrypted?: boolean }).encrypted === true
  }

  /**
   * What a trusted proxy (forwardedAllowIps) said about the client in X-Forwarded-For, -Proto,
   * -Host or Forwarded; null when the peer is not trusted or sent none of them. Read lazily.
   */
  get forwarded(): Forwarded | null {
    if (this._forwarded === undefined) this._forwarded = this.owner.forwardedOf(this.head)
    return this._forwarded
  }

  /** The client as a trusted proxy gave it, else the peer (a PROXY header's, else the socket's). */
  get remoteAddress(): string | undefined {
    const forwarded = this.forwarded
    return forwarded !== null && forwarded.address !== undefined ? forwarded.address : this.owner.peerAddress
  }

  /** Goes with remoteAddress: undefined when a proxy gave the client's address without its port. */
  get remotePort(): number | undefined {
    const forwarded = this.forwarded
    return forwarded !== null && forwarded.address !== undefined ? forwarded.port : this.owner.peerPort
  }

  /** `IPv4` or `IPv6` (an IPv4-mapped address is IPv6, as sockets say), for remoteAddress. */
  get remoteFamily(): string | undefined {
    const address = this.remoteAddress
    return address === undefined ? undefined : address.includes(':') ? 'IPv6' : 'IPv4'
  }

  /** The client's address, port or scheme is not the socket's own (a proxy said so). */
  get proxied(): boolean {
    return this.owner.viaProxyProtocol || this.forwarded !== null
  }

  /** Fires when the client goes away before the exchange is over. */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController()
      if (this.abortError !== null) this.controller.abort(this.abortError)
    }
    return this.controller.signal
  }

  /** True once the client went away before the exchange was over. */
  get aborted(): boolean {
    return this.abortError !== null
  }

  /** Why the exchange was cut short (what `req.signal` aborted with), or null. */
  get abortReason(): Error | null {
    return this.abortError
  }

  /** Body bytes received and not yet handed to the app. */
  get bufferedBytes(): number {
    return this.buffered
  }

  // --- Body -----------------------------------------------------------------------------------

  /** The whole body: a view of the received bytes when it came in one piece. */
  body(): Promise<Buffer> {
    if (this.collected !== null) return Promise.resolve(this.collected)
    if (this.mode === BodyMode.Stream) return Promise.reject(new Error('The body is being read as a stream'))
    if (this.mode === BodyMode.Discard) return Promise.reject(discardedError())
    if (this.complete) return Promise.resolve(this.gather())
    if (this.abortError !== null) return Promise.reject(this.abortError)
    this.mode = BodyMode.Collect
    this.owner.bodyWanted(this)
    if (this.buffered > 0) this.owner.bodyDrained(this)
    return new Promise<Buffer>((resolve, reject) => {
      this.waiter = (error) => (error === null ? resolve(this.gather()) : reject(error))
    })
  }

  /**
   * The whole body at once, without a promise, when it has all arrived and nobody reads it
   * piece by piece (the common case of a body read whole before the app was called); else null.
   */
  bodyNow(): Buffer | null {
    if (this.collected !== null) return this.collected
    if (!this.complete || this.mode === BodyMode.Stream || this.mode === BodyMode.Discard) return null
    return this.gather()
  }

  /** The body decoded as UTF-8. */
  async text(): Promise<string> {
    const body = await this.body()
    return body.toString('utf8')
  }

  /** The body parsed as JSON. */
  async json(): Promise<unknown> {
    return JSON.parse(await this.text())
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.mode === BodyMode.Collect || this.collected !== null) throw new Error('The body is being read whole')
    if (this.mode === BodyMode.Discard) throw discardedError()
    if (this.mode !== BodyMode.Stream) {
      this.mode = BodyMode.Stream
      this.owner.bodyWanted(this)
    }
    return this
  }

  /** The async iterator's step: the next piece of the body. */
  next(): Promise<IteratorResult<Buffer>> {
    if (this.chunks.length > 0) {
      const chunk = this.chunks.shift() as Buffer
      const wasFull = this.buffered > BODY_HIGH_WATER
      this.buffered -= chunk.length
      if (wasFull && this.buffered <= BODY_HIGH_WATER) this.owner.bodyDrained(this)
      return Promise.resolve({ value: chunk, done: false })
    }
    if (this.complete) return Promise.resolve({ value: undefined, done: true })
    if (this.abortError !== null) return Promise.reject(this.abortError)
    return new Promise((resolve, reject) => {
      this.waiter = (error) => (error === null ? resolve(this.next()) : reject(error))
    })
  }

  /** Joins what was buffered into the one Buffer body() resolves with. */
  private gather(): Buffer {
    const chunks = this.chunks
    const body = chunks.length === 1 ? chunks[0] : chunks.length === 0 ? EMPTY : Buffer.concat(chunks, this.buffered)
    this.chunks = []
    this.buffered = 0
    this.collected = body
    return body
  }

  // --- Fed by the connection ------------------------------------------------------------------

  /** A piece of the body arrived. Returns false when reading should pause. */
  push(chunk: Buffer): boolean {
    if (this.mode === BodyMode.Discard) return true
    this.chunks.push(chunk)
    this.buffered += chunk.length
    if (this.waiter !== null && this.mode === BodyMode.Stream) this.wake(null)
    return this.mode === BodyMode.Collect || this.buffered <= BODY_HIGH_WATER
  }

  /** The body is complete. */
  end(): void {
    this.complete = true
    if (this.waiter !== null) this.wake(null)
  }

  /** The exchange is over: drop what is buffered and whatever still arrives. */
  discard(): void {
    if (this.mode === BodyMode.Collect && !this.complete) return
    this.mode = BodyMode.Discard
    this.chunks = []
    this.buffered = 0
  }

  /** The client went away: fail readers and fire the signal. */
  abort(error: Error): void {
    if (this.abortError !== null) return
    this.abortError = error
    if (this.controller !== null) this.controller.abort(error)
    if (this.waiter !== null && !this.complete) this.wake(error)
  }

  private wake(error: Error | null): void {
    const waiter = this.waiter as Waiter
    this.waiter = null
    waiter(error)
  }
}
