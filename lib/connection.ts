// One per socket: feeds bytes to the parser, keeps the in-flight exchanges in request order
// (pipelining), writes their responses in that order, pauses reading under backpressure and
// owns keep-alive and the connection's timeouts.
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { Parser, type ParserHandler, type ParserLimits } from './http/parser.js'
import type { RequestHead } from './http/head.js'
import { HttpError } from './http/errors.js'
import { statusLine } from './http/status.js'
import { httpDate } from './clock.js'
import { Request, type RequestOwner } from './request.js'
import { Response, type ResponseOwner, type WriteCallback } from './response.js'
import { Progress } from './progress.js'
import type { Dispatcher } from './dispatch.js'
import type { Log } from './log.js'
import { readForwarded, type AllowList, type Forwarded } from './proxy.js'
import { readProxyHeader } from './proxy-protocol.js'
import { readControl, type Holdable, type ReadControl } from './accept-burst.js'
import type { DirectReads } from './direct-reads.js'

export interface ConnectionSettings {
  readonly limits: ParserLimits
  readonly dispatcher: Dispatcher
  readonly log: Log
  readonly accessLog: boolean
  /** Most requests in flight on one connection before it stops reading (pipelining depth). */
  readonly maxPipeline: number
  /** Response bytes held back, all responses not yet first in line together. */
  readonly maxQueuedBytes: number
  /** Timeouts in ms; 0 turns one off. */
  keepAliveTimeout: number
  headersTimeout: number
  /** Longest stall of a request body arriving, or of the client taking the response. */
  readonly bodyTimeout: number
  /** Longest an app call may go without starting its response. */
  readonly appTimeout: number
  /** How long a closing connection keeps draining the client's bytes (avoids an RST). */
  readonly lingerTimeout: number
  /**
   * A request body of up to this many bytes (declared, or arrived so far when chunked) is read
   * whole before its app is called, so no app slot waits on a slow client; 0: never.
   */
  readonly bufferBody: number
  /**
   * Bytes a second a client must average while it sends a request body or takes a response,
   * once `minDataRateGrace` ms of it have passed; 0: no minimum.
   */
  readonly minDataRate: number
  readonly minDataRateGrace: number
  /**
   * Takes over the socket of a request that asks to upgrade the protocol (WebSocket); null: such
   * requests are served as plain HTTP/1.1.
   */
  upgrade: UpgradeHandler | null
  /** Peers whose X-Forwarded-* / Forwarded fields (and PROXY headers) are believed. */
  readonly forwardedAllowIps: AllowList
  /** Every connection starts with a PROXY protocol header (v1 or v2), from a trusted peer. */
  readonly proxyProtocol: boolean
  readonly closed: (conn: Connection) => void
}

/** Given the request, the socket (no longer Pegasus's) and the bytes that came after the head. */
export type UpgradeHandler = (req: Request, socket: Socket, head: Buffer) => void

// Why reading is paused, as bit flags: reading resumes when none is left.
const PIPELINE = 1
const QUEUE = 2
const UPLOAD = 4
/** The client is not reading our output fast enough. */
const OUTPUT = 8

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1')
const NOTHING = Buffer.alloc(0)

/**
 * While reading is paused the socket is still read, into `remainder`, until this much waits
 * unparsed: so a client that leaves is seen at once (its FIN comes behind its last bytes), and
 * what one paused connection holds stays bounded.
 */
const READ_AHEAD = 16 * 1024

const SHED = new HttpError(503, 'The server is busy: try again later', 'Retry-After: 1\r\n')
const SHED_BODY = `${SHED.message}\n`

/** The reason an exchange ends under its app because the connection went (code as node's). */
function gone(message: string): Error {
  return Object.assign(new Error(message), { code: 'ECONNRESET' })
}

