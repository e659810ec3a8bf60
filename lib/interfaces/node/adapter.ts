// The node interface: an app is node:http's `(req, res)` handler, given a real
// http.IncomingMessage and http.ServerResponse. The request is fed by Pegasus's parser (head from
// its zero-copy slices, built on first read; body from the engine's request); the response is
// node's own ServerResponse, so status, headers and framing are exactly node's. It writes the
// socket itself, in its turn: the connection hands it the socket when its exchange comes first in
// line, as node:http does for pipelined responses.
import http from 'node:http'
import type { Socket } from 'node:net'
import type { Request } from '../../request.js'
import type { ExternalOutput, Response, WriteCallback } from '../../response.js'

export type NodeApp = (req: http.IncomingMessage, res: http.ServerResponse) => unknown

/**
 * What the adapter needs of the server: its keep-alive timeout, for node's Keep-Alive header;
 * whether to count body bytes (an access log that shows them).
 */
export interface NodeOptions {
  keepAliveTimeout: number
  countBytes?: boolean
}

/** node's own error for a connection cut under a request (`code: 'ECONNRESET'`, message 'aborted'). */
function aborted(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' })
}

// node's writable-side symbol that says a 'drain' is owed (http.OutgoingMessage keeps it private).
let kNeedDrain: symbol | undefined
// How many rawHeaders entries node's `headers` getter reads (set by node's parser, private too).
let kHeadersCount: symbol | undefined

function symbolOf(object: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(object).find((s) => s.description === description)
}

// Express re-prototypes req and res onto its own objects (which inherit from node's), so what
// Pegasus adds to them lives on the instances, never on a subclass's prototype.
const kEngine = Symbol('pegasus.request')
const kPumping = Symbol('pegasus.pumping')
const kWake = Symbol('pegasus.wake')
const kByServer = Symbol('pegasus.byServer')

/** An IncomingMessage fed by Pegasus (see incomingMessage). */
interface Fed extends http.IncomingMessage {
  [kEngine]: Request
  [kPumping]: boolean
  /** Resumes the body's pump once the reader wants more. */
  [kWake]: (() => void) | null
  /** The server, not the app, is destroying the request. */
  [kByServer]: boolean
}

/**
 * An http.IncomingMessage whose head comes from Pegasus's parser and whose body is read from
 * the engine's request at the pace the reader takes it.
 */
export function incomingMessage(socket: Socket, engine: Request): http.IncomingMessage {
  const req = new http.IncomingMessage(engine.proxied ? clientSocket(socket, engine) : socket) as Fed
  const head = engine.head
  req.method = engine.method
  req.url = engine.url
  req.httpVersionMajor = 1
  req.httpVersionMinor = head.versionMinor
  req.httpVersion = engine.httpVersion
  req.rawHeaders = engine.rawHeaders
  kHeadersCount ??= symbolOf(req, 'kHeadersCount')
  if (kHeadersCount !== undefined) (req as unknown as Record<symbol, number>)[kHeadersCount] = head.fieldCount * 2
  req[kEngine] = engine
  req[kPumping] = false
  req[kWake] = null
  req[kByServer] = false
  req._read = readBody
  req._destroy = destroyRequest
  if (!head.chunked && head.contentLength <= 0) {
    // No body: complete at once, as node's parser reports it.
    req.complete = true
    req.push(null)
  }
  return req
}

/**
 * Behind a trusted proxy (or a PROXY header) the request's `socket` is a view of the connection's
 * socket that answers the client's address, port, family and (for a forwarded scheme)
 * `encrypted`, what Express's req.ip and req.protocol read. A view per request, because one
 * keep-alive connection from a proxy carries requests of different clients; everything else is
 * the socket's own (reads, writes, listeners and methods reach the socket itself).
 */
function clientSocket(socket: Socket, engine: Request): Socket {
  return new Proxy(socket, new ClientSocket(engine))
}

class ClientSocket implements ProxyHandler<Socket> {
  private readonly engine: Request
  constructor(engine: Request) {
    this.engine = engine
  }

  get(socket: Socket, name: string | symbol): unknown {
    const engine = this.engine
    if (name === 'remoteAddress') return engine.remoteAddress
    if (name === 'remotePort') return engine.remotePort
    if (name === 'remoteFamily') return engine.remoteFamily
    if (name === 'encrypted') {
      const proto = engine.forwarded?.proto
      if (proto !== undefined) return proto === 'https'
    }
    // Getters run on the socket itself; methods are called on the view, whose writes land on
    // the socket (the handler has no `set`).
    return Reflect.get(socket, name, socket)
  }
}

