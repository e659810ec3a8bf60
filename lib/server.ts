// The public library API: createServer(app, options), listen, address, close.
import net from 'node:net'
import os from 'node:os'
import type { Socket } from 'node:net'
import { Connection, type ConnectionSettings, type UpgradeHandler } from './connection.js'
import { Dispatcher, type AppCallWatch } from './dispatch.js'
import { DEFAULT_LIMITS, type ParserLimits } from './http/parser.js'
import { Log } from './log.js'
import { invokeNative, type App } from './interfaces/native.js'
import { invokeNode, upgradeRequest, type NodeApp } from './interfaces/node/adapter.js'
import { invokeFetch, type FetchHandler } from './interfaces/fetch.js'
import { resolveApp, type InterfaceName, type ResolvedApp } from './interfaces/auto.js'
import type { Response } from './response.js'
import type { Request } from './request.js'

export type { App } from './interfaces/native.js'
export type { NodeApp } from './interfaces/node/adapter.js'
export type { FetchHandler, FetchInfo } from './interfaces/fetch.js'
export { native, InterfaceError, type InterfaceName } from './interfaces/auto.js'
export type { Request } from './request.js'
export type { Response } from './response.js'
export { HttpError } from './http/errors.js'
export type { UpgradeHandler } from './connection.js'
export type { AppCallWatch } from './dispatch.js'
export { Log } from './log.js'

export interface ServerOptions extends Partial<ParserLimits> {
  /**
   * How the app is called: `native` (Pegasus's own req and res), `node` (node:http's
   * IncomingMessage and ServerResponse), or `auto` (default): chosen by the app's shape, see
   * the README's rules.
   */
  interface?: InterfaceName
  /** Most app calls in flight at once (default `os.availableParallelism() * 2`). */
  threads?: number
  /** Pending-connection queue for listen(); negative or absent: the system's default. */
  backlog?: number
  /** Write an access line for every response (default false; the CLI turns it on). */
  accessLog?: boolean
  /** Where log lines go (default: a Log on process.stdout and process.stderr). */
  log?: Log
  /** Idle keep-alive connections close after this many ms (default 5000; 0: never). */
  keepAliveTimeout?: number
  /**
   * A request head must arrive whole within this many ms of its first byte, and a new connection
   * must start its first request within it (default 10000; 0: no limit): slow-loris clients are
   * answered 408 and cut off.
   */
  headersTimeout?: number
  /**
   * Longest stall, in ms, of a request body arriving (408, then close) or of a client taking
   * none of its response (the connection is closed) (default 30000; 0: no limit).
   */
  bodyTimeout?: number
  /**
   * An app call that has not started its response within this many ms is answered 503 with an
   * ERROR line, `req.signal` aborts, and the connection closes (default 30000; 0: no limit).
   */
  appTimeout?: number
  /** Most requests in flight on one connection before it stops reading (default 64). */
  maxPipeline?: number
  /** App calls waiting for a slot before connections stop reading (default threads * 64). */
  maxQueued?: number
  /**
   * Load shedding: when every app slot is busy and this many calls already wait, a new request
   * gets 503 with `Retry-After: 1` instead of waiting, and a WARN line says so at most once a
   * second (default: off, connections stop reading instead).
   */
  maxQueue?: number
  /**
   * A request body of up to this many bytes (declared by Content-Length, or arrived so far when
   * chunked) is read whole before the app is called, so a slow client holds no app slot
   * (default 65536; 0: the app starts at once and reads the body as it comes).
   */
  bufferBody?: number
  /**
   * Bytes a second a client must average while it sends a request body (408 and a close) or
   * takes a response (the connection is closed), once the grace period has passed
   * (default 240; 0: no minimum).
   */
  minDataRate?: number
  /** How long, in ms, a body or response may run before the minimum rate applies (default 5000). */
  minDataRateGrace?: number
  /**
   * Takes the socket of a request that asks for a protocol upgrade (`Connection: upgrade` and
   * `Upgrade`, WebSocket's handshake): `(req, socket, head)` as node:http's 'upgrade' event, `req`
   * of the app's interface (an http.IncomingMessage for the node interface). Without one such
   * requests are served as plain HTTP/1.1.
   */
  upgrade?: (req: never, socket: Socket, head: Buffer) => void
  /** Told of each app call as it starts and returns (the CLI's worker watchdog); default none. */
  watch?: AppCallWatch
}

export interface CloseOptions {
  /**
   * Leave idle keep-alive connections open instead of closing them at once: the next request
   * on each is answered with `Connection: close`, and one that stays idle closes at its
   * keep-alive timeout, so no client can send a request on a connection as it closes
   * (default false).
   */
  keepIdle?: boolean
}

export interface ServerAddress {
  address: string
  port: number
  family: string
}

