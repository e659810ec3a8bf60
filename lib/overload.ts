// Overload protection without a flag. One event loop serves every request, so a saturated loop
// shows as requests that wait behind it, not as busy threads. While the loop is saturated (its
// utilization at SATURATED or more over two windows in a row, until two in a row are under CALM)
// and the app's calls are costly, a
// request is admitted only if the time it may have waited behind the loop stays within a budget;
// the rest get a prompt 503 with Retry-After instead of a place in an unbounded queue (the
// kernel's socket buffers).
//
// The budget scales with the app's own unloaded latency (the quickest app calls of the last
// seconds): a queue of 100 ms doubles the latency of an app that awaits a 100 ms query, which is
// the price of a busy server, but multiplies by 50 that of an app that answers in 2 ms. It is
// BUDGET_FACTOR times that latency, and never under MIN_BUDGET. How long a request may have
// waited is bounded by the loop's busy time since the turn before the current one began (it
// arrived after that turn's poll at the earliest) plus the time spent in the current turn.
//
// Shedding pays only where a call costs the loop much more than a 503 does (some tens of
// microseconds): the time the app's synchronous part keeps the loop's thread per call (on that
// thread's own clock, lib/loop-clock.ts), measured while the loop is saturated, must reach
// COSTLY ms. An app that awaits I/O spends little of it (its work is spread over later
// turns, with the other requests'), and a 503 saves nothing there: the loop is busy with clients
// that each wait for their answer (a pool, wrk), served in turn. So is it when the clients shed
// come straight back on the same connection, sooner than SOON ms where Retry-After told them 1 s:
// if most of a batch of FOLLOW_UPS do, shedding only spins, and it stops until the loop is no
// longer saturated.
import { performance } from 'node:perf_hooks'
import { loopClock } from './loop-clock.js'

/** How often the loop's utilization is judged, in ms. */
const WINDOW = 50
/**
 * Utilization from which a window counts as busy; the loop is saturated after two busy windows
 * in a row, so that one stall (a GC, the machine's other work) sheds nothing; after one when
 * the app's calls are already known to be costly (a stall must then fill a whole window).
 */
const SATURATED = 0.9
/**
 * Utilization under which a window counts as calm; saturation ends after two calm windows in a
 * row. Far under SATURATED: shedding itself lowers the loop's utilization (a 503 costs little),
 * and a loop that stopped shedding at the first quieter window would take the whole excess again
 * (100 ms and more of queue) before it was judged saturated anew. Staying saturated costs little
 * when the load has eased: requests that have not waited past the budget are all served.
 */
const CALM = 0.5
/** The budget: a multiple of the app's unloaded latency, with a floor (ms). */
const BUDGET_FACTOR = 5
const MIN_BUDGET = 10
/** The app's unloaded latency is the quickest call of the last 2 periods of this many ms. */
const LATENCY_PERIOD = 5000
/** App calls observed before the budget is believed (until then nothing is shed). */
const MIN_SAMPLES = 16
/**
 * The loop time of the app's synchronous part per call (ms) from which shedding pays. (1 ms
 * shed probes of a slow-read attack whose calls write 1 MiB each, on a busy machine.)
 */
const COSTLY = 1.5
/** App calls a process makes before their cost is timed (the first ones are compiled). */
export const WARM_CALLS = 200
/**
 * Nor are they timed in a server's first WARM_MS: a worker booted under load (a HUP reload, a
 * recycled worker) compiles its code, the node interface's and the app's, on the loop's own
 * thread for its first seconds, and its cold calls looked costly: nginx's clients got 503s
 * during a reload on a busy machine.
 */
const WARM_MS = 5000
/** Calls timed (over one window or more) for a verdict on their cost. */
const MIN_TIMED = 16
/** A request on a connection this soon (ms) after its 503 came straight back. */
const SOON = 100
/** Shed connections' next requests judged together. */
const FOLLOW_UPS = 16

export class LoadGuard {
  /** The loop's utilization reached SATURATED over two windows in a row (see judge()). */
  saturated: boolean
  /** Past the server's first WARM_MS: its calls may be timed (a guard never started is warm). */
  warm: boolean
  private warmAt: number
  private busyBefore: boolean
  private calmBefore: boolean
  /** The loop time of the app's synchronous part per call, timed while saturated, reached COSTLY. */
  costly: boolean
  /** App calls timed (spent()) in this window and their time, and the last window's. */
  private timed: number
  private timedMs: number
  /** Most clients shed came straight back: shedding only spins (until saturation ends). */
  futile: boolean
  private followUps: number
  private straightBack: number
  /** performance.now() at the first request of the current loop turn; 0 between turns. */
  private turnStart: number
  /** How long the requests of the current turn may have waited before it began (ms). */
  private carry: number
  private prevTurnStart: number
  private prevIdle: number
  /** Quickest app call of the current and of the previous period (ms), and their sample count. */
  private fastest: number
  private fastestBefore: number
  private samples: number
  private periodStart: number
  private windowElu: ReturnType<typeof performance.eventLoopUtilization>
  private timer: NodeJS.Timeout | null
  private readonly endTurn: () => void