function readBody(this: Fed): void {
  // As node's own _read: the app has started reading (node:http dumps the rest otherwise).
  ;(this as unknown as { _consuming: boolean })._consuming = true
  const wake = this[kWake]
  if (wake !== null) {
    this[kWake] = null
    wake()
    return
  }
  if (this[kPumping] || this.complete) return
  this[kPumping] = true
  const engine = this[kEngine]
  // The body is all here (read whole before the app was called): hand it over at once.
  const whole = engine.aborted ? null : engine.bodyNow()
  if (whole !== null) finishBody(this, whole)
  else void pump(this)
}

function finishBody(req: Fed, body: Buffer): void {
  if (body.length > 0) req.push(body)
  req.complete = true
  req.push(null)
}

/** Streams the body from the engine, at the pace the reader takes it. */
async function pump(req: Fed): Promise<void> {
  try {
    const iterator = req[kEngine][Symbol.asyncIterator]()
    for (;;) {
      const { value, done } = await iterator.next()
      if (done === true) {
        req.complete = true
        req.push(null)
        return
      }
      if (!req.push(value)) await new Promise<void>((resolve) => (req[kWake] = resolve))
    }
  } catch {
    bodyFailed(req)
  }
}

function bodyFailed(req: Fed): void {
  if (req[kEngine].aborted) {
    abortRequest(req)
    return
  }
  // Otherwise the body was dropped because the response ended first (the engine's only other
  // failure): node's _dump reads it as the end. It counts as complete (node reads it all), else
  // ending it would abort it and cut the socket.
  req.complete = true
  req.push(null)
}

/** The connection was cut under this request: 'aborted', and the stream ends in an error. */
function abortRequest(req: http.IncomingMessage): void {
  if (req.destroyed) return
  ;(req as Fed)[kByServer] = true
  req.destroy(aborted())
}

function destroyRequest(this: Fed, error: Error | null, callback: (error?: Error | null) => void): void {
  if (!this.readableEnded || !this.complete) {
    this.aborted = true
    this.emit('aborted')
  }
  // An app that destroys its request ends the connection, as with node:http.
  if (!this[kByServer] && this.aborted && !this.socket.destroyed) this.socket.destroy()
  // node emits the error only to a listener (its long-standing behaviour).
  process.nextTick(() => callback(this.listenerCount('error') > 0 ? error : null))
}

// What node's ServerResponse keeps of output it could not write yet, and the two methods through
// which all of its output goes to its socket (http.OutgoingMessage's internals, unchanged since
// Node.js 0.x). The node interface replaces both on each response, so that its bytes join the
// connection's batch (one write a tick, with the responses around it) instead of going through
// node's cork, write and writev of the socket.
type Encoding = BufferEncoding | null | undefined
interface Pending {
  data: string | Uint8Array | null
  encoding: Encoding
  callback: WriteCallback | null
}
interface Outgoing extends http.ServerResponse {
  [kExchange]: NodeExchange
  outputData: Pending[]
  outputSize: number
  _onPendingData(delta: number): void
  _writeRaw(data: string | Uint8Array, encoding: Encoding | WriteCallback, callback?: WriteCallback | null, size?: number): boolean
  _flushOutput(socket: Socket): boolean | undefined
}
const kExchange = Symbol('pegasus.exchange')
const outgoing = http.OutgoingMessage.prototype as unknown as Outgoing
const nodeWriteRaw = outgoing._writeRaw
const nodeFlushOutput = outgoing._flushOutput
// Defensive: present in every Node.js release; without them responses keep node's own writes.
/* c8 ignore next */
const replaceWrites = typeof nodeWriteRaw === 'function' && typeof nodeFlushOutput === 'function'

/** Bytes as the socket would write them: UTF-8 strings stay strings (the batch's form). */
function bytesOf(data: string | Uint8Array, encoding: Encoding): string | Uint8Array {
  if (typeof data !== 'string' || !encoding || encoding === 'utf8' || encoding === 'utf-8' || data.length === 0) return data
  // node writes its own heads and chunk sizes as latin1: ASCII, the same bytes as UTF-8.
  if ((encoding === 'latin1' || encoding === 'binary' || encoding === 'ascii') && !NOT_ASCII.test(data)) return data
  return Buffer.from(data, encoding)
}
const NOT_ASCII = /[^\x00-\x7f]/

