// Spins 100 ms of wall time in 5 ms steps and prints, as JSON, how far loopClock(), the
// schedstat clock (loopClock()'s on Node.js 20, measured on every version), the wall clock and
// process.cpuUsage() moved. test/loop-clock.ts runs it alone on one CPU with a spinning
// process beside it.
import { performance } from 'node:perf_hooks'
import { loopClock, loopClockKind, schedstatClock } from '../../lib/loop-clock.js'

let clock = 0
let schedstat = 0
let wall = 0
const cpuBefore = process.cpuUsage()
for (let i = 0; i < 20; i++) {
  const c = loopClock()
  const s = schedstatClock() as number
  const w = performance.now()
  while (performance.now() - w < 5);
  clock += loopClock() - c
  schedstat += (schedstatClock() as number) - s
  wall += performance.now() - w
}
const cpu = process.cpuUsage(cpuBefore)
process.stdout.write(JSON.stringify({ kind: loopClockKind(), clock, schedstat, wall, cpu: (cpu.user + cpu.system) / 1000 }) + '\n')