export class Connection implements ParserHandler, RequestOwner, ResponseOwner, Holdable {
  readonly socket: Socket
  private readonly settings: ConnectionSettings
  private readonly parser: Parser
  private first: Response | null
  private last: Response | null
  private inflight: number
  /** The request whose body is arriving. */
  private current: Request | null
  /**
   * An exchange whose app call waits until the end of the chunk being parsed: when its whole
   * body is in that chunk the app starts with the body complete (no waiting on body()).
   */
  private waiting: Response | null
  /** The waiting exchange's body is being read whole before its app is called (bufferBody). */
  private buffering: boolean
  /** Bytes received but not parsed while reading is paused. */
  private remainder: Buffer | null
  private pausedFor: number
  /** The socket itself is paused: `remainder` is over READ_AHEAD. */
  private readStopped: boolean
  /** A request whose socket goes to the upgrade handler once its head is parsed. */
  private upgrading: Request | null
  /**
   * Output waiting to be written: everything sent while a chunk is parsed, or within one tick,
   * leaves in one write (a writev when there are several pieces).
   */
  private readonly out: (string | Uint8Array)[]
  private outBytes: number
  /** Write callbacks of the batched output (ResponseOwner.write): called once it is written. */
  private outCallbacks: WriteCallback[] | null
  /** Output held back by the responses that are not first in line. */
  private heldBytes: number
  /** A flush is due: at the end of onData, or at the next tick. */
  private batching: boolean
  /** Error response owed once the exchanges before it are done. */
  private pendingError: HttpError | null
  /** No new exchanges: close once the in-flight ones are done. */
  private closing: boolean
  /** Our side has ended; incoming bytes are read and dropped until the client closes. */
  private ended: boolean
  private destroyed: boolean
  private clientEnded: boolean
  private served: number
  /** advance() is running: a nested call only asks it to go round once more. */
  private advancing: boolean
  private advanceAgain: boolean
  private idleSince: number
  private headStartedAt: number
  private endedAt: number
  /** The request body arriving (socket.bytesRead), for its stall timeout and minimum rate. */
  private readonly bodyProgress: Progress
  /** Output the client has yet to take (bytes the socket has passed on), likewise. */
  private readonly outProgress: Progress
  /** Whether the peer is trusted (forwardedAllowIps): -1 until first asked, then 0 or 1. */
  private trust: number
  /** The client a PROXY protocol header named, or null (none, or it kept the socket's own). */
  private proxySource: { readonly address: string; readonly port: number } | null
  /** The PROXY header's bytes so far while it is awaited; null once read, or when it is off. */
  private proxyHeader: Buffer | null
  /** The socket's reads, stopped while new connections are accepted first (AcceptBurst). */
  private held: ReadControl | null
  /** The socket reads straight to onData (acceptDirect), not through 'data' events. */
  private readonly direct: DirectReads | null
  /** When a request of this connection was last shed (performance.now()); 0: not since. */
  private shedAt: number

  constructor(socket: Socket, settings: ConnectionSettings, direct: DirectReads | null = null) {
    this.socket = socket
    this.settings = settings
    this.parser = new Parser(this, settings.limits)
    this.first = null
    this.last = null
    this.inflight = 0
    this.current = null
    this.waiting = null
    this.buffering = false
    this.remainder = null
    this.pausedFor = 0
    this.readStopped = false
    this.upgrading = null
    this.out = []
    this.outBytes = 0
    this.outCallbacks = null
    this.heldBytes = 0
    this.batching = false
    this.pendingError = null
    this.closing = false
    this.ended = false
    this.destroyed = false
    this.clientEnded = false
    this.served = 0
    this.advancing = false
    this.advanceAgain = false
    this.idleSince = Date.now()
    this.headStartedAt = 0
    this.endedAt = 0
    this.bodyProgress = new Progress()
    this.outProgress = new Progress()
    this.trust = -1
    this.proxySource = null
    this.proxyHeader = null
    this.held = null
    this.direct = direct
    this.shedAt = 0
    if (direct !== null) {
      direct.reader = this.dataListener
      // Flowing, so that the client's FIN still comes as 'end'.
      socket.resume()
    } else {
      socket.on('data', this.dataListener)
    }
    socket.on('end', this.endListener)
    socket.on('drain', this.drainListener)
    socket.on('error', ignore)
    socket.on('close', this.closeListener)
    if (settings.proxyProtocol) {
      if (settings.forwardedAllowIps.trusts(socket.remoteAddress)) this.proxyHeader = NOTHING
      else {
        // Anyone could claim any address in it: only a balancer we trust may send one. (The
        // close is asynchronous: the server has not added this connection to its set yet.)
        settings.log.warn(`Closing a connection from ${socket.remoteAddress}: PROXY protocol from a peer not in forwardedAllowIps`)
        socket.destroy()
      }
    }
  }

  // --- The peer -------------------------------------------------------------------------------

  get peerAddress(): string | undefined {
    return this.proxySource !== null ? this.proxySource.address : this.socket.remoteAddress
  }

  get peerPort(): number | undefined {
    return this.proxySource !== null ? this.proxySource.port : this.socket.remotePort
  }

  get viaProxyProtocol(): boolean {
    return this.proxySource !== null
  }

  /** Forwarding fields count only from a trusted peer, decided once: the peer never changes. */
  forwardedOf(head: RequestHead): Forwarded | null {
    const list = this.settings.forwardedAllowIps
    if (this.trust === -1) this.trust = list.trusts(this.peerAddress) ? 1 : 0
    return this.trust === 1 ? readForwarded(head, list) : null
  }