/** http.OutgoingMessage's _writeRaw, for a response whose exchange is first in line. */
function writeRaw(
  this: Outgoing,
  data: string | Uint8Array,
  encoding: Encoding | WriteCallback,
  callback?: WriteCallback | null,
  size?: number,
): boolean {
  const socket = this.socket
  // Not its turn, or the socket is gone or ended: node's own (it holds the output, or drops it).
  if (!this[kExchange].assigned || socket === null || socket.destroyed || !socket.writable) {
    return nodeWriteRaw.call(this, data, encoding, callback, size)
  }
  // A head held back (before a Buffer body) goes first.
  if (this.outputData.length > 0) this._flushOutput(socket)
  // (node's own callers always pass an encoding, then the callback.)
  return this[kExchange].engine.writeExternal(bytesOf(data, encoding as Encoding), callback ?? null)
}

/** http.OutgoingMessage's _flushOutput: what was held back joins the batch, in order. */
function flushOutput(this: Outgoing, socket: Socket): boolean | undefined {
  const output = this.outputData
  if (output.length === 0) return undefined
  // (node also corks the socket once for each res.cork() made before it came: one batched
  // write needs no cork.)
  this.outputData = []
  const engine = this[kExchange].engine
  let ok = true
  for (let i = 0; i < output.length; i++) {
    const item = output[i]
    ok = engine.writeExternal(bytesOf(item.data as string | Uint8Array, item.encoding), item.callback)
  }
  this._onPendingData(-this.outputSize)
  this.outputSize = 0
  return ok
}

// The body bytes an app's writes put out, as the access log counts them (node keeps no count):
// ServerResponse's own write and end, counting what they accepted into a body.
const nodeWrite = http.ServerResponse.prototype.write
const nodeEnd = http.ServerResponse.prototype.end

function bodyLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
  return chunk instanceof Uint8Array ? chunk.byteLength : 0
}

/** Counts into the engine's response what node took as body (none for HEAD, 204, 304). */
function count(res: Outgoing, length: number): void {
  if ((res as unknown as { _hasBody: boolean })._hasBody) res[kExchange].engine.bodyBytes += length
}

function countedWrite(this: Outgoing, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
  const open = !this.writableEnded && !this.destroyed
  const ok = (nodeWrite as (...args: unknown[]) => boolean).call(this, chunk, encoding, callback)
  if (open) count(this, bodyLength(chunk, encoding))
  return ok
}

function countedEnd(this: Outgoing, chunk?: unknown, encoding?: unknown, callback?: unknown): Outgoing {
  const open = !this.writableEnded && !this.destroyed
  ;(nodeEnd as (...args: unknown[]) => unknown).call(this, chunk, encoding, callback)
  if (open) count(this, typeof chunk === 'function' ? 0 : bodyLength(chunk, encoding))
  return this
}

/** node's 'finish' on the response: its exchange is complete. */
function responseFinished(this: Outgoing): void {
  this[kExchange].finished()
}

/** Stands for a node response in the connection's line (see ExternalOutput). */
class NodeExchange implements ExternalOutput {
  readonly req: http.IncomingMessage
  readonly res: http.ServerResponse
  readonly engine: Response
  private readonly socket: Socket
  /** The response holds the socket: its turn has come. */
  assigned: boolean
  private abandoned: boolean

  constructor(engine: Response, options: NodeOptions) {
    const socket = engine.req.socket
    this.engine = engine
    this.socket = socket
    this.assigned = false
    this.abandoned = false
    const req = incomingMessage(socket, engine.req)
    const res = new http.ServerResponse(req) as Outgoing
    res.shouldKeepAlive = engine.req.head.keepAlive && !engine.closesConnection
    ;(res as unknown as { _keepAliveTimeout: number })._keepAliveTimeout = options.keepAliveTimeout
    res[kExchange] = this
    if (replaceWrites) {
      res._writeRaw = writeRaw
      res._flushOutput = flushOutput
    }
    if (options.countBytes === true) {
      res.write = countedWrite
      res.end = countedEnd as Outgoing['end']
    }
    this.req = req
    this.res = res
    res.on('finish', responseFinished)
    engine.external = this
    if (engine.isFirst) this.first()
  }

  get started(): boolean {
    return this.res.headersSent
  }

  first(): void {
    // Defensive: the connection calls it once, and never after taking the exchange back.
    /* c8 ignore next */
    if (this.abandoned || this.assigned) return
    this.assigned = true
    this.res.assignSocket(this.socket)
    const socket = this.socket as Socket & { [kTimeouts]?: true }
    if (socket[kTimeouts] === undefined) {
      socket[kTimeouts] = true
      // Unless a node:http-style server (pegasus/http's) already relays them from its accept.
      if (socket.listenerCount('timeout') === 0) socket.on('timeout', relayTimeout)
    }
  }

