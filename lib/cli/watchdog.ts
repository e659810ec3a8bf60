// A worker's watchdog: a tiny thread that sees the event loop stop beating and says which app
// call it was in. A blocked JS thread runs no handler, so the request line of each app call is
// recorded where another thread can read it: a shared buffer written by the dispatcher (a few
// dozen bytes copied per request, only in the CLI's workers).
import { appendFileSync, writeSync } from 'node:fs'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import type { AppCallWatch } from '../dispatch.js'
import type { Request } from '../request.js'

// Int32 slots of the shared buffer.
const BEAT = 0
/** App calls entered, and the count when the last one returned. */
const ENTERED = 1
const LEFT = 2
const LINE_LENGTH = 3
const INTS = 4
/** Float64 slot (after the ints): when the last app call started (ms since the epoch). */
const STARTED_AT = 2
const LINE = 512

/** The main thread's side: records app calls and beats; the thread reads both. */
export class Watchdog implements AppCallWatch {
  private readonly ints: Int32Array
  private readonly times: Float64Array
  private readonly line: Buffer
  private entered: number
  /** The request line last copied, to skip copying it again. */
  private url: string
  private method: string
  private version: string

  /** `errorLogfile`: where the report goes, '-' for standard error (as --error-logfile). */
  /** `script`: the thread's module, this one (a test gives one that fails to start). */
  constructor(timeout: number, pid: number, errorLogfile = '-', script: URL = new URL(import.meta.url)) {
    const shared = new SharedArrayBuffer(INTS * 4 + 8 + LINE)
    this.ints = new Int32Array(shared, 0, INTS)
    this.times = new Float64Array(shared, 0, INTS / 2 + 1)
    this.line = Buffer.from(shared, INTS * 4 + 8, LINE)
    this.entered = 0
    this.url = ''
    this.method = ''
    this.version = ''
    const thread = new Worker(script, { workerData: { shared, timeout, pid, errorLogfile } })
    // A thread that cannot start (no file descriptor left to load its module, say) costs the
    // worker its watchdog, not its life. Once settled, it must never keep the process alive, nor
    // take part in its exit.
    this.ready = new Promise((resolve) => {
      thread.once('message', () => {
        thread.unref()
        resolve(null)
      })
      thread.on('error', (error) => resolve(error))
    })
  }

  /** Settles once the thread runs (null) or has failed to (its error). */
  readonly ready: Promise<Error | null>

  /** The event loop is alive. */
  beat(): void {
    Atomics.add(this.ints, BEAT, 1)
    Atomics.notify(this.ints, BEAT)
  }

  /** An app call starts (at `at`, ms since the epoch): its request line is copied, if new. */
  enter(req: Request, at: number): void {
    // Most calls repeat the previous line's method and target (a busy route): no copy then.
    if (req.url !== this.url || req.method !== this.method || req.httpVersion !== this.version) {
      this.url = req.url
      this.method = req.method
      this.version = req.httpVersion
      const line = this.line
      let n = line.write(req.method, 0, 'latin1')
      line[n++] = 32
      n += line.write(req.url, n, LINE - n - 9, 'latin1')
      n += line.write(req.httpVersion === '1.1' ? ' HTTP/1.1' : ' HTTP/1.0', n, 'latin1')
      this.ints[LINE_LENGTH] = n
    }
    this.times[STARTED_AT] = at
    this.ints[ENTERED] = ++this.entered
  }

  leave(): void {
    this.ints[LEFT] = this.entered
  }
}

/** What the thread reports once the loop has not beaten for the timeout. */
export function describeStall(shared: SharedArrayBuffer, pid: number, timeout: number, now: number): string {
  const ints = new Int32Array(shared, 0, INTS)
  const head = `ERROR: Worker (pid:${pid}) event loop blocked (no heartbeat for ${timeout / 1000} s)`
  const entered = ints[ENTERED]
  if (entered === 0) return `${head}; no app call had started\n`
  const line = Buffer.from(shared, INTS * 4 + 8, LINE).toString('latin1', 0, ints[LINE_LENGTH])
  const ago = ((now - new Float64Array(shared, 0, INTS / 2 + 1)[STARTED_AT]) / 1000).toFixed(1)
  if (ints[LEFT] !== entered) return `${head}, in the app call for "${line}" (started ${ago} s ago)\n`
  return `${head}; the last app call to start was "${line}" (${ago} s ago), which had returned\n`
}

/* c8 ignore start: runs in the thread, which is never ended normally, so writes no coverage */
/** The thread: waits on the beat; a beat that does not come within the timeout is reported once. */
function watch(shared: SharedArrayBuffer, timeout: number, pid: number, errorLogfile: string): void {
  const ints = new Int32Array(shared, 0, INTS)
  for (;;) {
    const beat = Atomics.load(ints, BEAT)
    if (Atomics.wait(ints, BEAT, beat, timeout) !== 'timed-out') continue
    // Straight to the file descriptor: the thread's process.stderr goes through the blocked loop.
    const report = describeStall(shared, pid, timeout, Date.now())
    if (errorLogfile === '-') writeSync(2, report)
    else appendFileSync(errorLogfile, report)
    Atomics.wait(ints, BEAT, beat)
  }
}

if (!isMainThread && workerData !== null && typeof workerData === 'object' && 'shared' in workerData) {
  // Loaded and watching: the worker may say it can serve.
  parentPort?.postMessage('watching')
  watch(workerData.shared, workerData.timeout, workerData.pid, workerData.errorLogfile)
}
/* c8 ignore stop */
