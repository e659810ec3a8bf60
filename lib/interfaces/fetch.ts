// The fetch interface: an app is a web-standard handler, `(request) => Response`, given a
// `Request` built lazily from Pegasus's parsed head and body, and its `Response` is written by
// Pegasus's own writer (no node:http, no undici objects the app does not touch).
import { Readable } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import type { Request as EngineRequest } from '../request.js'
import type { Response as EngineResponse } from '../response.js'
import { RealResponse, recordedOf } from './light-response.js'
import { answerRecordSymbols, answerTheRest } from './stand-in.js'

/** What a fetch handler gets besides the request: the client's address (Bun's and Deno's shapes). */
export interface FetchInfo {
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  /** Deno's `info.remoteAddr`. */
  readonly remoteAddr: { hostname: string | undefined; port: number | undefined; transport: 'tcp' }
  /** Bun's `server.requestIP(request)` (what Hono's `getConnInfo` from `hono/bun` calls). */
  requestIP(request?: Request): { address: string | undefined; port: number | undefined; family: string | undefined } | null
  /**
   * The connection's TLS socket when it came over TLS (the server's `tls` option), else null:
   * `getPeerCertificate()`, `authorized`, `getProtocol()`, `getCipher()`...
   */
  readonly tlsSocket: TLSSocket | null
}

export type FetchHandler = (request: Request, info: FetchInfo) => Response | Promise<Response>

const kEngine = Symbol('pegasus.request')
const kScheme = Symbol('pegasus.scheme')
const kUrl = Symbol('pegasus.url')
const kState = Symbol('pegasus.state')
const EMPTY = new Uint8Array(0)
// Methods the Fetch standard normalises to upper case, whatever case they came in.
const NORMALISED = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'])

/** What few handlers use (headers, body, undici copies): made the first time one of them is. */
interface State {
  headers: Headers | null
  body: ReadableStream<Uint8Array> | null
  used: boolean
  /** A real Request with this one's method, URL and headers, for the members read through it. */
  shape: Request | null
  /** The whole request as a real Request (undici's record of it, on Node.js 20). */
  real: Request | null
}

/** The body is read, or being read: a second read fails as undici's does. */
function unusable(): TypeError {
  return new TypeError('Body is unusable: Body has already been read')
}

/**
 * A web `Request` (`instanceof Request`) whose URL, headers and body are made on first use from
 * Pegasus's request. `clone()`, `formData()` and the members no server request needs often are
 * answered by real undici objects made on demand.
 */
class FetchRequest {
  declare [kEngine]: EngineRequest
  declare [kScheme]: string
  declare [kUrl]: string | null
  declare [kState]: State | null

  constructor(engine: EngineRequest, scheme: string) {
    this[kEngine] = engine
    this[kScheme] = scheme
    this[kUrl] = null
    this[kState] = null
  }

  get method(): string {
    const method = this[kEngine].method
    if (method === 'GET' || method === 'POST') return method
    const upper = method.toUpperCase()
    return NORMALISED.has(upper) ? upper : method
  }

  get url(): string {
    return (this[kUrl] ??= urlOf(this[kEngine], this[kScheme]))
  }

  get headers(): Headers {
    const state = stateOf(this)
    if (state.headers !== null) return state.headers
    const head = this[kEngine].head
    const headers = new Headers()
    for (let i = 0, n = head.fieldCount; i < n; i++) headers.append(head.name(i), head.value(i))
    return (state.headers = headers)
  }

  /** Aborts when the client goes away before the exchange is over, and only then. */
  get signal(): AbortSignal {
    return this[kEngine].signal
  }

  get body(): ReadableStream<Uint8Array> | null {
    const state = stateOf(this)
    if (state.body !== null) return state.body
    if (!hasBody(this)) return null
    return (state.body = bodyStream(this[kEngine]))
  }

  get bodyUsed(): boolean {
    const state = this[kState]
    if (state === null) return false
    return state.used || (state.body !== null && Readable.isDisturbed(state.body as never))
  }

  get duplex(): 'half' {
    return 'half'
  }

