// How many files this process may open (RLIMIT_NOFILE's soft limit, which Node.js raises to the
// hard limit at start-up), and the connection bound derived from it: every connection is a file
// descriptor, and the app needs some of its own (its database pool, its files, its logs).
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** What an unlimited RLIMIT_NOFILE counts as. */
const UNLIMITED = 1 << 20
/** When the limit cannot be read: the usual soft limit. */
const UNKNOWN = 1024

let cached = 0

/** The open-file limit of this process; read once. */
export function openFileLimit(): number {
  if (cached === 0) cached = readLimit()
  return cached
}

function readLimit(): number {
  try {
    // Linux: "Max open files  <soft>  <hard>  files".
    const line = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'latin1'))
    /* c8 ignore next: Linux's /proc/self/limits always has the line */
    if (line !== null) return parseLimit(line[1])
    /* c8 ignore start: only where /proc/self/limits is missing (not Linux): the shell's ulimit */
  } catch {
    // Not Linux, or no /proc: the shell's ulimit below.
  }
  try {
    return parseLimit(execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'ignore'] }).trim())
  } catch {
    return UNKNOWN
  }
  /* c8 ignore stop */
}

/** A limit as /proc and ulimit write it: a number or "unlimited". */
export function parseLimit(text: string): number {
  if (text === 'unlimited') return UNLIMITED
  const n = Number(text)
  return Number.isInteger(n) && n > 0 ? Math.min(n, UNLIMITED) : UNKNOWN
}

/**
 * Descriptors kept for the app and the process itself (its database pool, files, logs, the
 * arbiter's channel, connections waiting to be admitted): an eighth of the limit, at least 128.
 */
export function reservedFiles(limit: number): number {
  return Math.max(128, Math.floor(limit / 8))
}

/** The default --max-connections of a process whose open-file limit is `limit`. */
export function defaultMaxConnections(limit = openFileLimit()): number {
  return Math.max(16, limit - reservedFiles(limit))
}
