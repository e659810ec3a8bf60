// The node interface: an app is node:http's `(req, res)` handler, given a real
// http.IncomingMessage and http.ServerResponse. The request is fed by Pegasus's parser (head from
// its zero-copy slices, built on first read; body from the engine's request); the response is
// node's own ServerResponse, so status, headers and framing are exactly node's. It writes the
// socket itself, in its turn: the connection hands it the socket when its exchange comes first in
// line, as node:http does for pipelined responses.
import http from 'node:http'
import type { Socket } from 'node:net'
import type { Request } from '../../request.js'
import type { ExternalOutput, Response } from '../../response.js'

export type NodeApp = (req: http.IncomingMessage, res: http.ServerResponse) => unknown

/** What the adapter needs of the server: its keep-alive timeout, for node's Keep-Alive header. */
export interface NodeOptions {
  keepAliveTimeout: number
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
  const req = new http.IncomingMessage(socket) as Fed
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
  if (engine.complete && !engine.aborted) {
    // The body is all here (read whole before the app was called): hand it over at once.
    engine.body().then(
      (body) => finishBody(this, body),
      () => bodyFailed(this),
    )
    return
  }
  void pump(this)
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

/** Stands for a node response in the connection's line (see ExternalOutput). */
class NodeExchange implements ExternalOutput {
  readonly req: http.IncomingMessage
  readonly res: http.ServerResponse
  private readonly engine: Response
  private readonly socket: Socket
  private assigned: boolean
  private abandoned: boolean

  constructor(engine: Response, options: NodeOptions) {
    const socket = engine.req.socket
    this.engine = engine
    this.socket = socket
    this.assigned = false
    this.abandoned = false
    const req = incomingMessage(socket, engine.req)
    const res = new http.ServerResponse(req)
    res.shouldKeepAlive = engine.req.head.keepAlive && !engine.closesConnection
    ;(res as unknown as { _keepAliveTimeout: number })._keepAliveTimeout = options.keepAliveTimeout
    this.req = req
    this.res = res
    res.on('finish', () => this.finished())
    engine.external = this
    if (engine.takeTurn()) this.first()
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
    // node:http's server emits 'drain' on the response whose turn it is; so does this.
    this.socket.on('drain', this.drained)
    const socket = this.socket as Socket & { [kTimeouts]?: true }
    if (socket[kTimeouts] === undefined) {
      socket[kTimeouts] = true
      // Unless a node:http-style server (pegasus/http's) already relays them from its accept.
      if (socket.listenerCount('timeout') === 0) socket.on('timeout', relayTimeout)
    }
  }

  private readonly drained = (): void => {
    const res = this.res
    if (res.writableNeedDrain && !res.writableEnded) {
      kNeedDrain ??= symbolOf(res, 'kNeedDrain')
      if (kNeedDrain !== undefined) (res as unknown as Record<symbol, boolean>)[kNeedDrain] = false
      res.emit('drain')
    }
  }

  private finished(): void {
    // Defensive: a response whose socket was taken back does not finish (its writes fail).
    /* c8 ignore next */
    if (this.abandoned) return
    const res = this.res
    this.let()
    const engine = this.engine
    engine.statusCode = res.statusCode
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
    if (this.socket.destroyed) this.socket.off('drain', this.drained)
    else this.let()
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
    this.socket.off('drain', this.drained)
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
