// pegasus/http: node:http's createServer and Server, served by Pegasus. A Server is a net.Server,
// as node's is, so listen() in all of node's forms, address() as soon as listen() returns,
// 'listening', 'error', 'connection' and close() are net's own. Each socket it accepts goes to a
// Pegasus engine (lib/server.ts) that parses, dispatches and times out; its node interface turns
// every exchange into a real IncomingMessage and ServerResponse, emitted here as 'request' (and
// 'upgrade'). This file stands above the engine, as the CLI does: it is an entry point.
import type http from 'node:http'
import net from 'node:net'
import type { Socket } from 'node:net'
import { Log } from '../../log.js'
import { Server as Engine, type ServerOptions as EngineOptions } from '../../server.js'

export type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void

/** Pegasus's own options, for an app that wants them (node:http ignores unknown options). */
type PegasusOptions = Omit<
  EngineOptions,
  'interface' | 'upgrade' | 'backlog' | 'maxHeaderSize' | 'keepAliveTimeout' | 'headersTimeout'
>

/**
 * node:http's server options (`maxHeaderSize` is node's: the whole head), and Pegasus's. Unlike
 * Pegasus's own createServer, the defaults are node's where node has the setting, and off where
 * it has none, so that an app behaves as it did on node:http: no cap on app calls in flight
 * (`threads`), no `appTimeout` and no trusted proxies (`forwardedAllowIps`), unless asked for.
 */
export interface ServerOptions extends http.ServerOptions, PegasusOptions {}

// node:http's defaults.
const KEEP_ALIVE_TIMEOUT = 5000
const HEADERS_TIMEOUT = 60000
const REQUEST_TIMEOUT = 300000
/** "No limit" for the engine's concurrency: node:http calls every request's listener at once. */
const UNLIMITED = 2 ** 30

const kServer = Symbol('pegasus.http.server')

/** A socket this server serves (its listeners are shared functions that find it here). */
interface HttpSocket extends Socket {
  [kServer]: Server
  /** The response in progress on it: node's ServerResponse sets it, as on node:http. */
  _httpMessage?: http.ServerResponse | null
}

/** A timeout in ms as the engine takes it: a whole number, 0 for none. */
function milliseconds(value: number): number {
  return Number.isFinite(value) && value > 0 ? Math.floor(value) : 0
}

export class Server extends net.Server {
  /** Kept for node's API: Pegasus limits slow bodies by `bodyTimeout` and `minDataRate` instead. */
  requestTimeout: number
  /** Socket inactivity timeout in ms (node's `server.timeout`, set by setTimeout()); 0: none. */
  timeout: number
  /**
   * Most header fields a request may have (more: 431, where node drops the rest); null: Pegasus's
   * limit. Read when the engine starts, at the first connection after listen().
   */
  maxHeadersCount: number | null
  /**
   * node:http's flag: false (node's default) takes a client's FIN during a response as the client
   * leaving (the connection ends, the app sees 'close'); true answers it (Pegasus's own rule).
   */
  httpAllowHalfOpen: boolean
  private readonly options: ServerOptions
  private readonly log: Log
  /** Serves the connections accepted since the last listen; made at the first of them. */
  private engine: Engine | null
  /** Open HTTP connections (upgraded ones leave): for closeAllConnections and closeIdleConnections. */
  private readonly sockets: Set<Socket>
  private keepAlive: number
  private headers: number

  constructor(options?: ServerOptions | RequestListener, listener?: RequestListener) {
    if (typeof options === 'function') {
      listener = options
      options = {}
    }
    options ??= {}
    // As node's http.Server: half-open sockets (the engine answers a client that is only done
    // sending) and no Nagle delay.
    super({
      allowHalfOpen: true,
      noDelay: options.noDelay ?? true,
      keepAlive: options.keepAlive,
      keepAliveInitialDelay: options.keepAliveInitialDelay,
      highWaterMark: options.highWaterMark,
    } as net.ServerOpts)
    this.requestTimeout = options.requestTimeout ?? REQUEST_TIMEOUT
    this.timeout = 0
    this.maxHeadersCount = null
    this.httpAllowHalfOpen = false
    this.options = options
    this.log = options.log ?? new Log()
    this.engine = null
    this.sockets = new Set()
    this.keepAlive = milliseconds(options.keepAliveTimeout ?? KEEP_ALIVE_TIMEOUT)
    this.headers = milliseconds(options.headersTimeout ?? HEADERS_TIMEOUT)
    if (listener !== undefined) this.on('request', listener)
    this.on('connection', this.serve)
    // A request asking to upgrade goes to 'upgrade' only while someone listens for it, as on
    // node:http; otherwise it is served as plain HTTP.
    this.on('newListener', this.upgradeAdded)
    this.on('removeListener', this.upgradeRemoved)
  }

  /** Idle keep-alive connections close after this many ms (default 5000; 0: never). */
  get keepAliveTimeout(): number {
    return this.keepAlive
  }

  set keepAliveTimeout(value: number) {
    this.keepAlive = milliseconds(value)
    if (this.engine !== null) this.engine.setTimeouts({ keepAliveTimeout: this.keepAlive })
  }

  /** A request head must arrive whole within this many ms (default 60000; 0: no limit). */
  get headersTimeout(): number {
    return this.headers
  }

  set headersTimeout(value: number) {
    this.headers = milliseconds(value)
    if (this.engine !== null) this.engine.setTimeouts({ headersTimeout: this.headers })
  }

