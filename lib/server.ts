// The public library API: createServer(app, options), listen, address, close.
import net from 'node:net'
import tls from 'node:tls'
import type { Socket } from 'node:net'
import { formatBind, listenOn, parseBind, type Bind, type ListenOptions } from './binds.js'
import { tlsServerOptions, type TlsOptions } from './tls-options.js'
import { Connection, ignore, type ConnectionSettings, type UpgradeHandler } from './connection.js'
import { Dispatcher, type AppCallWatch } from './dispatch.js'
import { DEFAULT_LIMITS, type ParserLimits } from './http/parser.js'
import { Log } from './log.js'
import { invokeNative, type App } from './interfaces/native.js'
import { invokeNode, upgradeRequest, type NodeApp, type NodeOptions } from './interfaces/node/adapter.js'
import { invokeFetch, type FetchHandler } from './interfaces/fetch.js'
import { installLightResponse } from './interfaces/light-response.js'
import { resolveApp, type InterfaceName, type ResolvedApp } from './interfaces/auto.js'
import type { Response } from './response.js'
import type { Request } from './request.js'
import { AllowList } from './proxy.js'
import { AcceptBurst } from './accept-burst.js'
import { acceptDirect, type DirectReads } from './direct-reads.js'
import { readControl, type ReadControl } from './accept-burst.js'
import { defaultMaxConnections } from './fd-limit.js'

export type { App } from './interfaces/native.js'
export type { NodeApp } from './interfaces/node/adapter.js'
export type { FetchHandler, FetchInfo } from './interfaces/fetch.js'
export { native, InterfaceError, type InterfaceName } from './interfaces/auto.js'
export type { Request } from './request.js'
export type { Response } from './response.js'
export { HttpError } from './http/errors.js'
export type { UpgradeHandler } from './connection.js'
export type { Forwarded } from './proxy.js'
export { DEFAULT_FORWARDED_ALLOW_IPS } from './proxy.js'
export { Log, LogFileError, AccessFormatError, type LogOptions, type LogLevel } from './log.js'
export { BindError, formatBind, parseBind, prepareUnixSocket, removeUnixSocket, reusePortSupported } from './binds.js'
export type { Bind, ListenOptions } from './binds.js'
export { TlsConfigError, tlsOptionsFromFiles, type ClientCerts, type TlsFiles, type TlsOptions } from './tls-options.js'
export { removePidFile, writePidFile } from './pidfile.js'
export { defaultMaxConnections, openFileLimit } from './fd-limit.js'
export type { AppCallWatch } from './dispatch.js'

