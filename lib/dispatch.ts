// App calls go through one fastq queue whose concurrency is --threads: at most that many app
// calls are in flight. A call holds its slot until its response is complete or its client is
// gone. When the queue backs up past a bound, the connections that feed it stop reading.
import fastq from 'fastq'
import type { Response } from './response.js'
import { invokeNative, type App } from './interfaces/native.js'

/** A connection that stopped reading because the queue was full. */
export interface Blockable {
  unblock(): void
}

export class Dispatcher {
  private readonly queue: fastq.queue<Response, void>
  private readonly app: App
  private readonly maxQueued: number
  private blocked: Blockable[]
  private readonly taskDone: () => void

  constructor(app: App, concurrency: number, maxQueued: number) {
    this.app = app
    this.maxQueued = maxQueued
    this.blocked = []
    this.queue = fastq<Dispatcher, Response, void>(this, work, concurrency)
    this.taskDone = () => this.afterTask()
  }

  /** Queues a call of the app for `res`. Returns false when the queue is over its bound. */
  push(res: Response): boolean {
    this.queue.push(res, this.taskDone)
    return this.queue.length() <= this.maxQueued
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
    return this.queue.running()
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
    if (res.destroyed) {
      release()
      return
    }
    res.release = release
    res.calledAt = Date.now()
    invokeNative(this.app, res.req, res, appFailed)
  }
}

function appFailed(res: Response, error: unknown): void {
  res.fail(error)
}

function work(this: Dispatcher, res: Response, done: fastq.done<void>): void {
  this.call(res, done as () => void)
}