  async bytes(): Promise<Uint8Array> {
    const state = stateOf(this)
    if (this.bodyUsed || (state.body !== null && state.body.locked)) throw unusable()
    state.used = true
    if (state.body !== null) return new Uint8Array(await new RealResponse(state.body).arrayBuffer())
    if (!hasBody(this)) return EMPTY
    const body = await this[kEngine].body()
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.bytes()
    return bytes.byteLength === bytes.buffer.byteLength
      ? (bytes.buffer as ArrayBuffer)
      : (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
  }

  async text(): Promise<string> {
    return utf8(await this.bytes())
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text())
  }

  async blob(): Promise<Blob> {
    const bytes = await this.bytes()
    return new Blob([bytes as Uint8Array<ArrayBuffer>], { type: this.headers.get('content-type') ?? '' })
  }

  /** multipart/form-data and application/x-www-form-urlencoded, parsed by undici. */
  async formData(): Promise<FormData> {
    const bytes = await this.bytes()
    const type = this.headers.get('content-type')
    return new RealResponse(bytes as Uint8Array<ArrayBuffer>, type === null ? {} : { headers: { 'content-type': type } }).formData()
  }

  /** A real Request with the same method, URL, headers and signal, and a copy of the body. */
  clone(): Request {
    if (this.bodyUsed) throw new TypeError('Request.clone: Body has already been consumed.')
    const state = stateOf(this)
    let body: ReadableStream<Uint8Array> | null = null
    if (hasBody(this)) {
      const [mine, theirs] = (this.body as ReadableStream<Uint8Array>).tee()
      state.body = mine
      body = theirs
    }
    return requestOf(this, body)
  }
}

// The members of undici's Request that FetchRequest does not define (cache, mode, credentials,
// redirect, referrer, integrity, keepalive...) are read from a real, bodiless Request with the
// same method, URL and headers, made the first time one of them is read.
answerTheRest(FetchRequest, Request, shapeOf)

// `new Request(request)` and `fetch(request)` read undici's own record of the request. On
// Node.js 20 (undici 6) that record is reached through symbols, answered here by a real Request
// that takes over the body. From undici 7 (Node.js 22) the record is a private field that no
// other object can have: there `new Request(request)` throws a TypeError, and
// `new Request(request.url, request)` or `request.clone()` do the same job.
answerRecordSymbols(FetchRequest, new Request('http://localhost/'), realOf)

function stateOf(request: FetchRequest): State {
  return (request[kState] ??= { headers: null, body: null, used: false, shape: null, real: null })
}

/** This request as a real Request, with its body (which it takes over) and signal. */
function realOf(request: FetchRequest): Request {
  const state = stateOf(request)
  if (state.real === null) {
    const body = request.body
    if (body !== null) state.used = true
    state.real = requestOf(request, body)
  }
  return state.real
}

/** A real Request with `request`'s method, URL, headers and signal, and `body`. */
function requestOf(request: FetchRequest, body: ReadableStream<Uint8Array> | null): Request {
  return new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body,
    signal: request.signal,
    duplex: 'half',
  } as RequestInit)
}

function shapeOf(request: FetchRequest): Request {
  const state = stateOf(request)
  return (state.shape ??= new Request(request.url, { method: request.method, headers: request.headers }))
}

/** GET and HEAD requests have no body in the Fetch standard, whatever they carry. */
function hasBody(request: FetchRequest): boolean {
  const method = request.method
  if (method === 'GET' || method === 'HEAD') return false
  const head = request[kEngine].head
  return head.chunked || head.contentLength > 0
}

/**
 * The absolute URL: the scheme, the Host field (else the server's address) and the target; a
 * trusted proxy's forwarded scheme and host win over the connection's own.
 */
function urlOf(engine: EngineRequest, scheme: string): string {
  const target = engine.url
  // absolute-form carries its own origin.
  if (target.charCodeAt(0) !== 47 && target !== '*') return target
  const forwarded = engine.forwarded
  let host: string | undefined
  if (forwarded !== null) {
    if (forwarded.proto !== undefined) scheme = forwarded.proto
    host = forwarded.host
  }
  host ??= engine.header('host')
  let authority: string
  if (host !== undefined && host !== '') authority = host
  else {
    const socket = engine.socket
    const address = socket.localAddress
    // A unix socket has no address to name.
    if (address === undefined) authority = 'localhost'
    else authority = `${address.includes(':') ? `[${address}]` : address}:${socket.localPort}`
  }
  return `${scheme}://${authority}${target === '*' ? '/*' : target}`
}

