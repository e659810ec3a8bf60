// New connections first when they arrive in a burst. libuv (>= 1.45, so Node.js >= 20) accepts
// one connection per loop turn, and the same turn reads and answers every established socket
// that is readable: when 400 clients connect at once (wrk -c400) the last one waits 400 turns
// of a busy server, about a second, before its first request is read. While connections keep
// arriving turn after turn, the established ones stop being read (libuv's read stops: a paused
// net.Socket still reads into its buffer), so the turns are short and the queue empties in
// milliseconds; they are read again on the first turn that brings none, or after HOLD_LIMIT ms.
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'

/** Longest an established connection goes unread while connections keep arriving. */
export const HOLD_LIMIT = 25
/**
 * Fewest established connections (ones that have answered a request) worth holding: when every
 * connection is new, as when each request opens one (Connection: close), turns are short anyway
 * and holding would only delay the newcomers.
 */
export const HOLD_AT_LEAST = 16

/** What a burst holds: a connection that can stop being read and be read again. */
export interface Holdable {
  /** It has answered a request: a client that goes on using it. */
  readonly established: boolean
  /** Stops reading; false when it cannot or need not (paused already, closing, TLS...). */
  holdReading(): boolean
  releaseReading(): void
}

/** The libuv stream under a socket, as far as reading goes (Node.js's internal `_handle`). */
export interface ReadControl {
  readStop(): number
  readStart(): number
  reading: boolean
}

/**
 * The handle of a plain TCP socket that is reading now and can stop and start its reads, or
 * null: a paused socket, a TLS socket (its reads belong to the TLS layer), or a Node.js whose
 * handle has no such methods.
 */
export function readControl(socket: Socket): ReadControl | null {
  const handle = (socket as unknown as { _handle?: Partial<ReadControl> | null })._handle
  if (handle === null || handle === undefined || (socket as { encrypted?: boolean }).encrypted === true) return null
  if (typeof handle.readStop !== 'function' || typeof handle.readStart !== 'function' || handle.reading !== true) return null
  if (socket.isPaused()) return null
  return handle as ReadControl
}

export class AcceptBurst {
  private readonly open: Iterable<Holdable>
  private readonly limit: number
  /** Connections accepted since the last check (the check runs once a turn, after the poll). */
  private accepted: number
  /** Consecutive turns that accepted a connection. */
  private streak: number
  /** The connections held, while a burst is on. */
  private held: Holdable[] | null
  private heldSince: number
  private checking: boolean

  constructor(open: Iterable<Holdable>, limit = HOLD_LIMIT) {
    this.open = open
    this.limit = limit
    this.accepted = 0
    this.streak = 0
    this.held = null
    this.heldSince = 0
    this.checking = false
  }

  /** True while established connections are held. */
  get holding(): boolean {
    return this.held !== null
  }

  /** A connection was accepted: during a burst it waits too, until the burst is over. */
  arrived(conn: Holdable): void {
    this.accepted++
    if (this.held !== null && conn.holdReading()) this.held.push(conn)
    if (!this.checking) {
      this.checking = true
      setImmediate(check, this)
    }
  }

  /** Once a turn while connections arrive: a second turn in a row with one may start a burst. */
  check(): void {
    if (this.accepted === 0) {
      this.checking = false
      this.streak = 0
      this.release()
      return
    }
    this.accepted = 0
    this.streak++
    if (this.held === null) {
      if (this.streak >= 2) this.hold()
    } else if (performance.now() - this.heldSince >= this.limit) {
      // Connections that never stop coming must not starve the established ones.
      this.release()
      this.streak = 0
    }
    setImmediate(check, this)
  }

  /** Starts a burst if enough established connections are being read. */
  private hold(): void {
    let established = 0
    for (const conn of this.open) if (conn.established) established++
    if (established < HOLD_AT_LEAST) return
    const held: Holdable[] = []
    for (const conn of this.open) if (conn.established && conn.holdReading()) held.push(conn)
    this.held = held
    this.heldSince = performance.now()
  }

  /** Ends the burst: every connection held is read again. */
  release(): void {
    const held = this.held
    if (held === null) return
    this.held = null
    for (let i = 0; i < held.length; i++) held[i].releaseReading()
  }
}

function check(burst: AcceptBurst): void {
  burst.check()
}
