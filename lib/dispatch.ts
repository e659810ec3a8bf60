// App calls go through one fastq queue whose concurrency is --threads: at most that many app
// calls are in flight. A call holds its slot until its response is complete or its client is
// gone; a call whose request body is still arriving takes none (it waits on its client, and a
// connection has at most one such call). When the queue backs up past a bound, the connections
// that feed it stop reading. Requests are shed (503) when the event loop is saturated and they
// have waited too long behind it (LoadGuard), or, with maxQueue, when too many calls wait.
import fastq from 'fastq'
import { LoadGuard, WARM_CALLS } from './overload.js'
import { loopClock } from './loop-clock.js'
import type { Response } from './response.js'
import type { Request } from './request.js'
import type { Log } from './log.js'

/** Calls the app for an exchange, through its interface's adapter. */
export type Invoke = (res: Response) => void

/**
 * Told of every app call as it starts and when its synchronous part returns: the arbiter's
 * worker records the request line where a watchdog thread can read it while the loop is blocked.
 */
export interface AppCallWatch {
  enter(req: Request, at: number): void
  leave(): void
}

/** A connection that stopped reading because the queue was full. */
export interface Blockable {
  unblock(): void
}

// Load shedding says so in one WARN line a second at most.
const WARN_INTERVAL = 1000
/** While the loop is saturated, at least one app call in this many is timed for the guard. */
const MAX_TIME_EVERY = 256

export class Dispatcher {
  private readonly queue: fastq.queue<Response, void>
  private readonly invoke: Invoke
  private readonly maxQueued: number
  /** Calls that may wait for a slot before new ones are refused with 503; -1: no limit. */
  private readonly maxQueue: number
  private readonly log: Log
  private blocked: Blockable[]
  private readonly taskDone: () => void
  /** Requests refused since the last WARN line, and when that line was written. */
  private shedCount: number
  private warnedAt: number
  private readonly watch: AppCallWatch | null
  /** App calls started so far (the arbiter recycles a worker after --max-requests). */
  calls: number
  /** Calls in flight outside the queue: their request bodies are still arriving. */
  streaming: number
  readonly guard: LoadGuard
  /** Calls until the next one timed for the guard (while the loop is saturated). */
  private untilTimed: number
  private readonly streamingDone: () => void

  constructor(invoke: Invoke, concurrency: number, maxQueued: number, maxQueue: number, log: Log, watch: AppCallWatch | null = null) {
    this.invoke = invoke
    this.maxQueued = maxQueued
    this.maxQueue = maxQueue
    this.log = log
    this.blocked = []
    this.queue = fastq<Dispatcher, Response, void>(this, work, concurrency)
    this.taskDone = () => this.afterTask()
    this.shedCount = 0
    this.warnedAt = 0
    this.watch = watch
    this.calls = 0
    this.streaming = 0
    this.guard = new LoadGuard()
    this.untilTimed = 1
    this.streamingDone = () => {
      this.streaming--
    }
  }

  /** Queues a call of the app for `res`. Returns false when the queue is over its bound. */
  push(res: Response): boolean {
    if (!res.req.complete) {
      // Its app reads the body as it comes: waiting on a client holds nothing others need.
      this.streaming++
      this.call(res, this.streamingDone)
      return true
    }
    this.queue.push(res, this.taskDone)
    return this.queue.length() <= this.maxQueued
  }

  /**
   * Load shedding: true when a new request is to be refused (503) rather than served: the event
   * loop is saturated and the request may have waited longer behind it than the guard's budget,
   * or (maxQueue) every slot is busy and `maxQueue` calls already wait.
   */
  overloaded(): boolean {
    const queue = this.queue
    const queueFull = this.maxQueue >= 0 && queue.running() >= queue.concurrency && queue.length() >= this.maxQueue
    if (!queueFull && this.guard.admit()) return false
    this.shedCount++
    const now = Date.now()
    if (now - this.warnedAt >= WARN_INTERVAL) {
      const why = queueFull
        ? `${queue.concurrency} app calls running and ${queue.length()} waiting`
        : `the event loop is saturated (requests wait ${Math.round(this.guard.waited())} ms behind it, over ${Math.round(this.guard.budget)} ms)`
      this.log.warn(`Overloaded: ${why}; new requests get 503 (${this.shedCount} since the last warning)`)
      this.warnedAt = now
      this.shedCount = 0
    }
    return true
  }

  /** `conn` will be unblocked once the queue has drained to half its bound. */
  block(conn: Blockable): void {
    this.blocked.push(conn)
  }

  /** Calls waiting for a slot. */
  get waiting(): number {
    return this.queue.length()
  }

  /** Calls in flight. */
  get running(): number {
    return this.queue.running() + this.streaming
  }

  private afterTask(): void {
    if (this.blocked.length > 0 && this.queue.length() <= this.maxQueued >> 1) {
      const blocked = this.blocked
      this.blocked = []
      for (const conn of blocked) conn.unblock()
    }
  }

  /** Runs the app for `res`; errors, thrown or rejected, go to the response's connection. */
  call(res: Response, release: () => void): void {
    // Its client left while it waited: the app never hears of it.
    if (res.destroyed) {
      release()
      return
    }
    res.release = release
    res.calledAt = Date.now()
    this.calls++
    // While the loop is saturated, the time the app's synchronous part keeps the loop's thread
    // tells the guard whether shedding would save anything (lib/loop-clock.ts: not wall time,
    // which counts the moments the machine runs other processes). About one call a millisecond
    // of the app's time is timed (every call when calls cost a millisecond or more; one in a
    // hundred when they cost 10 µs), none of the first WARM_CALLS nor in the server's first
    // seconds (their code is being compiled: see WARM_MS).
    const guard = this.guard
    let timed = false
    let started = 0
    if (guard.saturated && guard.warm && this.calls > WARM_CALLS && --this.untilTimed <= 0) {
      timed = true
      started = loopClock()
    }
    const watch = this.watch
    if (watch === null) {
      this.invoke(res)
    } else {
      watch.enter(res.req, res.calledAt)
      this.invoke(res)
      watch.leave()
    }
    if (timed) {
      const ms = loopClock() - started
      guard.spent(ms)
      this.untilTimed = ms >= 1 ? 1 : Math.ceil(1 / Math.max(ms, 1 / MAX_TIME_EVERY))
    }
  }
}

function work(this: Dispatcher, res: Response, done: fastq.done<void>): void {
  this.call(res, done as () => void)
}