export interface ServerOptions extends Partial<ParserLimits> {
  /**
   * How the app is called: `native` (Pegasus's own req and res), `node` (node:http's
   * IncomingMessage and ServerResponse), or `auto` (default): chosen by the app's shape, see
   * docs/apps.md's rules.
   */
  interface?: InterfaceName
  /**
   * The fetch interface: while such a server exists, `globalThis.Response` is Pegasus's
   * LightResponse, a Response that only records a text body and plain fields until someone
   * reads more of it (default true; false keeps undici's). See docs/apps.md, fetch handlers.
   */
  lightResponse?: boolean
  /**
   * Most app calls in flight at once (default: as many as `maxConnections`, so that it never
   * throttles an app that awaits I/O). A call whose request body is still arriving is not
   * counted: it waits on its client.
   */
  threads?: number
  /**
   * Most connections open at once (default: the open-file limit less an eighth of it, at least
   * 128, kept for the app's own files and sockets). Past it, the oldest idle connection is
   * closed to make room; when none is idle, new connections wait unread until one closes.
   */
  maxConnections?: number
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
  /**
   * Peers trusted to say who the client is: addresses, IPv4/IPv6 CIDRs or `*`, as a list or a
   * comma-separated string (default `['127.0.0.1', '::1']`; `[]`: none). From them only,
   * X-Forwarded-For, -Proto, -Host and Forwarded set `req.remoteAddress`, the access log's
   * client, the fetch request's URL and the node interface's `req.socket` view.
   */
  forwardedAllowIps?: string | readonly string[]
  /**
   * Every connection starts with a PROXY protocol header (v1 or v2) from a load balancer in
   * forwardedAllowIps; its client becomes the connection's peer. A connection without a valid
   * one is closed, with a WARN line (default false).
   */
  proxyProtocol?: boolean
  /**
   * Serve HTTPS: node:tls's server options (`cert`, `key`, `ca`, `ciphers`, `minVersion`...) and
   * `clientCerts` ('none', 'optional' or 'required'). Every bind of the server speaks TLS; ALPN
   * offers http/1.1 only; a handshake must finish within `headersTimeout` (unless
   * `handshakeTimeout` is given). Apps see `req.secure` (native), `req.socket.encrypted` (node)
   * and `https:` URLs (fetch). `tlsOptionsFromFiles()` builds these from PEM files.
   */
  tls?: TlsOptions
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

/**
 * The default number of app calls in flight: as many as connections may be open, since an app
 * call that awaits I/O costs a few hundred bytes, not a thread (overload is the load guard's).
 */
export function defaultThreads(): number {
  return defaultMaxConnections()
}

// Running out of file descriptors says so in one WARN line a second at most.
const EMFILE_WARN_INTERVAL = 1000
/** Idle connections looked at, at most, for one to close when the bound is reached. */
const EVICT_SCAN = 64

/** A connection accepted past the bound, unread until another one closes. */
interface Waiting {
  readonly socket: Socket
  readonly direct: DirectReads | null
  readonly control: ReadControl | null
  readonly since: number
}

export class Server {
  readonly threads: number
  /** The interface the app is served with, and how `auto` recognised it. */
  readonly app: Pick<ResolvedApp, 'interface' | 'label'>
  private readonly ready: Promise<unknown> | null
  /** What the node interface reads per response (node's Keep-Alive header). */
  private readonly nodeOptions: NodeOptions
  /** One listening socket per listen() call. */
  private readonly listeners: net.Server[]
  /** What each listener was asked to listen on (same order). */
  private readonly binds: Bind[]
  /** Performs the handshake of every accepted socket when the server speaks TLS. */
  private readonly tls: tls.Server | null
  private readonly acceptListener: (socket: Socket) => void
  private readonly settings: ConnectionSettings
  private readonly connections: Set<Connection>
  readonly maxConnections: number
  /** Connections accepted past maxConnections, oldest first, and how many may wait so. */
  private readonly waiting: Waiting[]
  private readonly maxWaiting: number
  private emfileWarnedAt: number
  /** Accepts first while connections arrive turn after turn (plain TCP listeners only). */
  private readonly burst: AcceptBurst
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
    this.maxConnections = atLeast('maxConnections', options.maxConnections ?? defaultMaxConnections(), 1)
    this.waiting = []
    // Waiting connections hold descriptors too: a sixteenth of the bound (by default well within
    // what is kept for the app).
    this.maxWaiting = Math.max(1, this.maxConnections >> 4)
    this.emfileWarnedAt = 0
    this.burst = new AcceptBurst(this.connections)
    const limits: ParserLimits = {
      maxRequestLineSize: atLeast('maxRequestLineSize', options.maxRequestLineSize ?? DEFAULT_LIMITS.maxRequestLineSize, 1),
      maxHeadSize: atLeast('maxHeadSize', options.maxHeadSize ?? DEFAULT_LIMITS.maxHeadSize, 1),
      maxHeaderSize: atLeast('maxHeaderSize', options.maxHeaderSize ?? DEFAULT_LIMITS.maxHeaderSize, 1),
      maxHeaderCount: atLeast('maxHeaderCount', options.maxHeaderCount ?? DEFAULT_LIMITS.maxHeaderCount, 0),
      maxBodySize: atLeast('maxBodySize', options.maxBodySize ?? DEFAULT_LIMITS.maxBodySize, 0),
      permissiveTarget: options.permissiveTarget ?? false,
    }
    const log = options.log ?? new Log()
    const maxQueue = options.maxQueue === undefined ? -1 : atLeast('maxQueue', options.maxQueue, 0)
    const keepAliveTimeout = atLeast('keepAliveTimeout', options.keepAliveTimeout ?? DEFAULT_KEEP_ALIVE_TIMEOUT, 0)
    let invoke: (res: Response) => void
    // The node interface counts body bytes only for an access format that shows them.
    const nodeOptions: NodeOptions = { keepAliveTimeout, countBytes: (options.accessLog ?? false) && log.countsBytes }
    this.nodeOptions = nodeOptions
    if (resolved.interface === 'native') {
      const handler = resolved.handler as App
      invoke = (res) => invokeNative(handler, res.req, res, appFailed)
    } else if (resolved.interface === 'node') {
      const handler = resolved.handler as NodeApp
      invoke = (res) => invokeNode(handler, res, nodeOptions, appFailed)
    } else {
      const handler = resolved.handler as FetchHandler
      if (options.lightResponse ?? true) installLightResponse()
      invoke = (res) => invokeFetch(handler, res, res.req.secure ? 'https' : 'http', appFailed)
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
      forwardedAllowIps: new AllowList(options.forwardedAllowIps),
      proxyProtocol: options.proxyProtocol ?? false,
      closed: (conn) => this.connectionClosed(conn),
    }
    this.sweeper = null
    this.closing = null
    this.allClosed = null
    this.listeners = []
    this.binds = []
    this.acceptListener = (socket) => this.accept(socket)
    this.tls = null
    if (options.tls !== undefined) {
      const tlsOptions = tlsServerOptions(options.tls, this.settings.headersTimeout)
      // Never listens itself: the listeners hand it their sockets, it hands back TLS sockets.
      this.tls = tls.createServer({ ...tlsOptions, allowHalfOpen: true }, this.acceptListener)
      this.tls.on('tlsClientError', (error: Error, socket: tls.TLSSocket) => handshakeFailed(log, error, socket))
      const tlsServer = this.tls
      this.acceptListener = (socket) => tlsServer.emit('connection', socket)
    }
    if (options.upgrade !== undefined) this.setUpgradeHandler(options.upgrade)
  }

