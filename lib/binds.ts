// Where a server listens: `HOST:PORT`, `[IPv6]:PORT`, `unix:PATH` or `fd://N` (a socket passed
// in by systemd's socket activation), as gunicorn's --bind takes them; and binding a net.Server
// to one, with the unix socket file's upkeep (a stale file replaced, a live one left alone).
import fs from 'node:fs'
import net from 'node:net'

/**
 * A place to listen. A tcp bind's host '' is every interface as node:net chooses by default
 * (`::` with IPv4 too where the system has IPv6, else 0.0.0.0).
 */
export type Bind =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string }
  | { kind: 'fd'; fd: number }

/** A bind that cannot be parsed or used; `code` is node's (EADDRINUSE...) when one applies. */
export class BindError extends Error {
  readonly code: string | undefined
  constructor(message: string, code?: string) {
    super(message)
    this.name = 'BindError'
    this.code = code
  }
}

const PORT = /^\d{1,5}$/

/** Parses one --bind value; throws BindError with a one-line reason. */
export function parseBind(text: string): Bind {
  if (text.startsWith('unix:')) {
    const path = text.slice(5)
    if (path.length === 0) throw new BindError(`no socket path in '${text}'`)
    return { kind: 'unix', path }
  }
  if (text.startsWith('fd://')) {
    const fd = text.slice(5)
    if (!/^\d+$/.test(fd) || !Number.isSafeInteger(Number(fd))) throw new BindError(`not a file descriptor number in '${text}'`)
    return { kind: 'fd', fd: Number(fd) }
  }
  let host: string
  let port: string
  if (text.startsWith('[')) {
    const end = text.indexOf(']')
    if (end === -1) throw new BindError(`unclosed '[' in '${text}'`)
    host = text.slice(1, end)
    const rest = text.slice(end + 1)
    if (rest !== '' && !rest.startsWith(':')) throw new BindError(`expected ':PORT' after ']' in '${text}'`)
    port = rest === '' ? '8080' : rest.slice(1)
  } else {
    const colon = text.lastIndexOf(':')
    if (colon !== -1 && text.indexOf(':') !== colon) throw new BindError(`an IPv6 address needs brackets: '[${text}]'`)
    host = colon === -1 ? text : text.slice(0, colon)
    port = colon === -1 ? '8080' : text.slice(colon + 1)
  }
  if (!PORT.test(port) || Number(port) > 65535) throw new BindError(`port must be 0-65535 in '${text}'`)
  if (host === '') host = '0.0.0.0'
  return { kind: 'tcp', host, port: Number(port) }
}

/** How a bind is shown in log lines: `127.0.0.1:8080`, `[::1]:8080`, `unix:/run/p.sock`, `fd://3`. */
export function formatBind(bind: Bind): string {
  if (bind.kind === 'unix') return `unix:${bind.path}`
  if (bind.kind === 'fd') return `fd://${bind.fd}`
  return bind.host.includes(':') ? `[${bind.host}]:${bind.port}` : `${bind.host}:${bind.port}`
}

/** How a listen() goes, beyond the bind itself. */
export interface ListenOptions {
  /** Pending-connection queue; absent: the system's default. */
  backlog?: number
  /**
   * unix: binds: the umask the socket file is created with (e.g. 0o007 for a group-writable
   * socket), applied only around the bind. Absent: the process's. Under node:cluster the
   * primary binds for its workers, so the umask must be set there.
   */
  umask?: number
  /**
   * unix: binds: the socket file was already made ready by prepareUnixSocket() (as the cluster's
   * primary does once for all its workers): listen does not check it again.
   */
  prepared?: boolean
  /** node:net's `exclusive`: under node:cluster, this worker binds a socket of its own. */
  exclusive?: boolean
  /**
   * tcp binds: SO_REUSEPORT, so that several processes bind the same port and the kernel spreads
   * connections (node:net's `reusePort`: Node.js >= 22.12 or >= 23.1, on Linux and the BSDs).
   * On an older Node.js listen fails saying so, rather than binding without it. Ignored by
   * unix: and fd:// binds.
   */
  reusePort?: boolean
  /**
   * A listening socket's handle bound by another process and passed over IPC (the CLI's arbiter
   * binds once and hands it to each worker): listened on as it is, the bind only naming it.
   */
  handle?: object
}

let reusePortProbe: Promise<boolean> | undefined

/**
 * True when this Node.js's net.Server.listen knows `reusePort` (Node.js >= 22.12 or >= 23.1) and
 * the system has SO_REUSEPORT. Found out, not guessed from the version: two listeners try to
 * share a loopback port, once per process (an older Node.js ignores the option, so the second
 * one fails with EADDRINUSE).
 */
