// The time the event loop's own thread runs, for the load guard's "is a call costly?": wall time
// would count the moments the machine gives the CPU to other processes (a busy machine makes
// every call look costly), and process.cpuUsage() counts the process's other threads (V8's GC
// and compiler threads: on a busy machine, Express looked costly by them).
//
// - Node.js >= 23.9: process.threadCpuUsage(), this thread's CPU time (getrusage RUSAGE_THREAD).
// - Before (Node.js 20): wall time less the time this thread waited for a CPU, which Linux keeps
//   in /proc/thread-self/schedstat ("<ns on CPU> <ns waiting on a run queue> <slices>"). Its
//   first field only moves at the scheduler's ticks (a few ms), useless for one call; the second
//   is brought up to date each time the thread is given a CPU again, so it is exact by the time
//   the thread reads it. The file stays open (one descriptor) and is re-read with pread.
// - Neither (not Linux): process.cpuUsage().
import { openSync, readSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

type ThreadCpuUsage = () => NodeJS.CpuUsage
const threadCpuUsage = (process as { threadCpuUsage?: ThreadCpuUsage }).threadCpuUsage

let schedstat = -1
let opened = false
const text = Buffer.alloc(128)

/** A clock (ms) that moves only while this thread runs or could run: deltas are what it cost. */
export function loopClock(): number {
  if (threadCpuUsage !== undefined) {
    const usage = threadCpuUsage()
    return (usage.user + usage.system) / 1000
  }
  const clock = schedstatClock()
  return clock !== null ? clock : processClock()
}

/* c8 ignore start: not Linux (no /proc/thread-self/schedstat) */
function processClock(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}
/* c8 ignore stop */

/** Wall time less this thread's run-queue wait (ms), or null where Linux does not keep it. */
export function schedstatClock(): number | null {
  if (!opened) open()
  return schedstat >= 0 ? performance.now() - runQueueWait() : null
}

/** Which clock loopClock() reads (for the tests). */
export function loopClockKind(): 'thread' | 'schedstat' | 'process' {
  if (threadCpuUsage !== undefined) return 'thread'
  return schedstatClock() !== null ? 'schedstat' : 'process'
}

function open(): void {
  opened = true
  try {
    schedstat = openSync('/proc/thread-self/schedstat', 'r')
    runQueueWait()
    /* c8 ignore next 3: not Linux, or a kernel without scheduler statistics (or EMFILE) */
  } catch {
    schedstat = -1
  }
}

/** How long this thread has waited for a CPU, in ms. */
function runQueueWait(): number {
  const length = readSync(schedstat, text, 0, text.length, 0)
  const first = text.indexOf(32)
  const second = text.indexOf(32, first + 1)
  /* c8 ignore next: the kernel's format, "<ns> <ns> <count>\n" */
  if (first < 0 || second < 0 || second > length) throw new Error('unexpected /proc/thread-self/schedstat')
  return Number(text.toString('latin1', first + 1, second)) / 1e6
}
