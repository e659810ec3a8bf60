// Starts a Pegasus server on port 0 for one test, with a Log whose lines are kept in memory, and
// closes it when the test ends. Also a node:http client call that returns the whole reply.
import http from 'node:http'
import { setTimeout as delay } from 'node:timers/promises'
import { createServer, Log, type App, type Server, type ServerOptions } from '../../lib/server.js'

export interface MemoryLog {
  log: Log
  /** Text written to the out sink (INFO and access lines). */
  out: string[]
  /** Text written to the err sink (ERROR and WARN lines). */
  err: string[]
}

export function memoryLog(options: { flushBytes?: number; flushDelay?: number } = {}): MemoryLog {
  const out: string[] = []
  const err: string[] = []
  const log = new Log({ out: { write: (text: string) => out.push(text) }, err: { write: (text: string) => err.push(text) }, ...options })
  return { log, out, err }
}

export interface TestServer extends MemoryLog {
  server: Server
  port: number
  origin: string
  /** Lines written to the out sink so far (after a flush). */
  outLines(): string[]
  errText(): string
}

interface Teardown {
  teardown(fn: () => unknown): void
}

/** A server for `app` on 127.0.0.1, port 0, closed (gracefully, then by force) at teardown. */
export async function startServer(t: Teardown, app: App, options: ServerOptions = {}): Promise<TestServer> {
  const memory = memoryLog()
  // The engine's tests speak the native interface unless they say otherwise.
  const server = createServer(app, { log: memory.log, interface: 'native', ...options })
  await server.listen(0, '127.0.0.1')
  const port = server.address().port
  t.teardown(async () => {
    const closed = await Promise.race([server.close().then(() => true), delay(3000, false)])
    if (!closed) {
      // A client left a connection open: do not let it hang the test file.
      for (const conn of (server as unknown as { connections: Set<{ destroy(): void }> }).connections) conn.destroy()
    }
  })
  return {
    ...memory,
    server,
    port,
    origin: `http://127.0.0.1:${port}`,
    outLines() {
      memory.log.flush()
      return memory.out.join('').split('\n').filter((line) => line !== '')
    },
    errText() {
      return memory.err.join('')
    },
  }
}

export interface HttpReply {
  status: number
  statusMessage: string
  headers: http.IncomingHttpHeaders
  rawHeaders: string[]
  body: Buffer
  socket: import('node:net').Socket
}

/** One request through node:http's client; resolves with the whole reply. */
export function httpRequest(
  url: string,
  options: http.RequestOptions & { body?: string | Buffer | (string | Buffer)[] } = {},
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const { body, ...rest } = options
    const req = http.request(url, rest, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          statusMessage: res.statusMessage ?? '',
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks),
          socket: res.socket,
        }),
      )
    })
    req.on('error', reject)
    if (Array.isArray(body)) {
      for (const piece of body) req.write(piece)
      req.end()
    } else req.end(body)
  })
}

/** A promise with the function that resolves it: an event a test waits for, with no timer. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

/**
 * Resolves after `n` turns of the event loop (setImmediate, so I/O is polled in between): for a
 * check that something the code under test would do at once, or on the next read, has not happened.
 */
export async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return delay(ms)
}

/**
 * Polls `check` every 20 ms until it holds or `timeout` ms pass; returns whether it held. The
 * default is generous: it only bounds a wait that failed (a busy machine may be slow to get there).
 */
export async function eventually(check: () => boolean, timeout = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeout
  while (Date.now() < deadline) {
    if (check()) return true
    await delay(20)
  }
  return check()
}

/**
 * Records errors that escape to the process (uncaught exceptions, unhandled rejections) while a
 * test runs; a robust server lets none through, whatever its clients do.
 */
export function watchEscapes(t: Teardown): unknown[] {
  const escaped: unknown[] = []
  const record = (error: unknown): void => void escaped.push(error)
  process.on('uncaughtException', record)
  process.on('unhandledRejection', record)
  t.teardown(() => {
    process.off('uncaughtException', record)
    process.off('unhandledRejection', record)
  })
  return escaped
}
