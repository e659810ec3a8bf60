// A worker process of the arbiter: loads the app, serves it on the sockets the arbiter gives it,
// beats, and drains when told to. It is today's single-process server, with the arbiter's
// protocol around it (messages in lib/cli/protocol.ts).
import { formatBind } from '../binds.js'
import { tlsOptionsFromFiles, type TlsOptions } from '../tls-options.js'
import { InterfaceError } from '../interfaces/auto.js'
import { loadApp, LoadError } from '../loader.js'
import { Log } from '../log.js'
import { createServer, type Server, type ServerOptions } from '../server.js'
import { beatInterval, type FromWorker, type ToWorker } from './protocol.js'
import type { Settings } from './settings.js'
import { Watchdog } from './watchdog.js'

/** The library options the settings map onto. */
export function serverOptions(settings: Settings, log: Log, watch: Watchdog | undefined): ServerOptions {
  return {
    interface: settings.interface,
    threads: settings.threads,
    backlog: settings.backlog,
    accessLog: settings.accessLog,
    log,
    watch,
    forwardedAllowIps: settings.forwardedAllowIps,
    proxyProtocol: settings.proxyProtocol,
    permissiveTarget: settings.permissiveTarget,
    tls: tlsOf(settings),
    ...settings.tuning,
  }
}

/** The TLS options from --certfile and its companions; undefined without --certfile. */
export function tlsOf(settings: Settings): TlsOptions | undefined {
  if (settings.certfile === null) return undefined
  return tlsOptionsFromFiles({
    certfile: settings.certfile,
    keyfile: settings.keyfile,
    caCerts: settings.caCerts,
    certReqs: settings.certReqs,
    ciphers: settings.sslCiphers,
    minVersion: settings.sslMinVersion,
  })
}

/** The log of a worker (access lines too) or of the arbiter (no access lines of its own). */
export function logOf(settings: Settings): Log {
  return new Log({
    level: settings.logLevel,
    accessLogfile: settings.accessLogfile,
    errorLogfile: settings.errorLogfile,
    accessLogFormat: settings.accessLogFormat,
    accessLogJson: settings.accessLogJson,
  })
}

function send(message: FromWorker): Promise<void> {
  return new Promise((resolve) => (process.send as NonNullable<typeof process.send>)(message, undefined, {}, () => resolve()))
}

/** Tells the arbiter why this worker cannot serve, then exits 1. */
async function failBoot(log: Log, message: string, certain: boolean): Promise<never> {
  log.flush()
  await send({ t: 'fail', message, certain })
  process.exit(1)
}