  /**
   * The PROXY header comes before any HTTP byte: returns what follows it once it is whole, or
   * null while it is not (or when it was bad and the connection is closed).
   */
  private readProxy(chunk: Buffer): Buffer | null {
    const pending = this.proxyHeader as Buffer
    const data = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let header
    try {
      header = readProxyHeader(data)
    } catch (error) {
      this.refuseProxy((error as Error).message)
      return null
    }
    if (header === null) {
      this.proxyHeader = data
      return null
    }
    this.proxyHeader = null
    this.proxySource = header.source
    return data.subarray(header.length)
  }

  /** No valid PROXY header: closed without an HTTP answer (the peer is a balancer, not a client). */
  private refuseProxy(reason: string): void {
    this.settings.log.warn(`Closing a connection from ${this.socket.remoteAddress}: ${reason}`)
    this.destroy()
  }

  // The socket's listeners, kept so that an upgrade removes ours and no one else's.
  private readonly dataListener = (chunk: Buffer): void => this.onData(chunk)
  private readonly endListener = (): void => this.onEnd()
  private readonly drainListener = (): void => this.onDrain()
  private readonly closeListener = (): void => this.onClose()

  // --- Reading --------------------------------------------------------------------------------

  get established(): boolean {
    return this.served > 0
  }

  /** Nothing in flight, nothing arriving: closing it costs its client nothing but a reconnect. */
  get idle(): boolean {
    return this.first === null && this.current === null && this.parser.idle && !this.ended && this.upgrading === null && this.proxyHeader === null
  }

  /** Stops reading the socket for a while (AcceptBurst); false when it is not being read. */
  holdReading(): boolean {
    if (this.held !== null || this.ended || this.destroyed || this.upgrading !== null) return false
    const control = readControl(this.socket)
    if (control === null) return false
    control.readStop()
    this.held = control
    return true
  }

  releaseReading(): void {
    const control = this.held
    if (control === null) return
    this.held = null
    // (Unless it was paused meanwhile: then it is read again when it is resumed.)
    if (!this.socket.destroyed && control.reading) control.readStart()
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return
    if (this.proxyHeader !== null) {
      const rest = this.readProxy(chunk)
      if (rest === null || rest.length === 0) return
      chunk = rest
    }
    // Responses made while this chunk is parsed (synchronous apps, pipelining) leave in one
    // write when it is done. (A flush scheduled by send() has always run by now: ticks run
    // before the next I/O callback.)
    this.batching = true
    // Read while paused: it waits behind what is already unparsed.
    if (this.remainder !== null) this.remainder = Buffer.concat([this.remainder, chunk])
    else this.feed(chunk)
    this.batching = false
    this.flush()
    this.regulateReading()
  }

  /** Pauses the socket while more than READ_AHEAD bytes wait unparsed, resumes it after. */
  private regulateReading(): void {
    const stop = this.remainder !== null && this.remainder.length > READ_AHEAD
    if (stop === this.readStopped || this.ended || this.destroyed) return
    this.readStopped = stop
    if (stop) this.socket.pause()
    else this.socket.resume()
  }

  private feed(chunk: Buffer): void {
    const parser = this.parser
    let consumed: number
    try {
      consumed = parser.execute(chunk)
    } catch (error) {
      this.parseFailed(error)
      return
    }
    if (this.upgrading !== null) {
      this.handOver(chunk.subarray(consumed))
      return
    }
    if (consumed < chunk.length && !parser.dead) this.remainder = chunk.subarray(consumed)
    // The body goes on in later chunks: the app starts now and reads it as it comes (unless
    // the body is being read whole first).
    if (this.waiting !== null && !this.buffering) this.dispatchWaiting()
    if (parser.headPending) {
      if (this.headStartedAt === 0) this.headStartedAt = Date.now()
    }
  }

  onRequest(head: RequestHead): void {
    this.headStartedAt = 0
    if (this.shedAt !== 0) this.cameBack()
    // An upgrade someone takes, with nothing before it in flight: the socket goes to them.
    if (head.upgrade && this.settings.upgrade !== null && this.first === null && !head.chunked && head.contentLength <= 0) {
      this.upgrading = new Request(this, head)
      this.parser.pause()
      return
    }
    const req = new Request(this, head)
    const res = new Response(this, req)
    req.response = res
    // The access log's durations (T, D, M, L): measured from here only when its format has them.
    if (this.settings.accessLog && this.settings.log.timing) res.startedAt = performance.now()
    if (this.closing) res.closeConnection()
    if (this.last === null) this.first = res
    else this.last.next = res
    this.last = res
    this.inflight++
    // A request without a body is complete before its app runs. A small body is read whole
    // before the app is called (a client that sends slowly holds no app slot); the app of a
    // larger one waits for the end of this chunk, unless the client waits for `100 Continue`.
    if (head.chunked || head.contentLength > 0) {
      this.current = req
      this.bodyProgress.restart()
      const bufferBody = this.settings.bufferBody
      if (bufferBody > 0 && (head.chunked || head.contentLength <= bufferBody)) {
        this.buffering = true
        this.waiting = res
        // The server wants this body whatever the app will say: no reason to make the client wait.
        if (head.expectContinue) this.sendContinue(res)
        return
      }
      if (!head.expectContinue) {
        this.waiting = res
        return
      }
    } else {
      req.complete = true
    }
    this.dispatch(res)
    this.holdIfBackedUp()
  }

