// The load guard's clock (lib/loop-clock.ts) counts the time the loop's thread runs, not the
// time the machine gives its CPU to other processes: a busy machine must not make the app's
// calls look costly (they would be shed with 503s).
import t from 'tap'
import path from 'node:path'
import { readFileSync } from 'node:fs'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'loop-clock-child.ts')

/** The first CPU this process may run on ("Cpus_allowed_list: 0-1"). */
function firstCpu(): string {
  const list = /^Cpus_allowed_list:\s*(\d+)/m.exec(readFileSync('/proc/self/status', 'latin1'))
  return list === null ? '0' : list[1]
}

interface Reading {
  kind: string
  clock: number
  schedstat: number
  wall: number
  cpu: number
}

async function measure(cpu: string): Promise<Reading> {
  const proc = spawn('taskset', ['-c', cpu, process.execPath, ...process.execArgv, child], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  proc.stdout.setEncoding('latin1').on('data', (chunk: string) => (out += chunk))
  const [code] = await once(proc, 'exit')
  if (code !== 0) throw new Error(`loop-clock-child exited ${code}`)
  return JSON.parse(out) as Reading
}

t.test("the loop's clock moves with the thread's own time on a CPU, not with the time other processes take it", async (t) => {
  const cpu = firstCpu()
  // A process that spins on the same CPU, started first and running until the end.
  const spinner: ChildProcess = spawn('taskset', ['-c', cpu, process.execPath, '-e', 'process.stdout.write("spinning\\n"); for (;;);'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    spinner.kill('SIGKILL')
  })
  await once(spinner.stdout as NodeJS.ReadableStream, 'data')
  const r = await measure(cpu)
  t.comment(JSON.stringify(r))
  t.not(r.kind, 'process', "Linux: the thread's own clock (threadCpuUsage on Node.js >= 23.9, schedstat before)")
  // Sharing one CPU with a spinner, the child ran about half of the wall time it spun.
  t.ok(r.clock < 0.8 * r.wall, `less than the wall time: ${r.clock.toFixed(1)} ms of ${r.wall.toFixed(1)} ms`)
  t.ok(r.clock > 0.05 * r.wall, 'but it moved')
  // The schedstat clock (Node.js 20's) likewise, whichever Node.js runs it.
  t.ok(r.schedstat < 0.8 * r.wall && r.schedstat > 0.05 * r.wall, `schedstat: ${r.schedstat.toFixed(1)} ms of ${r.wall.toFixed(1)} ms`)
  // The thread's time is part of the process's CPU time (with V8's threads'), and most of it:
  // only the main thread was busy.
  t.ok(r.clock <= 1.05 * r.cpu + 2 && r.clock >= 0.5 * r.cpu, `the CPU time the thread had: ${r.clock.toFixed(1)} ms, process.cpuUsage ${r.cpu.toFixed(1)} ms`)
})