  /** Sets the socket inactivity timeout (`timeout`), and a 'timeout' listener if given. */
  setTimeout(msecs?: number, callback?: (socket: Socket) => void): this {
    this.timeout = msecs ?? 0
    if (callback !== undefined) this.on('timeout', callback)
    return this
  }

  /**
   * Stops accepting; requests in flight are answered and their connections closed after them,
   * idle ones at once; `callback` and 'close' come once every connection has ended.
   */
  override close(callback?: (error?: Error) => void): this {
    super.close(callback)
    const engine = this.engine
    this.engine = null
    // The engine's connections keep their timeouts until they are done.
    if (engine !== null) void engine.close()
    return this
  }

  /** Destroys every HTTP connection, busy or not. */
  closeAllConnections(): void {
    for (const socket of this.sockets) socket.destroy()
  }

  /** Destroys the HTTP connections with no response in progress. */
  closeIdleConnections(): void {
    for (const socket of this.sockets) {
      const res = (socket as HttpSocket)._httpMessage
      if (res === undefined || res === null) socket.destroy()
    }
  }

  /** 'connection': the socket goes to the engine (node:http's connectionListener). */
  private readonly serve = (socket: Socket): void => {
    ;(socket as HttpSocket)[kServer] = this
    this.sockets.add(socket)
    socket.once('close', Server.socketClosed)
    socket.on('timeout', Server.socketTimedOut)
    socket.on('end', Server.clientEnded)
    if (this.timeout > 0) socket.setTimeout(this.timeout)
    ;(this.engine ?? this.startEngine()).serve(socket)
  }

  private startEngine(): Engine {
    const options = this.options
    const engine = new Engine(this.dispatch, {
      threads: UNLIMITED,
      appTimeout: 0,
      // node:http never reads X-Forwarded-*: neither does a drop-in, unless asked to.
      forwardedAllowIps: [],
      ...pegasusOptions(options),
      interface: 'node',
      log: this.log,
      keepAliveTimeout: this.keepAlive,
      headersTimeout: this.headers,
      maxHeadSize: options.maxHeaderSize ?? options.maxHeadSize,
      maxHeaderCount: this.maxHeadersCount ?? options.maxHeaderCount,
    })
    if (this.listenerCount('upgrade') > 0) engine.setUpgradeHandler(this.upgrade)
    this.engine = engine
    return engine
  }

  /** The engine's app: every request is a 'request' event. */
  private readonly dispatch = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    // node reads the server's keepAliveTimeout for each response's Keep-Alive header.
    ;(res as unknown as { _keepAliveTimeout: number })._keepAliveTimeout = this.keepAlive
    this.emit('request', req, res)
  }

  private readonly upgrade = (req: http.IncomingMessage, socket: Socket, head: Buffer): void => {
    // No longer an HTTP connection: closeAllConnections leaves it alone, as node's does.
    this.sockets.delete(socket)
    socket.off('timeout', Server.socketTimedOut)
    socket.off('end', Server.clientEnded)
    this.emit('upgrade', req, socket, head)
  }

  // 'newListener' comes before the listener is added, 'removeListener' after it is removed.
  private readonly upgradeAdded = (event: string | symbol): void => {
    if (event === 'upgrade' && this.engine !== null) this.engine.setUpgradeHandler(this.upgrade)
  }

  private readonly upgradeRemoved = (event: string | symbol): void => {
    if (event !== 'upgrade' || this.engine === null || this.listenerCount('upgrade') > 0) return
    this.engine.setUpgradeHandler(null)
  }

  // The sockets' listeners: shared functions, `this` the socket.

  private static socketClosed(this: HttpSocket): void {
    this[kServer].sockets.delete(this)
  }

  /** As node:http: a client that closes its side while a response is in progress has left. */
  private static clientEnded(this: HttpSocket): void {
    const res = this._httpMessage
    if (!this[kServer].httpAllowHalfOpen && res !== undefined && res !== null && this.writable) this.end()
  }

  /** node:http's socket timeout: 'timeout' on the request, response or server, else destroy. */
  private static socketTimedOut(this: HttpSocket): void {
    const res = this._httpMessage
    const req = res?.req
    const reqTook = req !== undefined && !req.complete && req.emit('timeout', this)
    const resTook = res !== undefined && res !== null && res.emit('timeout', this)
    const serverTook = this[kServer].emit('timeout', this)
    if (!reqTook && !resTook && !serverTook) this.destroy()
  }
}

/** The options given to createServer that are Pegasus's (undefined ones left out). */
function pegasusOptions(options: ServerOptions): EngineOptions {
  const picked: Record<string, unknown> = {}
  for (const name of PEGASUS_OPTIONS) {
    const value = (options as Record<string, unknown>)[name]
    if (value !== undefined) picked[name] = value
  }
  return picked as EngineOptions
}

const PEGASUS_OPTIONS = [
  'threads',
  'accessLog',
  'bodyTimeout',
  'appTimeout',
  'maxPipeline',
  'maxQueued',
  'maxQueue',
  'bufferBody',
  'minDataRate',
  'minDataRateGrace',
  'maxRequestLineSize',
  'maxBodySize',
  'forwardedAllowIps',
  'proxyProtocol',
] as const

/** node:http's createServer([options], listener), served by Pegasus. */
export function createServer(options?: ServerOptions | RequestListener, listener?: RequestListener): Server {
  return new Server(options, listener)
}
