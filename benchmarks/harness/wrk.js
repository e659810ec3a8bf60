// Runs wrk against a local server and reads its report.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run } from './processes.js'

const LATENCY_LUA = join(dirname(fileURLToPath(import.meta.url)), '..', 'lua', 'latency.lua')
let scripts

/**
 * The script wrk runs: `script` (a scenario's) with latency.lua's `done` after it, which prints
 * p99.9 and the max (wrk takes one script). Written once per script to a temporary folder.
 */
function withLatency(script) {
  if (script === undefined) return LATENCY_LUA
  scripts ??= { dir: mkdtempSync(join(os.tmpdir(), 'pegasus-wrk-')), made: new Map() }
  let path = scripts.made.get(script)
  if (path === undefined) {
    path = join(scripts.dir, `${scripts.made.size}.lua`)
    writeFileSync(path, `${readFileSync(script, 'utf8')}\n${readFileSync(LATENCY_LUA, 'utf8')}`)
    scripts.made.set(script, path)
  }
  return path
}

const TIME_UNITS = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * `wrk -tT -cC -dDs --latency [--timeout Ns] [-H header]... [-s script] http://127.0.0.1:PORT/PATH`;
 * resolves with the parsed report, or rejects with wrk's own words when it fails. wrk leaves
 * an answer slower than its timeout (2 s unless given) out of the latencies and counts it as a
 * timeout.
 */
export async function wrk({ port, path = '/', threads, connections, seconds, script, headers = [], timeout }) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency']
  if (timeout !== undefined) args.push('--timeout', `${timeout}s`)
  for (const header of headers) args.push('-H', header)
  args.push('-s', withLatency(script))
  args.push(`http://127.0.0.1:${port}${path}`)
  const { code, stdout, stderr } = await run('wrk', args, { timeoutMs: (seconds + 30) * 1000 })
  if (code !== 0) throw new Error(`wrk exited ${code}: ${(stderr || stdout).trim().split('\n').pop()}`)
  return parseWrk(stdout)
}

/** The numbers of a wrk report (run with --latency). Latencies in ms. */
export function parseWrk(text) {
  const requests = /^\s*(\d+) requests in ([\d.]+)(\w+),/m.exec(text)
  if (requests === null) throw new Error(`unreadable wrk report: ${text.trim().split('\n').pop()}`)
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text)
  const errors = {
    connect: socket ? Number(socket[1]) : 0,
    read: socket ? Number(socket[2]) : 0,
    write: socket ? Number(socket[3]) : 0,
    timeout: socket ? Number(socket[4]) : 0,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  }
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text)
  return {
    requests: Number(requests[1]),
    durationMs: time(requests[2], requests[3]),
    rps: rps ? Number(rps[1]) : 0,
    p50: percentile(text, 50),
    p99: percentile(text, 99),
    ...tail(text),
    errors,
    errorCount: errors.connect + errors.read + errors.write + errors.timeout + errors.non2xx,
  }
}

/**
 * A latency percentile, or null when wrk has none. wrk prints 0 for a high percentile when its
 * coordinated-omission correction adds samples below the lowest one it measured (its
 * stats_correct / stats_percentile), as it does under pipelining: no latency is 0.
 */
function percentile(text, p) {
  const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(\\w+)`, 'm').exec(text)
  if (match === null) return null
  const value = time(match[1], match[2])
  return value > 0 ? value : null
}

/** p99.9 and the max from latency.lua's line (ms); null when the line is missing or 0. */
function tail(text) {
  const match = /^PEGASUS-LATENCY p99\.9=(\d+) max=(\d+)$/m.exec(text)
  const ms = (us) => (Number(us) > 0 ? Number(us) / 1000 : null)
  return { p999: match === null ? null : ms(match[1]), max: match === null ? null : ms(match[2]) }
}

function time(value, unit) {
  return Number(value) * (TIME_UNITS[unit] ?? NaN)
}
