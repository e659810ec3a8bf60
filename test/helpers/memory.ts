// What the leak tests measure: open file descriptors, and the heap after full collections (tap
// starts node without --expose-gc: the flag is turned on, then gc fetched from a fresh context).
import { readdirSync } from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'
import v8 from 'node:v8'
import vm from 'node:vm'

v8.setFlagsFromString('--expose-gc')
export const gc = vm.runInNewContext('gc') as () => void

const MiB = 1024 * 1024

export function openFds(): number {
  return readdirSync('/proc/self/fd').length
}

/** Heap in use after a few full collections. */
export async function settledHeap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    await delay(10)
    gc()
  }
  return process.memoryUsage().heapUsed
}

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(2)} MiB`
}