export const DEFAULT_KEEP_ALIVE_TIMEOUT = 5000
export const DEFAULT_HEADERS_TIMEOUT = 10000
export const DEFAULT_BODY_TIMEOUT = 30000
export const DEFAULT_APP_TIMEOUT = 30000
export const DEFAULT_MAX_PIPELINE = 64
export const DEFAULT_BUFFER_BODY = 64 * 1024
export const DEFAULT_MIN_DATA_RATE = 240
export const DEFAULT_MIN_DATA_RATE_GRACE = 5000
const LINGER_TIMEOUT = 2000
const SWEEP_INTERVAL = 1000

/** The default number of app calls in flight: two per core. */
export function defaultThreads(): number {
  return os.availableParallelism() * 2
}

export class Server {
  readonly threads: number
  /** The interface the app is served with, and how `auto` recognised it. */
  readonly app: Pick<ResolvedApp, 'interface' | 'label'>
  private readonly ready: Promise<unknown> | null
  /** What the node interface reads per response (node's Keep-Alive header). */
  private readonly nodeOptions: { keepAliveTimeout: number }
  private readonly net: net.Server
  private readonly settings: ConnectionSettings
  private readonly connections: Set<Connection>
  private readonly backlog: number | undefined
  private sweeper: NodeJS.Timeout | null
  private closing: Promise<void> | null
  private allClosed: (() => void) | null