  private dispatch(res: Response): void {
    const dispatcher = this.settings.dispatcher
    if (dispatcher.overloaded()) {
      this.shed(res)
      return
    }
    if (!dispatcher.push(res)) {
      this.pause(QUEUE)
      dispatcher.block(this)
    }
    if (this.inflight >= this.settings.maxPipeline) this.pause(PIPELINE)
  }

  /**
   * Load shedding: `res` is answered 503 with Retry-After in its turn instead of reaching the
   * app. A request read whole leaves the connection open (a client with a pool of connections
   * keeps them); one whose body is still arriving closes it (nothing more is read from it).
   */
  private shed(res: Response): void {
    if (res.req.complete) {
      this.shedAt = performance.now()
      res.reset(SHED.status)
      res.setHeader('Content-Type', 'text/plain; charset=utf-8')
      res.setHeader('Retry-After', '1')
      res.end(SHED_BODY)
      return
    }
    this.parser.stop()
    this.remainder = null
    if (this.current === res.req) this.current = null
    res.failure = SHED
    res.destroy()
    if (res === this.first) this.advance()
  }

  /** The client sends again after a 503: the load guard learns how soon clients come back. */
  private cameBack(): void {
    this.settings.dispatcher.guard.cameBack(performance.now() - this.shedAt)
    this.shedAt = 0
  }

  private dispatchWaiting(): void {
    const res = this.waiting as Response
    this.waiting = null
    this.dispatch(res)
  }

  onBody(chunk: Buffer): void {
    const req = this.current
    // Defensive: whatever clears `current` mid-body also stops the parser.
    /* c8 ignore next */
    if (req === null) return
    const more = req.push(chunk)
    if (this.buffering) {
      if (req.bufferedBytes <= this.settings.bufferBody) return
      // A chunked body too large to hold: its app starts at the end of this chunk and streams it.
      this.buffering = false
    }
    if (!more) this.pause(UPLOAD)
  }

  onMessageComplete(): void {
    // Shutting down: the request that was arriving is the last one read.
    if (this.closing) this.parser.stop()
    // No `current` for a request without a body, or when its exchange was dropped meanwhile.
    const req = this.current
    if (req === null) return
    req.end()
    this.current = null
    this.buffering = false
    // An app called while its body arrived has had all it needs only now: its --timeout starts
    // here (the time its client took to send is the minimum data rate's business).
    const res = req.response as Response
    if (res.release !== null) res.calledAt = Date.now()
    if ((this.pausedFor & UPLOAD) !== 0) this.unpause(UPLOAD)
    if (this.waiting !== null) this.dispatchWaiting()
    this.holdIfBackedUp()
  }

  /**
   * A client that sends requests without reading the responses stops being read, one request
   * at a time, until its socket drains: what the connection buffers for it stays bounded.
   */
  private holdIfBackedUp(): void {
    if (this.socket.writableNeedDrain) this.pause(OUTPUT)
  }

  /** Parsing stops; the socket is still read up to READ_AHEAD (regulateReading). */
  private pause(reason: number): void {
    if (this.pausedFor === 0) this.parser.pause()
    this.pausedFor |= reason
  }

  private unpause(reason: number): void {
    if ((this.pausedFor & reason) === 0) return
    this.pausedFor &= ~reason
    // (Destroyed: a queue that drains may still unblock a connection gone meanwhile.)
    /* c8 ignore next */
    if (this.pausedFor !== 0 || this.destroyed) return
    this.parser.resume()
    const remainder = this.remainder
    if (remainder !== null) {
      this.remainder = null
      this.feed(remainder)
      // The client's FIN was read behind these bytes: settled now that they are parsed.
      if (this.remainder === null && this.clientEnded) this.clientDone()
    }
    this.regulateReading()
  }

  /** The dispatch queue drained (Blockable). */
  unblock(): void {
    this.unpause(QUEUE)
  }

  bodyWanted(req: Request): void {
    const res = req.response as Response
    if (res.expectContinue && !req.complete && res.replaceable) this.sendContinue(res)
  }

  private sendContinue(res: Response): void {
    res.expectContinue = false
    this.send(res, CONTINUE, false)
  }

  takeTurn(res: Response): boolean {
    if (res !== this.first) return false
    this.flush()
    return true
  }

  isFirst(res: Response): boolean {
    return res === this.first
  }