  /**
   * Starts listening (once the app is ready); resolves once the socket is bound. Either a port
   * and host (node's default host: every interface), or a Bind (`{ kind: 'unix', path }`...) or
   * its text (`'unix:/run/app.sock'`, `'[::1]:8443'`, `'fd://3'`, as parseBind reads it). Call
   * it once per place to listen on: every listener serves the same app with the same settings.
   */
  listen(port?: number, host?: string): Promise<void>
  listen(bind: Bind | string, options?: ListenOptions): Promise<void>
  async listen(where: number | Bind | string = 8080, options?: string | ListenOptions): Promise<void> {
    let bind: Bind
    let listenOptions: ListenOptions
    if (typeof where === 'number') {
      bind = { kind: 'tcp', host: (options as string | undefined) ?? '', port: where }
      listenOptions = {}
    } else {
      bind = typeof where === 'string' ? parseBind(where) : where
      listenOptions = (options as ListenOptions | undefined) ?? {}
    }
    if (this.ready !== null) await this.ready
    const listener = net.createServer({ allowHalfOpen: true, noDelay: true }, this.acceptListener)
    await listenOn(listener, bind, { backlog: this.backlog, ...listenOptions })
    if (this.closing !== null) {
      // close() came while this bind was under way: it must not outlive the server.
      listener.close()
      throw new Error(`The server was closed while it was binding ${formatBind(bind)}`)
    }
    listener.on('error', (error) => this.listenerFailed(bind, error))
    // Plain connections read straight into their Connection; TLS ones belong to the TLS layer.
    if (this.tls === null) acceptDirect(listener, (socket, reads) => this.accept(socket, reads))
    this.listeners.push(listener)
    this.binds.push(bind)
    this.startSweeping()
  }

  /** The first TCP address listened on (port 0 resolved to the real one). */
  address(): ServerAddress {
    for (const listener of this.listeners) {
      const address = listener.address()
      if (address !== null && typeof address !== 'string') return { address: address.address, port: address.port, family: address.family }
    }
    throw new Error('The server is not listening')
  }

  /**
   * Every place listened on, in listen() order, as binds: tcp ones with their real address and
   * port (an fd:// of a TCP socket included), unix ones with their path, an fd:// of a unix
   * socket as given.
   */
  addresses(): Bind[] {
    const binds: Bind[] = []
    for (let i = 0; i < this.listeners.length; i++) {
      const address = this.listeners[i].address()
      if (address !== null && typeof address !== 'string') binds.push({ kind: 'tcp', host: address.address, port: address.port })
      else binds.push(this.binds[i])
    }
    return binds
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
    this.settings.dispatcher.guard.start()
  }