export async function runWorker(settings: Settings): Promise<void> {
  // The arbiter opened the same files first: an error here would be a race with their removal.
  const log = logOf(settings)
  /** The server, once the app has loaded: one for every bind the arbiter sends. */
  let server: Server | null = null
  let stopping = false

  // Signals meant for the arbiter: a worker neither stops nor opens the inspector on them.
  for (const signal of ['SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGUSR2'] as const) process.on(signal, ignore)
  const reopen = (): void => {
    log.reopen()
    log.info(`Worker (pid:${process.pid}) reopened its log files`)
  }
  process.on('SIGUSR1', reopen)

  /** Graceful: no new connections, requests in flight finish within the grace period. */
  const drain = (keepIdle: boolean, status: number): void => {
    if (stopping) return
    stopping = true
    const exit = (): never => {
      log.flush()
      process.exit(status)
    }
    const timer = setTimeout(() => {
      const left = server?.connectionCount ?? 0
      log.warn(`Worker (pid:${process.pid}) graceful timeout: closing ${left} connection(s) still open`)
      exit()
    }, settings.gracefulTimeout)
    timer.unref()
    void (server === null ? Promise.resolve() : server.close({ keepIdle })).then(exit)
  }
  const quit = (): void => {
    log.flush()
    process.exit(0)
  }
  process.on('SIGTERM', () => drain(false, 0))
  process.on('SIGINT', quit)
  process.on('SIGQUIT', quit)

  // --worker-timeout 0: no watchdog, and no app call recorded for it.
  const watchdog = settings.workerTimeout > 0 ? new Watchdog(settings.workerTimeout, process.pid, settings.errorLogfile) : undefined
  // The beat must go on with every file descriptor taken: rss() reads /proc, and fails with
  // EMFILE then; the last value read is sent instead.
  let rss = 0
  let starved = false
  const beat = (): void => {
    watchdog?.beat()
    try {
      rss = process.memoryUsage.rss()
      starved = false
    } catch (error) {
      // Out of descriptors (EMFILE, ENFILE): the last reading stands, and it is said once.
      if (!starved) log.warn(`Worker (pid:${process.pid}) is out of file descriptors (${(error as NodeJS.ErrnoException).code}): lower --max-connections, or raise ulimit -n`)
      starved = true
    }
    process.send?.({ t: 'beat', requests: server?.requestCount ?? 0, rss } satisfies FromWorker)
  }
  setInterval(beat, beatInterval(settings.workerTimeout)).unref()
  beat()

  // The arbiter's messages are heard from the start: a USR1 passed on while the app loads still
  // reopens the files (a process drops a message no listener hears). Sockets are listened on one
  // after the other, in the order of the binds, once the app has loaded.
  let loaded!: () => void
  let queue = new Promise<void>((resolve) => (loaded = resolve))
  process.on('message', (message: ToWorker, handle?: object) => {
    if (message.t === 'reopen') reopen()
    else if (message.t === 'retire') drain(true, 0)
    else queue = queue.then(() => listen(message, handle))
  })

  let serving: Server
  try {
    const app = await loadApp(settings.app, settings.chdir)
    serving = createServer(app.app as object, serverOptions(settings, log, watchdog))
    // The module's `upgrade` export takes the sockets of WebSocket (and other upgrade) requests.
    if (app.upgrade !== null) serving.setUpgradeHandler(app.upgrade)
    server = serving
  } catch (error) {
    /* c8 ignore next */
    if (!(error instanceof LoadError) && !(error instanceof InterfaceError)) throw error
    return failBoot(log, error.message, true)
  }

  // An exception that escapes the app outside its call (a timer, a stream callback) leaves the
  // process in an unknown state: logged once, no new connection is taken, the requests in flight
  // get the grace period, and the worker exits 1; the arbiter has booted its replacement already.
  let failed = false
  const fail = (error: unknown): void => {
    if (failed) {
      log.error('Another uncaught exception while shutting down', error)
      return
    }
    failed = true
    log.error(`Uncaught exception: no new connections; requests in flight get ${settings.gracefulTimeout / 1000} s, then exit 1`, error)
    process.send?.({ t: 'failing' } satisfies FromWorker)
    drain(true, 1)
  }
  process.on('uncaughtException', fail)
  process.on('unhandledRejection', fail)

  const listen = async (message: Extract<ToWorker, { t: 'listen' }>, handle?: object): Promise<void> => {
    // One server listens on every bind; a unix socket file was made ready by the arbiter.
    const { reusePort } = message
    try {
      await serving.listen(message.bind, { handle, reusePort, exclusive: reusePort, prepared: true })
    } catch (error) {
      return failBoot(log, (error as Error).message, true)
    }
    if (!message.last) return
    const { interface: name, label } = serving.app
    await send({ t: 'ready', listening: serving.addresses().map(formatBind), threads: settings.threads, interface: name, label })
  }
  loaded()
  // A watchdog thread that cannot start (it needs file descriptors, which a flood of connections
  // may have taken) leaves the worker serving without it.
  void watchdog?.ready.then((failed) => {
    /* c8 ignore next: only when the process cannot start a thread (test/arbiter.ts: the thread's failure) */
    if (failed !== null) log.error(`Worker (pid:${process.pid}) runs without its watchdog (--worker-timeout): its thread failed`, failed)
  })
  await send({ t: 'loaded' })
}

function ignore(): void {}