export function reusePortSupported(): Promise<boolean> {
  reusePortProbe ??= new Promise<boolean>((resolve) => {
    const first = net.createServer()
    const second = net.createServer()
    const done = (supported: boolean): void => {
      first.close()
      second.close()
      resolve(supported)
    }
    const options = { host: '127.0.0.1', port: 0, exclusive: true, reusePort: true } as net.ListenOptions
    const failed = (): void => done(false)
    first.once('error', failed)
    second.once('error', failed)
    first.listen(options, () => {
      second.listen({ ...options, port: (first.address() as net.AddressInfo).port }, () => done(true))
    })
  })
  return reusePortProbe
}

/**
 * Makes `server` listen on `bind`; resolves once it does. Errors are one line: node's own for
 * tcp binds (`listen EADDRINUSE: address already in use 127.0.0.1:8080`), the bind named first
 * for the others.
 */
export async function listenOn(server: net.Server, bind: Bind, options: ListenOptions = {}): Promise<void> {
  // (An older Node.js ignores `reusePort`: it is refused below rather than silently dropped.)
  const listen: net.ListenOptions & { reusePort?: boolean } = { backlog: options.backlog, exclusive: options.exclusive }
  if (bind.kind === 'tcp') {
    listen.host = bind.host === '' ? undefined : bind.host
    listen.port = bind.port
    listen.reusePort = options.reusePort
    if (options.reusePort === true && !(await reusePortSupported())) {
      throw new BindError(`reusePort needs Node.js >= 22.12 (this is ${process.version})`)
    }
  } else if (bind.kind === 'unix') {
    if (options.prepared !== true && options.handle === undefined) await prepareUnixSocket(bind.path)
    listen.path = bind.path
  } else {
    ;(listen as { fd?: number }).fd = bind.fd
  }
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => {
      reject(bind.kind === 'tcp' ? error : new BindError(`${formatBind(bind)}: ${error.message}`, error.code))
    }
    server.once('error', failed)
    // The bind itself is synchronous in listen() (a path needs no lookup): the umask covers it
    // and nothing else the process creates.
    const umask = bind.kind === 'unix' && options.umask !== undefined ? process.umask(options.umask) : -1
    const listening = (): void => {
      server.off('error', failed)
      resolve()
    }
    try {
      // node takes a handle's backlog as an argument, not from an options object.
      if (options.handle === undefined) server.listen(listen, listening)
      else if (options.handle.constructor.name !== 'Pipe') server.listen(options.handle, options.backlog, listening)
      else {
        // node's listen(handle) takes a TCP handle only (a unix socket's, a Pipe, it would ask
        // node:cluster's primary for by its fd number, which means another file there): it is
        // set up as node:cluster's own workers set up the handles their primary sends.
        const internal = server as net.Server & { _handle: object | null; _listen2(address: null, port: number, addressType: number, backlog?: number): void }
        server.once('listening', listening)
        internal._handle = options.handle
        internal._listen2(null, -1, -1, options.backlog)
      }
    } finally {
      if (umask !== -1) process.umask(umask)
    }
  })
}

// A connect to a socket file nobody listens on fails so (ENOENT: the file went meanwhile).
const STALE = new Set(['ECONNREFUSED', 'ENOENT'])

/**
 * Makes `path` ready to be bound: nothing there is fine; a socket file that nothing answers on
 * (left by a server that was killed) is removed; a socket something answers on is an error
 * (EADDRINUSE), and so is any other kind of file, which is never removed. Under node:cluster
 * the primary calls this once before its workers listen (with `prepared: true`).
 */
export async function prepareUnixSocket(path: string): Promise<void> {
  let stats: fs.Stats
  try {
    stats = fs.lstatSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw new BindError(`unix:${path}: ${(error as Error).message}`, (error as NodeJS.ErrnoException).code)
  }
  if (!stats.isSocket()) throw new BindError(`unix:${path}: the path exists and is not a socket (it is left as it is)`, 'EEXIST')
  const answered = await new Promise<string | null>((resolve) => {
    const probe = net.connect({ path })
    probe.once('connect', () => {
      probe.destroy()
      resolve('something answers on it')
    })
    // Any other failure (EAGAIN: a live server's queue is full) may be a live server: keep it.
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(STALE.has(error.code as string) ? null : `connecting to it fails with ${error.code}`))
  })
  if (answered !== null) throw new BindError(`unix:${path}: address already in use (${answered})`, 'EADDRINUSE')
  removeUnixSocket(path)
}

/**
 * Removes the socket file at `path` if there is one (at exit, by whoever bound it: a server's
 * own close removes it already). Any other kind of file is left alone.
 */
export function removeUnixSocket(path: string): void {
  try {
    if (fs.lstatSync(path).isSocket()) fs.unlinkSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
}
