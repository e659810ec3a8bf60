// Runs the CLI (`node dist/cli.js`, built by the suite first) as a user would: to its end, or
// left running with its output collected, and stopped with a signal at the test's end.
import type { Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const root = realpathSync(fileURLToPath(new URL('../..', import.meta.url)))
export const cli = `${root}/dist/cli.js`
/** Loopback and a port the system picks. */
export const LOCAL = ['--host', '127.0.0.1', '--port', '0']

export interface Result {
  status: number | null
  stdout: string
  stderr: string
}

/** Runs the CLI to its end. */
export function run(args: string[], cwd = root, env: Record<string, string | undefined> = process.env): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd, env })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text))
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

/** A CLI process left running: its output so far, and a way to wait for more. */
export class Running {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  /** The exit status, or the signal that ended it. */
  readonly exited: Promise<number | string | null>
  private readonly waiters = new Set<() => void>()

  constructor(args: string[], cwd: string) {
    this.child = spawn(process.execPath, [cli, ...args], { cwd })
    this.child.stdout?.setEncoding('utf8').on('data', (text: string) => this.output(() => (this.stdout += text)))
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => this.output(() => (this.stderr += text)))
    this.exited = new Promise((resolve) => {
      this.child.on('close', (status, signal) => {
        resolve(status ?? signal)
        this.output(() => {})
      })
    })
  }

  private output(append: () => void): void {
    append()
    for (const waiter of this.waiters) waiter()
  }

  /** Resolves with the first match of `pattern` in stdout; rejects if the process ends first. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const match = this.stdout.match(pattern)
        if (match !== null) {
          this.waiters.delete(check)
          resolve(match)
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          this.waiters.delete(check)
          reject(new Error(`exited before ${pattern}; stdout: ${this.stdout}; stderr: ${this.stderr}`))
        }
      }
      this.waiters.add(check)
      check()
    })
  }

  /** Sends `signal` and waits for the process to end. */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string | null> {
    this.child.kill(signal)
    return this.exited
  }
}

/** Starts the CLI and waits for its startup lines; returns it with the base URL. */
export async function start(t: Test, args: string[], cwd = root): Promise<{ cli: Running; base: string; port: number }> {
  const running = new Running(args, cwd)
  // SIGTERM, not SIGKILL: a process that ends normally leaves its coverage behind. SIGKILL only
  // if it hangs, which the shutdown tests below would report.
  t.teardown(async () => {
    if (running.child.exitCode !== null || running.child.signalCode !== null) return
    const hung = setTimeout(() => running.child.kill('SIGKILL'), 5000)
    await running.stop('SIGTERM')
    clearTimeout(hung)
  })
  const [, port] = await running.waitFor(/^INFO: Listen at "127\.0\.0\.1:(\d+)"\nINFO: Threads: \d+\n/m)
  return { cli: running, base: `http://127.0.0.1:${port}`, port: Number(port) }
}

