// For the arbiter's process tests: the workers of a running CLI (its child processes, read from
// /proc), their state, and waiting on its stderr.
import { readdirSync, readFileSync } from 'node:fs'
import type { Running } from './cli.js'

/** /proc/PID/stat: the state letter (R, S, T...) and the parent's pid, or null once gone. */
export function stat(pid: number): { state: string; ppid: number; rss: number } | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return null
  }
  // The command name, in parentheses, may hold spaces: the fields after it are split.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return { state: fields[0], ppid: Number(fields[1]), rss: Number(fields[21]) * 4096 }
}

/** The pids of the process's living children (the workers of a primary), in pid order. */
export function children(pid: number): number[] {
  const found: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const info = stat(Number(name))
    if (info !== null && info.ppid === pid && info.state !== 'Z') found.push(Number(name))
  }
  return found.sort((a, b) => a - b)
}

/** Polls until `check` is true (the test's own timeout bounds it). */
export async function until(check: () => boolean, every = 25): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, every))
}

/** Resolves with the first match of `pattern` in stderr. */
export async function stderrMatch(cli: Running, pattern: RegExp): Promise<RegExpMatchArray> {
  let match: RegExpMatchArray | null = null
  await until(() => (match = cli.stderr.match(pattern)) !== null)
  return match as unknown as RegExpMatchArray
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