  bodyDrained(req: Request): void {
    if (req === this.current) this.unpause(UPLOAD)
  }

  private parseFailed(error: unknown): void {
    let httpError: HttpError
    if (error instanceof HttpError) httpError = error
    /* c8 ignore next 4: only a bug in the parser throws anything else */
    else {
      this.settings.log.error('Parser failure (a bug in Pegasus)', error)
      httpError = new HttpError(500, 'Internal server error')
    }
    this.remainder = null
    // A request that turned out bad before its app was called: the app is never called.
    this.waiting = null
    this.buffering = false
    const req = this.current
    this.current = null
    if (req !== null) {
      // The request's body is broken: its exchange answers with the error instead.
      req.abort(new Error(`Bad request body: ${httpError.message}`))
      const res = req.response as Response
      if (res.replaceable && !res.writableEnded) {
        res.failure = httpError
        res.destroy()
        this.release(res)
        if (res === this.first) this.advance()
        return
      }
    }
    this.pendingError = httpError
    if (this.first === null) this.writeError(httpError)
  }

  private onEnd(): void {
    if (this.proxyHeader !== null) {
      this.refuseProxy('The connection ended before its PROXY protocol header')
      return
    }
    this.clientEnded = true
    // Bytes sent before the FIN wait unparsed (reading is paused): judged once they are parsed.
    if (this.remainder === null) this.clientDone()
  }

  /** The client has sent its FIN, and every byte before it has been parsed. */
  private clientDone(): void {
    if (this.ended || this.destroyed) return
    if (this.current !== null) {
      // The body can never be completed: nothing sensible can be answered.
      this.destroy()
      return
    }
    // A FIN is all a client that closed for good sends, and all one that is only done sending
    // sends too: apps still at work hear of it through req.signal (as in Go's net/http), and an
    // answer they still give is delivered.
    const error = gone('The client closed its side of the connection')
    for (let res: Response | null = this.first; res !== null; res = res.next) {
      if (res.writableEnded) continue
      res.req.abort(error)
      // An interface with request objects of its own tells them too (node's req 'aborted').
      if (res.external !== null) res.external.clientEnded()
    }
    if (this.parser.headPending) {
      // Part of a head, then the FIN: answered 400 after the requests before it (as node:http).
      this.parser.stop()
      this.pendingError = new HttpError(400, 'Request head cut short by the end of the connection')
      if (this.first === null) this.writeError(this.pendingError)
    } else if (this.first === null) {
      this.end()
    }
  }

  /**
   * The upgrade handler takes the socket: Pegasus's parser, timeouts and listeners let go of it,
   * and the bytes after the head are the new protocol's.
   */
  private handOver(rest: Buffer): void {
    const req = this.upgrading as Request
    const socket = this.socket
    this.upgrading = null
    this.parser.stop()
    this.remainder = null
    // Its new owner reads it: a hold must not outlive Pegasus's part.
    this.releaseReading()
    this.destroyed = true
    if (this.direct !== null) this.direct.toStream(socket)
    else socket.off('data', this.dataListener)
    socket.off('end', this.endListener)
    socket.off('drain', this.drainListener)
    socket.off('close', this.closeListener)
    // (Its `error` listener stays: an error nobody listens for must not end the process.)
    // As node:http does: reading starts again when the new owner listens for data.
    ;(socket as unknown as { readableFlowing: boolean | null }).readableFlowing = null
    this.settings.closed(this)
    try {
      ;(this.settings.upgrade as UpgradeHandler)(req, socket, rest)
    } catch (error) {
      this.settings.log.error(`Exception in upgrade handler for "${req.method} ${req.url} HTTP/${req.httpVersion}"`, error)
      socket.destroy()
    }
  }

  // --- Writing --------------------------------------------------------------------------------

  send(res: Response, data: string | Uint8Array, latin1: boolean): boolean {
    // Held-back and batched output is kept as UTF-8 strings and bytes only.
    if (latin1) data = Buffer.from(data as string, 'latin1')
    if (res !== this.first) {
      if (res.queued === null) res.queued = []
      res.queued.push(data)
      res.queuedBytes += data.length
      this.heldBytes += data.length
      if (this.heldBytes < this.settings.maxQueuedBytes) return true
      res.queuedFull = true
      return false
    }
    this.flushSoon()
    this.out.push(data)
    this.outBytes += data.length
    // Past the socket's high-water mark the bytes go out now, so that write() reports
    // backpressure exactly when the socket will emit 'drain'.
    if (this.outBytes >= this.socket.writableHighWaterMark) return this.flush()
    return !this.socket.writableNeedDrain
  }

  write(res: Response, data: string | Uint8Array, callback: WriteCallback | null): boolean {
    const ok = data.length === 0 ? !this.socket.writableNeedDrain : this.send(res, data, false)
    if (callback !== null) {
      ;(this.outCallbacks ??= []).push(callback)
      this.flushSoon()
    }
    return ok
  }

