// The arbiter: the CLI's primary process. It binds the sockets (or lets node:cluster do it),
// boots and supervises the workers (lib/cli/worker.ts) and turns signals into actions, as
// gunicorn's arbiter does. It never loads app code.
import cluster, { type Worker } from 'node:cluster'
import { lookup } from 'node:dns/promises'
import net from 'node:net'
import { constants } from 'node:os'
import { getSystemErrorMap } from 'node:util'
import { formatBind, prepareUnixSocket, removeUnixSocket, reusePortSupported, type Bind } from '../binds.js'
import type { Log } from '../log.js'
import { removePidFile, writePidFile } from '../pidfile.js'
import { beatInterval, type FromWorker, type ToWorker } from './protocol.js'
import { watchTree } from './reloader.js'
import type { Settings } from './settings.js'
import { logOf, tlsOf } from './worker.js'

/** Boot failures in a row after which the arbiter gives up. */
const MAX_BOOT_FAILURES = 5
/** A worker that ignores SIGABRT, or overstays its grace period, gets SIGKILL this much later. */
const KILL_DELAY = 1000
/** File changes within this many ms make one reload (editors write in several steps). */
const RELOAD_DEBOUNCE = 200
/**
 * A worker beats from before it loads the app; until its first beat it is Node.js starting,
 * Pegasus's modules and a --config module loading, which a busy machine makes slow and no app's
 * loop blocks. That start gets this long (or --worker-timeout, if longer): a stuck one still goes.
 */
const START_TIMEOUT = 10_000

interface Slot {
  readonly worker: Worker
  readonly pid: number
  /** Booted by the HUP reload (or the first boot) of this number. */
  readonly generation: number
  state: 'booting' | 'ready'
  /** Told to go (retired, failing, replaced): it no longer counts toward --workers. */
  leaving: boolean
  /** When it was forked, and when it last beat (0: not yet). */
  readonly startedAt: number
  lastBeat: number
  requests: number
  /** Recycled after this many requests (0: never). */
  limit: number
  /** When it was sent SIGABRT for a timeout, or told to drain: SIGKILL follows if it stays. */
  abortedAt: number
  retiredAt: number
  /** SIGKILL came from us: no "perhaps out of memory". */
  killed: boolean
  /** It said why it could not boot. */
  error: string | null
}

const EADDRINUSE = -constants.errno.EADDRINUSE

/** How a bind failure reads: node's own `listen EADDRINUSE: address already in use 127.0.0.1:80`. */
function listenError(errno: number, where: string): string {
  const [code, description] = getSystemErrorMap().get(errno) as [string, string]
  return `listen ${code}: ${description} ${where}`
}

interface ServerHandle {
  getsockname(out: { port?: number }): number
  close(): void
}
const createServerHandle = (net as unknown as {
  _createServerHandle(address: string | null, port: number, addressType: number, fd?: number): ServerHandle | number
})._createServerHandle

/**
 * Binds a socket in this process without listening on it: the workers listen and accept on it,
 * and it stays bound (its queue of connections kept) while workers come and go. A unix socket
 * or an inherited fd too: a worker listens on a passed-over unix socket by its fd.
 */
async function bindHere(bind: Bind): Promise<ServerHandle> {
  let handle: ServerHandle | number
  let where: string
  if (bind.kind === 'unix') {
    handle = createServerHandle(bind.path, -1, -1)
    where = bind.path
  } else if (bind.kind === 'fd') {
    handle = createServerHandle(null, 0, 4, bind.fd)
    where = formatBind(bind)
  } else {
    const { address, family } = await lookup(bind.host)
    handle = createServerHandle(address, bind.port, family)
    where = `${address}:${bind.port}`
    // libuv keeps EADDRINUSE from bind for listen to report; a socket left unbound shows it.
    const out: { port?: number } = {}
    if (typeof handle !== 'number' && bind.port !== 0 && (handle.getsockname(out), out.port !== bind.port)) {
      handle.close()
      handle = EADDRINUSE
    }
  }
  if (typeof handle === 'number') throw new Error(listenError(handle, where))
  return handle
}