function utf8(bytes: Uint8Array): string {
  // As TextDecoder (and so Response.text()): a leading byte order mark is not part of the text.
  const start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, bytes.byteLength - start).toString('utf8')
}

/** The body as a byte stream, read from the engine as the reader pulls. */
function bodyStream(engine: EngineRequest): ReadableStream<Uint8Array> {
  const whole = engine.bodyNow()
  if (whole !== null) {
    return new ReadableStream<Uint8Array>({
      start(controller) {
        if (whole.byteLength > 0) controller.enqueue(new Uint8Array(whole.buffer, whole.byteOffset, whole.byteLength))
        controller.close()
      },
    })
  }
  let iterator: AsyncIterator<Buffer> | null = null
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      iterator ??= engine[Symbol.asyncIterator]()
      const { value, done } = await iterator.next()
      if (done === true) controller.close()
      else controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
    },
  })
}

/** What a handler returned, in a few words, for the ERROR line. */
function describe(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (value === null) return 'null'
  if (typeof value === 'string') return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)})`
  if (typeof value !== 'object') return `a ${typeof value} (${String(value)})`
  const name = (value as { constructor?: { name?: string } }).constructor?.name
  return name !== undefined && name !== 'Object' ? `a ${name}` : 'an object'
}

/** A Response, or something from another realm or library that looks like one. */
function isResponse(value: unknown): value is Response {
  if (value instanceof RealResponse) return true
  if (typeof value !== 'object' || value === null) return false
  const r = value as { status?: unknown; headers?: { get?: unknown }; body?: unknown }
  return typeof r.status === 'number' && typeof r.headers?.get === 'function' && 'body' in r
}

class ClientInfo implements FetchInfo {
  private readonly engine: EngineRequest
  constructor(engine: EngineRequest) {
    this.engine = engine
  }
  get remoteAddress(): string | undefined {
    return this.engine.remoteAddress
  }
  get remotePort(): number | undefined {
    return this.engine.remotePort
  }
  get remoteAddr(): FetchInfo['remoteAddr'] {
    return { hostname: this.engine.remoteAddress, port: this.engine.remotePort, transport: 'tcp' }
  }
  get tlsSocket(): TLSSocket | null {
    const engine = this.engine
    return engine.secure ? (engine.socket as TLSSocket) : null
  }
  requestIP(): ReturnType<FetchInfo['requestIP']> {
    const engine = this.engine
    return { address: engine.remoteAddress, port: engine.remotePort, family: engine.remoteFamily }
  }
}

/** Calls a fetch handler for the engine's exchange and writes its Response; errors go to `onError`. */
export function invokeFetch(
  handler: FetchHandler,
  res: EngineResponse,
  scheme: string,
  onError: (res: EngineResponse, error: unknown) => void,
): void {
  const engine = res.req
  let result: unknown
  try {
    result = handler(new FetchRequest(engine, scheme) as unknown as Request, new ClientInfo(engine))
  } catch (error) {
    onError(res, error)
    return
  }
  // An async handler's promise (the usual answer) is told apart first: it is no Response.
  if (!(result instanceof Promise) && isResponse(result)) respond(res, result, onError)
  else if (isThenable(result)) settle(res, result, onError)
  else onError(res, notAResponse(result, 'returned'))
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  if (value instanceof Promise) return true
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function'
}

/** Writes the Response `promise` resolves with; failures go to `onError`. */
function settle(
  res: EngineResponse,
  promise: PromiseLike<unknown>,
  onError: (res: EngineResponse, error: unknown) => void,
): void {
  promise.then(
    (response) => {
      if (isResponse(response)) respond(res, response, onError)
      else onError(res, notAResponse(response, 'resolved with'))
    },
    (error: unknown) => onError(res, error),
  )
}

function notAResponse(value: unknown, verb: string): TypeError {
  return new TypeError(`The fetch handler ${verb} ${describe(value)} instead of a Response`)
}

/** Writes `response`: at once when its body is whole, else as it comes; failures go to `onError`. */
function respond(res: EngineResponse, response: Response, onError: (res: EngineResponse, error: unknown) => void): void {
  let pending: Promise<void> | null
  try {
    pending = write(res, response)
  } catch (error) {
    onError(res, error)
    return
  }
  if (pending !== null) pending.then(undefined, (error: unknown) => onError(res, error))
}

// undici's own record of a Response on Node.js 20 (a symbol there; a private field from undici 7
// on, where the public members are read instead): status, fields and the body's source. Any
// other Response (a subclass, a lookalike, any on later Node.js) is read through its members,
// and a body that is whole at once still goes out in one write (pipe() below).
const kResponseState = Object.getOwnPropertySymbols(new RealResponse('')).find((s) => s.description === 'state')
/** The record's fields: a Map of lower-case names to `{ name, value }`, set-cookie also a list. */
const kFieldMap = kResponseState === undefined ? undefined : fieldMapSymbol(kResponseState)
// Node.js's own record of a web stream: `reader` is set while the stream is locked. Read instead
// of `locked` on Node.js 20, where each stream has a shape of its own (its getters are slow to
// reach); used only if it is seen to behave so.
const kStreamState = kFieldMap === undefined ? undefined : streamStateSymbol()

function fieldMapSymbol(state: symbol): symbol | undefined {
  const list = (new RealResponse('') as unknown as Record<symbol, ResponseState>)[state].headersList as object
  const symbol = Object.getOwnPropertySymbols(list).find((s) => s.description === 'headers map')
  return symbol !== undefined && (list as Record<symbol, unknown>)[symbol] instanceof Map ? symbol : undefined
}

function streamStateSymbol(): symbol | undefined {
  const stream = new ReadableStream()
  const symbol = Object.getOwnPropertySymbols(stream).find((s) => s.description === 'kState')
  const state = symbol === undefined ? undefined : (stream as unknown as Record<symbol, unknown>)[symbol]
  const unlocked = typeof state === 'object' && state !== null && 'reader' in state && state.reader === undefined
  stream.getReader()
  return unlocked && (state as { reader: unknown }).reader !== undefined ? symbol : undefined
}

const NOT_YET = Symbol('not yet')
type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>

interface ResponseState {
  status: number
  statusText: string
  headersList: FieldList
  body: { stream: ReadableStream<Uint8Array>; source: unknown } | null | undefined
}
interface FieldList {
  cookies: string[] | null
  [key: symbol]: Map<string, { value: string }>
}

/**
 * Writes status, fields and body; returns a promise when the body is not written at once (a
 * stream, a cancelled body), else null.
 */
function write(res: EngineResponse, response: Response): Promise<void> | null {
  if (res.destroyed || res.writableEnded) return response.body?.cancel() ?? null
  // A LightResponse as it was made (lib/interfaces/light-response.ts): its record, as it is.
  const record = recordedOf(response)
  if (record !== null) {
    res.statusCode = record.status
    const fields = record.fields
    for (let i = 0; i < fields.length; i += 2) res.setHeader(fields[i], fields[i + 1])
    if (record.body === null) res.end()
    else if (res.req.method === 'HEAD') {
      res.write(EMPTY)
      res.end()
    } else res.end(record.body)
    return null
  }
  // A Response made by `new Response()` on Node.js 20: undici's record, read without its getters.
  if (kFieldMap !== undefined && Object.getPrototypeOf(response) === RealResponse.prototype) {
    const state = (response as unknown as Record<symbol, ResponseState>)[kResponseState as symbol]
    res.statusCode = state.status
    if (state.statusText !== '') res.statusMessage = state.statusText
    setFields(res, state.headersList)
    const body = state.body
    // (No body: undefined, null in some of undici's own Responses.)
    if (body == null) {
      res.end()
      return null
    }
    if (res.req.method === 'HEAD') return cancelBody(res, body.stream)
    const source = body.source
    // A string, bytes or Response.json() body, still unread: one write.
    if ((typeof source === 'string' || source instanceof Uint8Array) && !locked(body.stream)) {
      res.end(source)
      return null
    }
    return stream(res, body.stream)
  }
  // The body first: a lazy Response (srvx's, which h3 returns on Node.js) makes its real one
  // then, and only that one's headers have the Content-Type its body implies.
  const body = response.body
  res.statusCode = response.status
  const reason = response.statusText
  if (reason !== '' && reason !== undefined) res.statusMessage = reason
  let cookies: string[] | null = null
  for (const [name, value] of response.headers) {
    if (name === 'set-cookie') (cookies ??= []).push(value)
    else res.setHeader(name, value)
  }
  if (cookies !== null) res.setHeader('set-cookie', cookies)
  if (body === null) {
    res.end()
    return null
  }
  if (res.req.method === 'HEAD') return cancelBody(res, body)
  return stream(res, body)
}

function locked(stream: ReadableStream): boolean {
  if (kStreamState === undefined) return stream.locked
  return (stream as unknown as Record<symbol, { reader: unknown }>)[kStreamState].reader !== undefined
}

/**
 * The fields of undici's record as the Headers iterator gives them: sorted by name, each
 * set-cookie value apart (they go last, as one list).
 */
function setFields(res: EngineResponse, list: FieldList): void {
  const map = list[kFieldMap as symbol]
  const size = map.size
  if (size === 0) return
  if (size === 1) {
    const name = map.keys().next().value as string
    if (name !== 'set-cookie') res.setHeader(name, (map.get(name) as { value: string }).value)
  } else {
    const names = Array.from(map.keys()).sort()
    for (let i = 0; i < names.length; i++) {
      const name = names[i]
      if (name !== 'set-cookie') res.setHeader(name, (map.get(name) as { value: string }).value)
    }
  }
  const cookies = list.cookies
  if (cookies !== null && cookies.length > 0) res.setHeader('set-cookie', cookies.slice())
}

/** HEAD: no body goes out; the stream is cancelled (its source may stop producing). */
async function cancelBody(res: EngineResponse, body: ReadableStream<Uint8Array>): Promise<void> {
  await body.cancel()
  res.write(EMPTY)
  res.end()
}

async function stream(res: EngineResponse, body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader()
  try {
    await pipe(res, reader)
  } finally {
    reader.releaseLock()
  }
}

async function pipe(res: EngineResponse, reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  // A body made of one piece (a string, bytes, a finished stream) is done within a few
  // microtasks: it goes out whole, with a Content-Length. Anything slower streams, each piece
  // written at once (Server-Sent Events arrive event by event); a stream with nothing to give
  // yet gets its head out at once.
  const reading = reader.read()
  let first = await soon(reading)
  if (first === NOT_YET) {
    res.write(EMPTY)
    first = await reading
  }
  if (first.done === true) {
    res.end()
    return
  }
  let chunk = chunkOf(first.value)
  let next = reader.read()
  if (!res.headersSent) {
    const second = await soon(next)
    if (second !== NOT_YET && second.done === true) {
      res.end(chunk)
      return
    }
  }
  for (;;) {
    if (res.destroyed) {
      await reader.cancel()
      return
    }
    if (!res.write(chunk)) await drained(res)
    const result = await next
    if (result.done === true) break
    chunk = chunkOf(result.value)
    next = reader.read()
  }
  if (!res.destroyed) res.end()
}

/** What `promise` gives if it settles within a few microtasks, else NOT_YET. */
async function soon<T>(promise: Promise<T>): Promise<T | typeof NOT_YET> {
  let settled: { value: T } | { error: unknown } | null = null
  promise.then(
    (value) => (settled = { value }),
    (error: unknown) => (settled = { error }),
  )
  for (let i = 0; i < 4 && settled === null; i++) await null
  if (settled === null) return NOT_YET
  const outcome = settled as { value: T } | { error: unknown }
  // (A stream that fails at once fails before the head goes: the answer is still a 500.)
  if ('error' in outcome) throw outcome.error
  return outcome.value
}

function chunkOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value
  throw new TypeError(`The Response body stream gave ${describe(value)}, not a Uint8Array`)
}

/** Resolves when the response may be written again ('drain'), or is gone ('close'). */
function drained(res: EngineResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}