  /** Output is batched: it is written at the end of onData, or else at the next tick. */
  private flushSoon(): void {
    if (this.batching) return
    this.batching = true
    process.nextTick(flushLater, this)
  }

  /** The flush scheduled outside onData. */
  flushLater(): void {
    this.batching = false
    if (this.destroyed) {
      // Nothing more is written; write callbacks still hear of it (the socket's error, from
      // an empty write).
      this.out.length = 0
      this.outBytes = 0
    }
    this.flush()
  }

  /** Writes the batched output; returns what the socket's write returned. */
  flush(): boolean {
    const out = this.out
    const socket = this.socket
    const callbacks = this.outCallbacks
    let written: WriteCallback | undefined
    if (callbacks !== null) {
      this.outCallbacks = null
      written = callbacks.length === 1 ? callbacks[0] : (error) => callAll(callbacks, error)
    }
    if (out.length === 1) {
      const ok = socket.write(out[0], written)
      out.length = 0
      this.outBytes = 0
      return ok
    }
    if (out.length === 0) return written === undefined ? !socket.writableNeedDrain : socket.write(NOTHING, written)
    socket.cork()
    let ok = true
    const last = out.length - 1
    for (let i = 0; i < last; i++) ok = socket.write(out[i])
    ok = socket.write(out[last], written)
    socket.uncork()
    out.length = 0
    this.outBytes = 0
    return ok
  }

  finish(res: Response): void {
    const req = res.req
    if (!req.complete) {
      // Answered before the whole body arrived: the rest is read and dropped.
      req.discard()
      if (this.current === req) this.unpause(UPLOAD)
    }
    if (res === this.first) this.advance()
  }

  /**
   * Retires finished exchanges from the front of the line and starts the next one's output.
   * Releasing a dispatch slot can run another app call, or resume reading, at once; those may
   * finish exchanges or add new ones, so a nested call only asks this one to go round again.
   */
  private advance(): void {
    if (this.advancing) {
      this.advanceAgain = true
      return
    }
    this.advancing = true
    do {
      this.advanceAgain = false
      this.retire()
      if ((this.pausedFor & PIPELINE) !== 0 && this.inflight < this.settings.maxPipeline) this.unpause(PIPELINE)
    } while (this.advanceAgain)
    this.advancing = false
    if (this.first === null && !this.ended && !this.destroyed) {
      this.idleSince = Date.now()
      if (this.pendingError !== null) this.writeError(this.pendingError)
      // A client that half-closed is done once the requests it sent are answered, including
      // those still unread because reading is paused. (A closing connection ends in retire():
      // its last exchange carries the close.)
      else if (this.clientEnded && this.remainder === null) this.end()
    }
  }

  private retire(): void {
    let res = this.first
    while (res !== null && (res.writableEnded || res.failure !== null || res.broken)) {
      const next = res.next
      this.first = next
      if (next === null) this.last = null
      this.inflight--
      if (res.failure !== null) {
        this.writeError(res.failure, res)
        return
      }
      if (res.broken) {
        // Its app failed after output was produced: nothing of it was sent; end here.
        this.end()
        return
      }
      // The next response's held-back output goes out right behind this one's.
      if (next !== null) {
        if (next.queued !== null) this.flushQueued(next)
        if (next.external !== null && !next.writableEnded) next.external.first()
      }
      this.served++
      if (this.settings.accessLog) this.logAccess(res)
      res.emitFinished()
      // The app's own latency: the load guard's budget scales with the quickest calls.
      if (res.release !== null) this.settings.dispatcher.guard.observe(Date.now() - res.calledAt)
      if (res.closesConnection) {
        this.end()
        this.release(res)
        return
      }
      this.release(res)
      res = this.first
    }
  }

  private flushQueued(res: Response): void {
    const queued = res.queued as (string | Uint8Array)[]
    const wasFull = res.queuedFull
    this.heldBytes -= res.queuedBytes
    res.queued = null
    res.queuedBytes = 0
    res.queuedFull = false
    let ok = true
    for (let i = 0; i < queued.length; i++) ok = this.send(res, queued[i], false)
    if (wasFull && ok && !res.writableEnded) res.emit('drain')
  }

  private onDrain(): void {
    const res = this.first
    if (res !== null && !res.writableEnded) {
      if (res.external !== null) res.external.drained()
      else res.emit('drain')
    }
    this.unpause(OUTPUT)
  }

  private logAccess(res: Response, status = res.statusCode): void {
    this.settings.log.served(res.req, res, status)
  }