  /**
   * An accept that failed: out of file descriptors (EMFILE, ENFILE: libuv has already closed the
   * connections it could not take, and the listener goes on) is one WARN line a second; anything
   * else an ERROR line.
   */
  private listenerFailed(bind: Bind, error: NodeJS.ErrnoException): void {
    const log = this.settings.log
    if (error.code !== 'EMFILE' && error.code !== 'ENFILE') {
      log.error(`Server socket error on ${formatBind(bind)}`, error)
      return
    }
    const now = Date.now()
    if (now - this.emfileWarnedAt < EMFILE_WARN_INTERVAL) return
    this.emfileWarnedAt = now
    log.warn(
      `Out of file descriptors (${error.code}) with ${this.connections.size} connections open on ${formatBind(bind)}: ` +
        `new connections are refused until some close (lower --max-connections, or raise ulimit -n)`,
    )
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
      for (const listener of this.listeners) listener.close()
      this.burst.release()
      for (const waiting of this.waiting) waiting.socket.destroy()
      this.waiting.length = 0
      for (const conn of this.connections) conn.shutdown(closeIdle)
      this.checkClosed()
    })
    return this.closing
  }

  private accept(socket: net.Socket, direct: DirectReads | null = null): void {
    if (this.closing !== null) {
      socket.destroy()
      return
    }
    if (this.connections.size < this.maxConnections && this.waiting.length === 0) {
      this.admit(socket, direct)
      return
    }
    // At the bound: in line behind those already waiting, while idle connections make room.
    if (this.waiting.length >= this.maxWaiting) this.makeRoom()
    this.wait(socket, direct)
    this.makeRoom()
  }

  private admit(socket: net.Socket, direct: DirectReads | null): Connection {
    const conn = new Connection(socket, this.settings, direct)
    this.connections.add(conn)
    this.burst.arrived(conn)
    return conn
  }

  /** Closes idle connections while some wait (each place freed goes to the oldest waiting). */
  private makeRoom(): void {
    while (this.waiting.length > 0 && this.evictIdle());
  }

  /**
   * At the bound: closes the oldest idle connection (no request in flight or arriving), and
   * returns true, or false when none of the oldest EVICT_SCAN is idle. The busy ones looked at
   * go to the back of the line, so the next look starts further on.
   */
  private evictIdle(): boolean {
    const connections = this.connections
    const busy: Connection[] = []
    let evicted = false
    for (const conn of connections) {
      if (conn.idle) {
        conn.destroy()
        evicted = true
        break
      }
      busy.push(conn)
      if (busy.length === EVICT_SCAN) break
    }
    for (const conn of busy) {
      connections.delete(conn)
      connections.add(conn)
    }
    return evicted
  }

  /**
   * No room: the connection waits unread, its descriptor its only cost, until another closes or
   * goes idle; past maxWaiting of them (or when its client's wait outlasts the head timeout) it
   * is closed.
   */
  private wait(socket: net.Socket, direct: DirectReads | null): void {
    if (this.waiting.length >= this.maxWaiting) {
      socket.destroy()
      return
    }
    socket.on('error', ignore)
    const control = readControl(socket)
    if (control !== null) control.readStop()
    /* c8 ignore next: a TLS socket (its reads belong to the TLS layer) waiting past the bound; not tested yet */
    else socket.pause()
    this.waiting.push({ socket, direct, control, since: Date.now() })
  }

  private connectionClosed(conn: Connection): void {
    this.connections.delete(conn)
    if (this.closing !== null) this.checkClosed()
    else if (this.waiting.length > 0 && this.connections.size < this.maxConnections) this.admitWaiting()
  }

  /** A connection closed: the oldest one waiting takes its place. */
  private admitWaiting(): void {
    const next = this.waiting.shift() as Waiting
    this.admit(next.socket, next.direct)
    if (next.control !== null) next.control.readStart()
    /* c8 ignore next: a TLS socket, as in wait() */
    else next.socket.resume()
  }

  private checkClosed(): void {
    // (Listeners stop listening within close(); only connections are waited for.)
    if (this.connections.size > 0 || this.allClosed === null) return
    if (this.sweeper !== null) clearInterval(this.sweeper)
    this.sweeper = null
    this.settings.dispatcher.guard.stop()
    const resolve = this.allClosed
    this.allClosed = null
    this.settings.log.flush()
    resolve()
  }

  private sweep(): void {
    const time = Date.now()
    for (const conn of this.connections) conn.sweep(time)
    this.sweepWaiting(time)
  }

  /**
   * Connections that waited past the head timeout are closed (their clients have given up); the
   * others take the places of connections that have gone idle since.
   */
  private sweepWaiting(time: number): void {
    const waiting = this.waiting
    const limit = this.settings.headersTimeout
    while (waiting.length > 0 && limit > 0 && time - waiting[0].since >= limit) (waiting.shift() as Waiting).socket.destroy()
    this.makeRoom()
  }
}

/**
 * A client whose handshake failed (plain HTTP to the TLS port, no or a bad client certificate,
 * a handshake not finished in time) is only dropped: that is its problem, not the server's.
 */
/** A failed TLS handshake is the client's business: one DEBUG line (--log-level debug), no more. */
function handshakeFailed(log: Log, error: Error, socket: tls.TLSSocket): void {
  log.debug(`TLS handshake failed with ${socket.remoteAddress ?? '-'}:${socket.remotePort ?? '-'}: ${error.message}`)
  socket.destroy()
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