  constructor() {
    this.saturated = false
    this.warm = true
    this.warmAt = 0
    this.busyBefore = false
    this.calmBefore = false
    this.costly = false
    this.timed = 0
    this.timedMs = 0
    this.futile = false
    this.followUps = 0
    this.straightBack = 0
    this.turnStart = 0
    this.carry = 0
    this.prevTurnStart = 0
    this.prevIdle = 0
    this.fastest = Infinity
    this.fastestBefore = Infinity
    this.samples = 0
    this.periodStart = Date.now()
    this.windowElu = performance.eventLoopUtilization()
    this.timer = null
    this.endTurn = () => {
      this.turnStart = 0
    }
  }

  /** Starts judging the loop (a server listens); stop() ends it. */
  start(): void {
    if (this.timer !== null) return
    // The clock's file is opened now, while descriptors are plentiful (not in a flood of them).
    loopClock()
    this.warm = false
    this.warmAt = Date.now() + WARM_MS
    this.windowElu = performance.eventLoopUtilization()
    this.timer = setInterval(() => this.judge(), WINDOW)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer === null) return
    clearInterval(this.timer)
    this.timer = null
    this.calm()
    this.calmBefore = false
    this.costly = false
    this.timed = 0
    this.timedMs = 0
  }

  /** The longest a request may have waited behind the loop and still be served (ms). */
  get budget(): number {
    if (this.samples < MIN_SAMPLES && this.fastestBefore === Infinity) return Infinity
    return Math.max(MIN_BUDGET, BUDGET_FACTOR * Math.min(this.fastest, this.fastestBefore))
  }

  /** How long a request read now may have waited behind the loop (ms); 0 while not saturated. */
  waited(): number {
    if (!this.saturated) return 0
    const now = performance.now()
    if (this.turnStart === 0) this.beginTurn(now)
    return this.carry + (now - this.turnStart)
  }

  /** True when a request read now is to be served; false: it is to be shed. */
  admit(): boolean {
    return !this.saturated || !this.costly || this.futile || this.waited() <= this.budget
  }

  /** An app call took `ms` from its start to its response's end. */
  observe(ms: number): void {
    if (ms < this.fastest) this.fastest = ms
    this.samples++
  }

  /** An app call's synchronous part kept the loop `ms` (timed by the dispatcher while saturated). */
  spent(ms: number): void {
    this.timed++
    this.timedMs += ms
  }

  /** A connection shed `ms` ago sent its next request. */
  cameBack(ms: number): void {
    this.followUps++
    if (ms < SOON) this.straightBack++
    if (this.followUps < FOLLOW_UPS) return
    this.futile = this.straightBack * 2 >= this.followUps
    this.followUps = 0
    this.straightBack = 0
  }

  private beginTurn(now: number): void {
    this.turnStart = now
    const idle = performance.eventLoopUtilization().idle
    // Busy time since the previous turn began: a request read now arrived after its poll.
    this.carry = this.prevTurnStart === 0 ? 0 : Math.max(0, now - this.prevTurnStart - (idle - this.prevIdle))
    this.prevTurnStart = now
    this.prevIdle = idle
    setImmediate(this.endTurn)
  }

  /**
   * Saturation has ended: whether clients come straight back is judged afresh next time; what a
   * call costs is kept (it is the app's, and the next episode then sheds from its first window).
   */
  private calm(): void {
    this.saturated = false
    this.busyBefore = false
    this.futile = false
    this.followUps = 0
    this.straightBack = 0
    this.prevTurnStart = 0
  }

  private judge(): void {
    if (!this.warm && Date.now() >= this.warmAt) this.warm = true
    const elu = performance.eventLoopUtilization()
    const utilization = performance.eventLoopUtilization(elu, this.windowElu).utilization
    this.windowElu = elu
    const busy = utilization >= SATURATED
    // Two busy windows in a row, or one when the app's calls are known to be costly (the excess
    // of a load that has come back would otherwise be let in for one more window).
    if (busy && (this.busyBefore || this.costly)) this.saturated = true
    else if (this.saturated && utilization < CALM && this.calmBefore) this.calm()
    this.calmBefore = utilization < CALM
    // The calls timed (while saturated) since the last verdict, once there are enough to tell.
    if (this.timed >= MIN_TIMED) {
      this.costly = this.timedMs / this.timed >= COSTLY
      this.timed = 0
      this.timedMs = 0
    }
    this.busyBefore = busy
    const now = Date.now()
    if (now - this.periodStart >= LATENCY_PERIOD) {
      this.periodStart = now
      // A period without calls keeps what was known.
      if (this.samples > 0) {
        this.fastestBefore = this.fastest
        this.fastest = Infinity
        this.samples = 0
      }
    }
  }
}