  /**
   * A one-line error response, then the connection closes (framing is in doubt). `res` is the
   * exchange it answers, when the request's head was read.
   */
  private writeError(error: HttpError, res?: Response): void {
    // Defensive: every caller checks first; a second error response would corrupt the stream.
    /* c8 ignore next */
    if (this.ended) return
    const body = `${error.message}\n`
    const head =
      statusLine(error.status) +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      error.headers +
      httpDate() +
      'Connection: close\r\n\r\n'
    this.out.push(head + body)
    this.flush()
    if (this.settings.accessLog) {
      if (res !== undefined) {
        // This answer is the exchange's: its line shows what went out.
        res.sentHead = head
        res.bodyBytes = Buffer.byteLength(body)
        this.logAccess(res, error.status)
      }
      // A head that timed out never became a request: no line for it.
      else if (error.status !== 408) {
        this.settings.log.access(this.peerAddress, this.peerPort, '-', '-', '1.1', error.status)
      }
    }
    this.end()
  }

  // --- App errors -----------------------------------------------------------------------------

  /** The app threw or rejected: 500 if nothing was sent yet, else the connection is ended. */
  appFailed(res: Response, error: unknown): void {
    const req = res.req
    const request = `"${req.method} ${req.url} HTTP/${req.httpVersion}"`
    // An app that fails because its own client left has no bug: one line, no stack.
    if (failedForGone(req, error)) this.settings.log.info(`Client went away during ${request}: ${(error as Error).message}`)
    else this.settings.log.error(`Exception in app for ${request}`, error)
    if (res.destroyed || res.writableEnded) return
    if (res.replaceable) {
      res.reset(500)
      res.setHeader('Content-Type', 'text/plain; charset=utf-8')
      res.end('Internal Server Error\n')
    } else if (res === this.first) {
      // Part of the response is out: cut it (an RST, so a close-delimited body is not taken
      // for a whole one).
      this.destroy()
    } else {
      // Its output is still held back: drop it, let the exchanges before it finish, then end.
      this.heldBytes -= res.queuedBytes
      res.queued = null
      res.queuedBytes = 0
      res.broken = true
      res.destroy()
      this.release(res)
    }
  }

  // --- Closing --------------------------------------------------------------------------------

  /**
   * Graceful close: finish what is in flight, answer with `Connection: close`, then end. An
   * idle connection ends at once, or with `closeIdle` false is left to its next request (then
   * answered with `Connection: close`) or to its keep-alive timeout.
   */
  shutdown(closeIdle = true): void {
    this.closing = true
    if (this.first === null && this.parser.idle) {
      if (closeIdle) this.end()
      return
    }
    // Requests already read are answered, the last with `Connection: close`. No new request is
    // read, except one whose head or body is arriving now (onRequest marks that one).
    if (this.parser.headPending) return
    if (this.current === null) {
      this.parser.stop()
      this.remainder = null
    }
    if (this.last !== null) this.last.closeConnection()
  }

  /** Ends our side after what was written; anything still in line is dropped. */
  private end(): void {
    // (Destroyed: a late shutdown or retire may still come to a connection gone meanwhile.)
    /* c8 ignore next */
    if (this.ended || this.destroyed) return
    this.ended = true
    this.endedAt = Date.now()
    this.parser.stop()
    this.remainder = null
    this.dropExchanges(gone('Connection closed'))
    this.flush()
    this.socket.end()
    // Keep reading (and dropping) until the client closes, so it is not sent an RST that
    // could destroy the response it has not read yet.
    this.pausedFor = 0
    if (this.readStopped && !this.clientEnded) {
      this.readStopped = false
      this.socket.resume()
    }
  }

  destroy(): void {
    // Defensive: a destroyed connection has left the server's sweep and has no exchanges left.
    /* c8 ignore next */
    if (this.destroyed) return
    this.socket.destroy()
    this.onClose()
  }

  private onClose(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.parser.stop()
    this.remainder = null
    this.dropExchanges(gone('Client disconnected'))
    this.settings.closed(this)
  }

  private dropExchanges(error: Error): void {
    const current = this.current
    this.current = null
    this.waiting = null
    this.buffering = false
    if (current !== null) current.abort(error)
    let res = this.first
    this.first = null
    this.last = null
    this.inflight = 0
    this.heldBytes = 0
    while (res !== null) {
      const next = res.next
      res.req.abort(error)
      res.destroy()
      this.release(res)
      res.next = null
      res = next
    }
  }

  private release(res: Response): void {
    const release = res.release
    if (release !== null) {
      res.release = null
      release()
    }
  }

