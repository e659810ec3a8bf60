// The messages between the arbiter and its workers (node:cluster's IPC channel), and the pace
// of the heartbeat both sides agree on.
import type { Bind } from '../binds.js'

/** Arbiter -> worker. A `listen` may come with the socket handle the arbiter bound. */
export type ToWorker =
  | { t: 'listen'; bind: Bind; reusePort: boolean; last: boolean }
  /** Drain for a reload or a recycle: idle keep-alive connections are left to their client. */
  | { t: 'retire' }
  | { t: 'reopen' }

/** Worker -> arbiter. */
export type FromWorker =
  /** The app is loaded: send the sockets. */
  | { t: 'loaded' }
  | { t: 'ready'; listening: string[]; threads: number; interface: string; label: string }
  /** It cannot serve (the app does not load, the address is taken); `certain`: retrying will not help. */
  | { t: 'fail'; message: string; certain: boolean }
  /** An uncaught exception: it drains and exits; its replacement may boot now. */
  | { t: 'failing' }
  | { t: 'beat'; requests: number; rss: number }

/**
 * How often a worker beats: several times within the timeout, at most once a second; once a
 * second without one (0: the beats carry only the request count and RSS).
 */
export function beatInterval(workerTimeout: number): number {
  if (workerTimeout === 0) return 1000
  return Math.max(10, Math.min(1000, Math.floor(workerTimeout / 4)))
}