export async function runArbiter(settings: Settings): Promise<void> {
  // Files the workers will need are tried here first, so that a bad path or certificate is one
  // line and exit 1, not five boot failures.
  let log: Log
  try {
    if (settings.umask !== undefined) process.umask(settings.umask)
    log = logOf(settings)
  } catch (error) {
    process.stderr.write(`ERROR: ${(error as Error).message}\n`)
    process.exit(1)
  }
  const unixPaths = settings.binds.flatMap((bind) => (bind.kind === 'unix' ? [bind.path] : []))
  /** What the arbiter leaves behind it: the pid file, the unix socket files it bound. */
  let pidWritten = false
  const cleanUp = (): void => {
    for (const path of unixPaths) removeUnixSocket(path)
    if (pidWritten) removePidFile(settings.pid as string)
    log.flush()
  }
  try {
    tlsOf(settings)
    for (const path of unixPaths) await prepareUnixSocket(path)
    if (settings.pid !== null) {
      writePidFile(settings.pid)
      pidWritten = true
    }
  } catch (error) {
    log.error((error as Error).message)
    process.exit(1)
  }
  const interval = beatInterval(settings.workerTimeout)
  const startTimeout = Math.max(settings.workerTimeout, START_TIMEOUT)
  const slots = new Set<Slot>()
  const balance = settings.balance
  let target = settings.workers
  let generation = 0
  /** Lines about workers wait until the startup lines are out. */
  let announced = false
  const pending: string[] = []
  let bootFailures = 0
  let lastError = ''
  let stopping = false
  /** The worker being replaced for --max-requests or --max-worker-memory: one at a time. */
  let recycling: Slot | null = null
  /**
   * The worker booted in its place: the recycled one drains once this one listens, not when any
   * other does (a crash's replacement, a reload's worker), which would leave fewer than --workers.
   */
  let replacement: Slot | null = null
  /** The ports the first worker got, for reusePort workers after it when a bind asked for 0. */
  let ports: number[] | null = null

  const info = (line: string): void => {
    if (announced) log.info(line)
    else pending.push(line)
  }

  // Every signal the arbiter knows, at once: the defaults stop the process (TTIN, TTOU), kill it
  // (HUP, USR2) or open the inspector (USR1).
  process.on('SIGTERM', () => stop(false))
  process.on('SIGINT', () => stop(true))
  process.on('SIGQUIT', () => stop(true))
  process.on('SIGHUP', () => reload('SIGHUP'))
  process.on('SIGTTIN', () => {
    target++
    log.info(`SIGTTIN: ${target} workers`)
    manage()
  })
  process.on('SIGTTOU', () => {
    if (target > 1) target--
    log.info(`SIGTTOU: ${target} worker${target === 1 ? '' : 's'}`)
    manage()
  })
  process.on('SIGUSR1', () => {
    log.reopen()
    log.info('SIGUSR1: reopening log files')
    for (const slot of slots) send(slot, { t: 'reopen' })
  })
  process.on('SIGUSR2', () => log.info('SIGUSR2 ignored: Pegasus does not re-exec itself; SIGHUP reloads the app'))

  if (balance === 'reuseport' && !(await reusePortSupported())) {
    log.error(`--balance reuseport needs Node.js 22.12 or newer (this is ${process.versions.node})`)
    cleanUp()
    process.exit(1)
  }
  // Shared: the arbiter binds and every worker accepts on the same socket. Round-robin: node's
  // cluster binds on the first worker's behalf and hands connections out. reusePort: each
  // worker binds its own socket and the kernel spreads connections.
  let handles: (ServerHandle | undefined)[] = []
  if (balance === 'shared') {
    try {
      handles = await Promise.all(settings.binds.map(bindHere))
    } catch (error) {
      log.error((error as Error).message)
      cleanUp()
      process.exit(1)
    }
  }
  cluster.schedulingPolicy = balance === 'round-robin' ? cluster.SCHED_RR : cluster.SCHED_NONE
  // Node 22.14 can keep SIGUSR1 from opening the inspector from the first instant; before it,
  // the worker's own SIGUSR1 listener does, once installed.
  /* c8 ignore next (one side a Node version) */
  const disable = process.allowedNodeEnvironmentFlags.has('--disable-sigusr1') ? ['--disable-sigusr1'] : []
  cluster.setupPrimary({ execArgv: [...process.execArgv, ...disable] })

  function spawn(): void {
    const worker = cluster.fork()
    const slot: Slot = {
      worker,
      pid: worker.process.pid as number,
      generation,
      state: 'booting',
      leaving: false,
      startedAt: Date.now(),
      lastBeat: 0,
      requests: 0,
      limit: requestLimit(settings.maxRequests, settings.maxRequestsJitter),
      abortedAt: 0,
      retiredAt: 0,
      killed: false,
      error: null,
    }
    slots.add(slot)
    // A recycle waiting for its replacement (the first, or one booted after it failed): this is it.
    if (recycling !== null && replacement === null) replacement = slot
    worker.on('message', (message: FromWorker) => received(slot, message))
    worker.on('exit', (code, signal) => exited(slot, code, signal))
    // With one worker and the first boot the output stays as a single process's was.
    if (announced || settings.workers > 1) info(`Booting worker with pid ${slot.pid}`)
  }

  function send(slot: Slot, message: ToWorker, handle?: ServerHandle): void {
    // A worker that has just exited has no channel left: nothing to tell it.
    if (slot.worker.isConnected()) slot.worker.send(message, handle as net.Server | undefined)
  }

  function received(slot: Slot, message: FromWorker): void {
    switch (message.t) {
      case 'beat':
        slot.lastBeat = Date.now()
        slot.requests = message.requests
        checkLimits(slot, message.rss)
        break
      case 'loaded':
        settings.binds.forEach((bind, i) => {
          // (Round-robin: node:cluster keys its socket by the bind as given; port 0 stays 0.)
          const port = balance === 'reuseport' && bind.kind === 'tcp' && bind.port === 0 && ports !== null ? ports[i] : undefined
          const given = port === undefined ? bind : { ...bind, port }
          send(slot, { t: 'listen', bind: given, reusePort: balance === 'reuseport', last: i === settings.binds.length - 1 }, handles[i])
        })
        break
      case 'ready':
        ready(slot, message)
        break
      case 'fail':
        slot.error = message.message
        // A first boot that cannot succeed (no such module, an address taken): say it once, exit.
        if (message.certain && !announced) {
          log.error(message.message)
          // (It exits by itself; the others, still booting, need not finish.)
          for (const other of slots) if (other !== slot) other.worker.process.kill('SIGKILL')
          cleanUp()
          process.exit(1)
        }
        break
      case 'failing':
        slot.leaving = true
        forget(slot)
        manage()
        break
    }
  }

  function ready(slot: Slot, message: Extract<FromWorker, { t: 'ready' }>): void {
    slot.state = 'ready'
    bootFailures = 0
    if (ports === null) ports = message.listening.map((at) => Number(at.slice(at.lastIndexOf(':') + 1)) || 0)
    if (!announced) {
      for (const at of message.listening) log.info(`Listen at "${at}"`)
      log.info(`Threads: ${message.threads}`)
      log.info(`Interface: ${message.interface} (${message.label})`)
      announced = true
      for (const line of pending) log.info(line)
      pending.length = 0
    }
    // The recycled worker's replacement is listening: it may go now.
    if (recycling !== null && replacement === slot) {
      retire(recycling)
      recycling = null
      replacement = null
    }
    // A reload is over once the whole new generation listens: only then do the old ones drain.
    let fresh = 0
    for (const other of slots) if (other.generation === generation && other.state === 'ready' && !other.leaving) fresh++
    if (fresh >= target) {
      for (const other of slots) if (other.generation < generation && other.retiredAt === 0) retire(other)
    }
    manage()
  }

  function checkLimits(slot: Slot, rss: number): void {
    if (recycling !== null || slot.leaving || slot.state !== 'ready' || stopping) return
    let reason: string
    if (slot.limit > 0 && slot.requests >= slot.limit) reason = `served ${slot.requests} requests (--max-requests)`
    else if (settings.maxWorkerMemory > 0 && rss > settings.maxWorkerMemory * 1024 * 1024) {
      reason = `uses ${Math.round(rss / 1048576)} MiB (--max-worker-memory ${settings.maxWorkerMemory})`
    } else return
    log.info(`Worker (pid:${slot.pid}) ${reason}: recycling it once its replacement listens`)
    slot.leaving = true
    recycling = slot
    manage()
  }

  /**
   * A worker that is going (failing, timed out, exited) leaves its part in a recycle: a recycled
   * one ends it; a replacement that will never listen hands its role to the next worker booted.
   */
  function forget(slot: Slot): void {
    if (recycling === slot) recycling = replacement = null
    if (replacement === slot) replacement = null
  }

  /** Tells a worker to drain: it stops accepting, finishes what it has, and exits. */
  function retire(slot: Slot): void {
    slot.leaving = true
    if (slot.retiredAt !== 0) return
    slot.retiredAt = Date.now()
    send(slot, { t: 'retire' })
  }

  /** Boots or retires workers until as many as wanted count. */
  function manage(): void {
    if (stopping) return
    const counted = [...slots].filter((slot) => !slot.leaving && slot.generation === generation)
    // reusePort and a port 0 bind: the first worker's port is the one the others bind.
    const waitForPort = balance === 'reuseport' && ports === null && settings.binds.some((bind) => bind.kind === 'tcp' && bind.port === 0)
    for (let n = counted.length; n < target; n++) {
      if (waitForPort && slots.size > 0) break
      spawn()
    }
    // The oldest go first, as gunicorn's TTOU does.
    for (let n = counted.length; n > target; n--) retire(counted[counted.length - n])
  }

  function reload(reason: string): void {
    if (stopping) return
    log.info(`${reason}: reloading: booting ${target} new worker${target === 1 ? '' : 's'}; the old ones drain once they listen`)
    generation++
    bootFailures = 0
    manage()
  }

  function exited(slot: Slot, code: number | null, signal: string | null): void {
    slots.delete(slot)
    forget(slot)
    const how = signal !== null ? `was killed by signal ${signal}` : `exited with code ${code}`
    if (stopping) {
      if (slots.size === 0) finish()
      return
    }
    if (slot.state === 'booting') {
      bootFailures++
      lastError = slot.error ?? `Worker (pid:${slot.pid}) ${how} while booting`
      log.error(`Worker (pid:${slot.pid}) failed to boot (${bootFailures} in a row): ${lastError}`)
      if (bootFailures >= MAX_BOOT_FAILURES) return giveUp()
      // Back off: 0.1 s, 0.2 s, 0.4 s...
      setTimeout(manage, 100 * 2 ** (bootFailures - 1))
      return
    }
    if (slot.retiredAt === 0) {
      const oom = signal === 'SIGKILL' && !slot.killed ? ', perhaps out of memory' : ''
      log.error(`Worker (pid:${slot.pid}) ${how}${oom}`)
    }
    manage()
  }

  /** The new workers of a reload never boot: the old ones go on; a first boot: exit 1. */
  function giveUp(): void {
    const old = [...slots].filter((slot) => slot.generation < generation && slot.retiredAt === 0)
    if (old.length > 0) {
      log.error(`Reload failed after ${bootFailures} boot failures; the previous workers go on serving`)
      // (No worker of the failed generation is left: the last failure was the fifth.)
      generation--
      for (const slot of old) slot.leaving = false
      bootFailures = 0
      return
    }
    log.error(`Giving up after ${bootFailures} boot failures in a row: ${lastError}`)
    stopping = true
    for (const slot of slots) slot.worker.process.kill('SIGKILL')
    log.flush()
    cleanUp()
    process.exit(1)
  }

  /** TERM: graceful, within --graceful-timeout. INT and QUIT: at once. */
  function stop(quick: boolean): void {
    if (!stopping) log.info('Shutting down')
    stopping = true
    unwatch()
    for (const slot of slots) slot.worker.process.kill(quick ? 'SIGQUIT' : 'SIGTERM')
    // Between a crash and its replacement's boot (the backoff) there may be no worker at all.
    /* c8 ignore next */
    if (slots.size === 0) finish()
    // Workers end themselves at --graceful-timeout; this is for one whose loop is stuck.
    setTimeout(() => {
      /* c8 ignore next */
      for (const slot of slots) kill(slot)
    }, settings.gracefulTimeout + KILL_DELAY).unref()
  }

  function finish(): void {
    log.flush()
    cleanUp()
    process.exit(0)
  }

  /** A draining worker's own grace timer ends it first, unless its loop is stuck. */
  function overstayed(slot: Slot, now: number): boolean {
    return slot.retiredAt !== 0 && now - slot.retiredAt >= settings.gracefulTimeout + KILL_DELAY
  }

  function kill(slot: Slot): void {
    slot.killed = true
    slot.worker.process.kill('SIGKILL')
  }

  /** Its loop has not beaten for --worker-timeout; or, not started yet, it has not beaten at all. */
  function silent(slot: Slot, now: number): boolean {
    if (slot.lastBeat === 0) return now - slot.startedAt >= startTimeout + interval
    return now - slot.lastBeat >= settings.workerTimeout + interval
  }

  // The heartbeat: a worker whose loop has not beaten for --worker-timeout gets SIGABRT (its
  // watchdog thread has said what it was in), then SIGKILL; a drain that overstays, SIGKILL.
  setInterval(() => {
    const now = Date.now()
    for (const slot of slots) {
      if (slot.abortedAt !== 0) {
        if (now - slot.abortedAt >= KILL_DELAY) kill(slot)
      } else if (settings.workerTimeout > 0 && silent(slot, now)) {
        // (Before its first beat there is no watchdog thread yet to say where it is.)
        const start = `: no heartbeat within ${startTimeout / 1000} s of its start`
        log.error(`WORKER TIMEOUT (pid:${slot.pid})${slot.lastBeat === 0 ? start : ''}`)
        slot.abortedAt = now
        slot.leaving = true
        forget(slot)
        slot.worker.process.kill('SIGABRT')
        manage()
        // (A draining worker ends itself at --graceful-timeout: this is for a stuck one.)
        /* c8 ignore next 3 */
      } else if (overstayed(slot, now)) {
        kill(slot)
      }
    }
  }, interval).unref()

  let unwatch = (): void => {}
  if (settings.reload) {
    let timer: NodeJS.Timeout | null = null
    unwatch = watchTree(settings.chdir, (file) => {
      if (timer !== null) clearTimeout(timer)
      timer = setTimeout(() => {
        timer = null
        reload(`${file} changed`)
      }, RELOAD_DEBOUNCE)
    })
  }

  manage()
}

/** --max-requests with its jitter: N±J, at least 1; 0 stays 0 (never). */
export function requestLimit(max: number, jitter: number, random = Math.random): number {
  if (max <= 0) return 0
  return Math.max(1, max + Math.round((random() * 2 - 1) * jitter))
}