  /** Called once a second by the server's sweep: enforces the timeouts and data rates. */
  sweep(time: number): void {
    const settings = this.settings
    if (this.socket.writableLength > 0) {
      if (this.sweepOutput(time)) return
    } else {
      this.outProgress.restart()
    }
    if (this.ended) {
      // Once our last bytes have left, the client gets the linger time to close first.
      if (this.socket.writableLength > 0) this.endedAt = time
      else if (time - this.endedAt >= settings.lingerTimeout) this.destroy()
      return
    }
    if (this.proxyHeader !== null) {
      if (expired(settings.headersTimeout, time - this.idleSince)) this.refuseProxy('No PROXY protocol header in time')
      return
    }
    if (settings.appTimeout > 0) this.sweepApps(time)
    if (this.parser.headPending) {
      if (this.headStartedAt !== 0 && expired(settings.headersTimeout, time - this.headStartedAt)) {
        this.failReading(new HttpError(408, 'Request head timed out'))
      }
    } else if (this.current !== null) {
      this.sweepBody(time)
    } else if (this.first === null && this.parser.idle) {
      const limit = this.served > 0 ? settings.keepAliveTimeout : settings.headersTimeout
      if (expired(limit, time - this.idleSince)) this.destroy()
    }
  }

  /**
   * Output is waiting for the client: one that takes none of it for the body timeout, or takes
   * it slower than the minimum data rate, is cut off (its responses cannot be finished).
   * Returns true when it was.
   */
  private sweepOutput(time: number): boolean {
    const { bodyTimeout, minDataRate, minDataRateGrace } = this.settings
    const socket = this.socket
    const progress = this.outProgress
    progress.look(socket.bytesWritten - socket.writableLength, time)
    if (!expired(bodyTimeout, progress.stalledFor(time)) && !progress.below(minDataRate, minDataRateGrace)) return false
    this.destroy()
    return true
  }

  /**
   * A request body that stops arriving, or arrives slower than the minimum data rate, while we
   * are reading is answered with 408. Time paused by us does not count against the client.
   */
  private sweepBody(time: number): void {
    const { bodyTimeout, minDataRate, minDataRateGrace } = this.settings
    const progress = this.bodyProgress
    if (this.pausedFor !== 0) {
      progress.hold(this.socket.bytesRead, time)
      return
    }
    progress.look(this.socket.bytesRead, time)
    if (expired(bodyTimeout, progress.stalledFor(time))) {
      this.failReading(new HttpError(408, 'Request body timed out'))
    } else if (progress.below(minDataRate, minDataRateGrace)) {
      this.failReading(new HttpError(408, 'Request body too slow'))
    }
  }

  /** Apps that have not started their response within the app timeout: 503, then close. */
  private sweepApps(time: number): void {
    const timeout = this.settings.appTimeout
    let res = this.first
    while (res !== null) {
      const next = res.next
      // (Not while its request body is arriving: that wait is the client's.)
      if (res.release !== null && res.req.complete && res.replaceable && !res.writableEnded && time - res.calledAt >= timeout) {
        this.appTimedOut(res)
      }
      res = next
    }
  }

  private appTimedOut(res: Response): void {
    const req = res.req
    this.settings.log.error(
      `App timed out after ${this.settings.appTimeout / 1000} s for "${req.method} ${req.url} HTTP/${req.httpVersion}"`,
    )
    req.abort(new Error('App timed out'))
    // Answered in its turn with the error instead; the connection closes after it. The app's
    // slot is given back: a hung call must not hold the server's concurrency for ever.
    res.failure = new HttpError(503, 'The app did not answer in time')
    res.destroy()
    this.release(res)
    if (res === this.first) this.advance()
  }

  /** A timeout while reading: no more is read; the error answers in its turn, then close. */
  private failReading(error: HttpError): void {
    this.parser.stop()
    this.parseFailed(error)
  }
}

// What an app's failure looks like when it comes from its exchange being cut under it.
const GONE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ABORT_ERR', 'ERR_STREAM_PREMATURE_CLOSE'])

/**
 * True when the app failed because its client went away: the error is the request's abort
 * reason (what body() and the stream reject with), caused by it, or an abort error.
 */
function failedForGone(req: Request, error: unknown): boolean {
  const reason = req.abortReason as (Error & { code?: string }) | null
  if (reason === null || reason.code !== 'ECONNRESET') return false
  if (error === reason) return true
  if (!(error instanceof Error)) return false
  const code = (error as Error & { code?: unknown }).code
  return error.cause === reason || error.name === 'AbortError' || (typeof code === 'string' && GONE_CODES.has(code))
}

/** A timeout of 0 is off. */
function expired(timeout: number, elapsed: number): boolean {
  return timeout > 0 && elapsed >= timeout
}

function flushLater(conn: Connection): void {
  conn.flushLater()
}

/** A listener that ignores what it is given (an error of a socket already being let go). */
export function ignore(): void {}

function callAll(callbacks: WriteCallback[], error: Error | null | undefined): void {
  for (let i = 0; i < callbacks.length; i++) callbacks[i](error)
}
