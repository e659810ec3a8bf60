// Child processes of the harness. Each one leads its own process group (detached), so that it
// and everything it forks (gunicorn and nginx workers) end with one kill(-pid), and every group
// still alive is killed when the harness exits, however it exits.
import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

const live = new Set()

// Servers may hold 10,000 sockets: raise the open-file limit in the shell that execs them.
const WITH_FILE_LIMIT = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -H -n)"; exec "$@"'

/**
 * Starts `command args` as the leader of a new process group. `output`: a file for stdout and
 * stderr, or 'ignore' (/dev/null). `stdoutNull`: stdout to /dev/null, stderr to `output`.
 * `user`: { uid, gid } to run as (PostgreSQL refuses to run as root).
 */
export function start(command, args, { cwd, env, output = 'ignore', stdoutNull = false, ipc = false, user } = {}) {
  const fd = output === 'ignore' ? 'ignore' : openSync(output, 'a')
  const stdio = ['ignore', stdoutNull ? 'ignore' : fd, fd]
  if (ipc) stdio.push('ipc')
  const child = spawn('/bin/sh', ['-c', WITH_FILE_LIMIT, 'sh', command, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio,
    detached: true,
    ...user,
  })
  if (typeof fd === 'number') closeSync(fd)
  live.add(child)
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    live.delete(child)
    resolve({ code, signal })
  }))
  child.once('error', () => live.delete(child))
  return child
}

/** Runs a command to its end and collects its stdout; rejects after `timeoutMs`. */
export async function run(command, args, { cwd, timeoutMs = 120_000 } = {}) {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  live.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (text) => { stdout += text })
  child.stderr.setEncoding('utf8').on('data', (text) => { stderr += text })
  const timer = setTimeout(() => kill(child, 'SIGKILL'), timeoutMs)
  try {
    const code = await new Promise((resolve, reject) => {
      child.once('error', reject)
      child.once('close', resolve)
    })
    return { code, stdout, stderr }
  } finally {
    clearTimeout(timer)
    live.delete(child)
  }
}

function kill(child, signal) {
  try {
    process.kill(-child.pid, signal)
  } catch {
    // the group is gone
  }
}

/** Ends a child's process group: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
export async function stop(child, graceMs = 2000) {
  if (child.exitCode === null && child.signalCode === null) {
    kill(child, 'SIGTERM')
    const ended = await Promise.race([child.exited.then(() => true), sleep(graceMs).then(() => false)])
    if (!ended) kill(child, 'SIGKILL')
  }
  // Workers left in the group (the leader exited first) go too.
  kill(child, 'SIGKILL')
  await child.exited
}

/** Kills every group still alive, at once (for exit paths: synchronous). */
export function killAll() {
  for (const child of live) kill(child, 'SIGKILL')
  live.clear()
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** The last lines of a log file, for the reason a server did not come up. */
export function tail(path, lines = 3) {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-lines).join(' | ')
  } catch {
    return ''
  }
}

/** One HTTP request with its whole answer; rejects on errors and after `timeoutMs`. */
export function request(port, { method = 'GET', path = '/', headers = {}, body, timeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = []
      res.on('data', (chunk) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
    req.end(body)
  })
}

/** Waits until the server on `port` answers `GET /`; rejects if `child` exits first or after `timeoutMs`. */
export async function waitUntilAnswering(child, port, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before answering`)
    }
    try {
      await request(port, { timeoutMs: 1000 })
      return
    } catch {
      await sleep(100)
    }
  }
  throw new Error(`did not answer within ${timeoutMs / 1000} s`)
}