  constructor(app: App | NodeApp | FetchHandler | object, options: ServerOptions = {}) {
    const resolved = resolveApp(app, options.interface ?? 'auto')
    this.app = { interface: resolved.interface, label: resolved.label }
    this.ready = resolved.ready
    const threads = atLeast('threads', options.threads ?? defaultThreads(), 1)
    this.threads = threads
    this.backlog = options.backlog !== undefined && options.backlog >= 0 ? options.backlog : undefined
    this.connections = new Set()
    const limits: ParserLimits = {
      maxRequestLineSize: atLeast('maxRequestLineSize', options.maxRequestLineSize ?? DEFAULT_LIMITS.maxRequestLineSize, 1),
      maxHeadSize: atLeast('maxHeadSize', options.maxHeadSize ?? DEFAULT_LIMITS.maxHeadSize, 1),
      maxHeaderSize: atLeast('maxHeaderSize', options.maxHeaderSize ?? DEFAULT_LIMITS.maxHeaderSize, 1),
      maxHeaderCount: atLeast('maxHeaderCount', options.maxHeaderCount ?? DEFAULT_LIMITS.maxHeaderCount, 0),
      maxBodySize: atLeast('maxBodySize', options.maxBodySize ?? DEFAULT_LIMITS.maxBodySize, 0),
    }
    const log = options.log ?? new Log()
    const maxQueue = options.maxQueue === undefined ? -1 : atLeast('maxQueue', options.maxQueue, 0)
    const keepAliveTimeout = atLeast('keepAliveTimeout', options.keepAliveTimeout ?? DEFAULT_KEEP_ALIVE_TIMEOUT, 0)
    let invoke: (res: Response) => void
    const nodeOptions = { keepAliveTimeout }
    this.nodeOptions = nodeOptions
    if (resolved.interface === 'native') {
      const handler = resolved.handler as App
      invoke = (res) => invokeNative(handler, res.req, res, appFailed)
    } else if (resolved.interface === 'node') {
      const handler = resolved.handler as NodeApp
      invoke = (res) => invokeNode(handler, res, nodeOptions, appFailed)
    } else {
      const handler = resolved.handler as FetchHandler
      invoke = (res) => invokeFetch(handler, res, 'http', appFailed)
    }
    this.settings = {
      limits,
      dispatcher: new Dispatcher(invoke, threads, options.maxQueued ?? threads * 64, maxQueue, log, options.watch ?? null),
      log,
      accessLog: options.accessLog ?? false,
      maxPipeline: atLeast('maxPipeline', options.maxPipeline ?? DEFAULT_MAX_PIPELINE, 1),
      maxQueuedBytes: 64 * 1024,
      keepAliveTimeout,
      headersTimeout: atLeast('headersTimeout', options.headersTimeout ?? DEFAULT_HEADERS_TIMEOUT, 0),
      bodyTimeout: atLeast('bodyTimeout', options.bodyTimeout ?? DEFAULT_BODY_TIMEOUT, 0),
      appTimeout: atLeast('appTimeout', options.appTimeout ?? DEFAULT_APP_TIMEOUT, 0),
      lingerTimeout: LINGER_TIMEOUT,
      bufferBody: atLeast('bufferBody', options.bufferBody ?? DEFAULT_BUFFER_BODY, 0),
      minDataRate: atLeast('minDataRate', options.minDataRate ?? DEFAULT_MIN_DATA_RATE, 0),
      minDataRateGrace: atLeast('minDataRateGrace', options.minDataRateGrace ?? DEFAULT_MIN_DATA_RATE_GRACE, 0),
      upgrade: null,
      closed: (conn) => this.connectionClosed(conn),
    }
    this.sweeper = null
    this.closing = null
    this.allClosed = null
    this.net = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket))
    if (options.upgrade !== undefined) this.setUpgradeHandler(options.upgrade)
  }

  /** Starts listening (once the app is ready); resolves once the socket is bound. */
  listen(port = 8080, host?: string): Promise<void> {
    return this.listenWith({ port, host })
  }

  /**
   * Starts listening with node's listen options (`reusePort`, `exclusive`, `path`...), or on
   * `{ handle }`, a socket another process bound and passed over IPC (the CLI's arbiter does).
   */
  async listenWith(target: net.ListenOptions | { handle: object }): Promise<void> {
    if (this.ready !== null) await this.ready
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error)
      this.net.once('error', onError)
      const listening = (): void => {
        this.net.off('error', onError)
        this.net.on('error', (error) => this.settings.log.error('Server socket error', error))
        this.startSweeping()
        resolve()
      }
      // node takes a handle's backlog as an argument, not from an options object.
      if ('handle' in target) this.net.listen(target.handle, this.backlog, listening)
      else this.net.listen({ ...target, backlog: this.backlog }, listening)
    })
  }

  address(): ServerAddress {
    const address = this.net.address()
    if (address === null || typeof address === 'string') throw new Error('The server is not listening')
    return { address: address.address, port: address.port, family: address.family }
  }

  /**
   * Serves a connection accepted elsewhere (pegasus/http's own listening socket): the server
   * need not listen itself; its timeouts apply as to its own connections.
   */
  serve(socket: net.Socket): void {
    if (this.closing !== null) {
      socket.destroy()
      return
    }
    this.startSweeping()
    this.accept(socket)
  }

  /** Changes timeouts of a running server (in ms; see the options of the same names). */
  setTimeouts(timeouts: { keepAliveTimeout?: number; headersTimeout?: number }): void {
    const { keepAliveTimeout, headersTimeout } = timeouts
    if (keepAliveTimeout !== undefined) {
      this.settings.keepAliveTimeout = atLeast('keepAliveTimeout', keepAliveTimeout, 0)
      this.nodeOptions.keepAliveTimeout = this.settings.keepAliveTimeout
    }
    if (headersTimeout !== undefined) this.settings.headersTimeout = atLeast('headersTimeout', headersTimeout, 0)
  }

  private startSweeping(): void {
    if (this.sweeper !== null) return
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL)
    this.sweeper.unref()
  }

  /** Sets (or, with null, removes) the handler of protocol upgrades; see the `upgrade` option. */
  setUpgradeHandler(handler: ((req: never, socket: Socket, head: Buffer) => void) | null): void {
    if (handler === null || this.app.interface === 'native') {
      this.settings.upgrade = handler as UpgradeHandler | null
      return
    }
    const take = handler as (req: unknown, socket: Socket, head: Buffer) => void
    this.settings.upgrade = (req: Request, socket: Socket, head: Buffer) => take(upgradeRequest(req, socket), socket, head)
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.connections.size
  }

  /** App calls started since the server was made. */
  get requestCount(): number {
    return this.settings.dispatcher.calls
  }

  /**
   * Graceful close: stop accepting, let requests in flight finish (answered with
   * `Connection: close`), close idle keep-alive connections; resolves when all are closed.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.closing !== null) return this.closing
    const closeIdle = options.keepIdle !== true
    this.closing = new Promise<void>((resolve) => {
      this.allClosed = resolve
      this.net.close(() => this.checkClosed())
      for (const conn of this.connections) conn.shutdown(closeIdle)
    })
    return this.closing
  }

  private accept(socket: net.Socket): void {
    if (this.closing !== null) {
      socket.destroy()
      return
    }
    this.connections.add(new Connection(socket, this.settings))
  }

  private connectionClosed(conn: Connection): void {
    this.connections.delete(conn)
    if (this.closing !== null) this.checkClosed()
  }

  private checkClosed(): void {
    if (this.connections.size > 0 || this.net.listening || this.allClosed === null) return
    if (this.sweeper !== null) clearInterval(this.sweeper)
    this.sweeper = null
    const resolve = this.allClosed
    this.allClosed = null
    this.settings.log.flush()
    resolve()
  }

  private sweep(): void {
    const time = Date.now()
    for (const conn of this.connections) conn.sweep(time)
  }
}

function appFailed(res: Response, error: unknown): void {
  res.fail(error)
}

/** An option that must be an integer of at least `min`. */
function atLeast(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${name} must be an integer >= ${min}: ${value}`)
  return value
}

/** Creates a server for `app`; call `listen` to start it. */
export function createServer(app: App | NodeApp | FetchHandler | object, options?: ServerOptions): Server {
  return new Server(app, options)
}