  // node:http's server emits 'drain' on the response whose turn it is; so does this.
  drained(): void {
    const res = this.res
    if (res.writableNeedDrain && !res.writableEnded) {
      kNeedDrain ??= symbolOf(res, 'kNeedDrain')
      if (kNeedDrain !== undefined) (res as unknown as Record<symbol, boolean>)[kNeedDrain] = false
      res.emit('drain')
    }
  }

  finished(): void {
    // Defensive: a response whose socket was taken back does not finish (its writes fail).
    /* c8 ignore next */
    if (this.abandoned) return
    const res = this.res
    this.let()
    const engine = this.engine
    engine.statusCode = res.statusCode
    // The head node sent, for the access log's response fields.
    engine.sentHead = (res as unknown as { _header: string })._header
    // An unread `100-continue` body may or may not come: the connection closes after this.
    const unread = engine.expectContinue && !engine.req.complete
    engine.completeExternally((res as unknown as { _last: boolean })._last || !res.shouldKeepAlive || unread)
    // As node:http: a request nobody read is read to its end (so it emits 'end' and 'close').
    const req = this.req as http.IncomingMessage & { _consuming: boolean; _dump(): void }
    if (!req._consuming) req._dump()
    process.nextTick(closeResponse, res)
  }

  closing(): void {
    // node's response writes `Connection: close` (and not keep-alive) in a head still to come.
    this.res.shouldKeepAlive = false
  }

  clientEnded(): void {
    // An app still working on its answer hears of it as on node:http ('aborted', 'close'), so it
    // may stop; an answer it still gives is delivered, one it never gives meets the app timeout.
    // A response already streaming goes on: its writes find out whether the client is gone for
    // good (a reset closes the connection, and 'close' follows) or only half-closed.
    if (!this.started) abortRequest(this.req)
  }

  abandon(): void {
    // Defensive: the connection takes an exchange back once.
    /* c8 ignore next */
    if (this.abandoned) return
    this.abandoned = true
    // Its client gone, the response keeps its closed socket, as on node:http (on-finished reads
    // `res.socket.writable`); a server that answers in its place takes the socket back.
    if (!this.socket.destroyed) this.let()
    const res = this.res
    if (!res.writableEnded) {
      // Further writes by the app go nowhere.
      ;(res as { destroyed: boolean }).destroyed = true
      process.nextTick(closeResponse, res)
    }
    // As node:http aborts the requests whose responses are unfinished when their socket goes:
    // 'aborted' (unless read to its end) and 'close', which apps watch to stop their work.
    if (!this.req.complete || !res.writableEnded) abortRequest(this.req)
  }

  /** Takes the socket back from node's response. */
  private let(): void {
    if (!this.assigned) return
    this.assigned = false
    this.res.detachSocket(this.socket)
  }
}

// The socket listens for 'timeout' (req.setTimeout, res.setTimeout) on behalf of its responses.
const kTimeouts = Symbol('pegasus.timeouts')

/**
 * As node:http's server: a socket timeout (set by the app: Pegasus's own timeouts are swept) is
 * 'timeout' on the request (while its body arrives) and on the response in turn; the socket is
 * destroyed when neither listens. Between responses it is nobody's.
 */
function relayTimeout(this: Socket): void {
  const res = (this as Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage
  if (res === null || res === undefined) return
  const req = res.req
  const reqTimeout = !req.complete && req.emit('timeout', this)
  const resTimeout = res.emit('timeout', this)
  if (!reqTimeout && !resTimeout) this.destroy()
}

/** node:http's 'close' after 'finish' (or for a response cut short), once. */
function closeResponse(res: http.ServerResponse): void {
  const state = res as unknown as { _closed: boolean }
  if (state._closed) return
  state._closed = true
  ;(res as { destroyed: boolean }).destroyed = true
  res.emit('close')
}

/** Calls a node:http handler for the engine's exchange; errors go to `onError`. */
export function invokeNode(
  app: NodeApp,
  engine: Response,
  options: NodeOptions,
  onError: (res: Response, error: unknown) => void,
): void {
  const exchange = new NodeExchange(engine, options)
  let result: unknown
  try {
    result = app(exchange.req, exchange.res)
  } catch (error) {
    onError(engine, error)
    return
  }
  if (result !== undefined && result !== null && typeof (result as Promise<unknown>).then === 'function') {
    ;(result as Promise<unknown>).then(undefined, (error: unknown) => onError(engine, error))
  }
}

/** An IncomingMessage for a request whose socket goes to an upgrade handler (no body). */
export function upgradeRequest(engine: Request, socket: Socket): http.IncomingMessage {
  const req = incomingMessage(socket, engine)
  ;(req as unknown as { upgrade: boolean }).upgrade = true
  return req
}
