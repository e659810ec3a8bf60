import fs from 'node:fs'
import { statusText } from './http/status.js'
import {
  AccessFormatError,
  compileAccessFormat,
  jsonAccessFormat,
  type AccessFacts,
  type AccessRequest,
  type AccessResponse,
  type CompiledAccessFormat,
} from './access-format.js'

export { AccessFormatError, type AccessRequest, type AccessResponse } from './access-format.js'

/** Where log text goes: process.stdout / process.stderr, or anything with a `write`. */
export interface LogSink {
  write(text: string): unknown
}

/** Lines below the level are dropped (access lines never are). */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'critical'

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warning: 30, error: 40, critical: 50 }
const DEBUG = 10
const INFO = 20
const WARNING = 30
const ERROR = 40

export interface LogOptions {
  /** INFO, DEBUG and access lines when they go to '-' (default process.stdout). */
  out?: LogSink
  /** WARN, ERROR and CRITICAL lines when they go to '-' (default process.stderr). */
  err?: LogSink
  /** Buffered bytes that force a flush before the timer does (default 16 KiB). */
  flushBytes?: number
  /** Longest a buffered line waits, in ms (default 50). */
  flushDelay?: number
  /** The least severe lines written: debug, info (default), warning, error or critical. */
  level?: LogLevel
  /** Access lines: '-' (default) to `out`, or a file path, opened for append. */
  accessLogfile?: string
  /**
   * Other lines: '-' (default) splits them, INFO and DEBUG to `out`, WARN and worse to `err`; a
   * file path (opened for append) receives them all.
   */
  errorLogfile?: string
  /**
   * Access lines in gunicorn's format (`%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s"
   * "%(a)s"`, see docs/operating.md); default (or null): `INFO: 127.0.0.1:55058 - "POST / HTTP/1.1" 200 OK`.
   */
  accessLogFormat?: string | null
  /** Access lines as one JSON object each (keys in docs/operating.md); not with accessLogFormat. */
  accessLogJson?: boolean
}

/** A log file that cannot be opened: `message` is one line for the command line to print. */
export class LogFileError extends Error {
  readonly path: string
  readonly code: string | undefined
  constructor(what: string, path: string, cause: NodeJS.ErrnoException) {
    super(`Cannot open the ${what} "${path}": ${cause.code ?? cause.message}${cause.code === undefined ? '' : ` (${describe(cause)})`}`)
    this.name = 'LogFileError'
    this.path = path
    this.code = cause.code
  }
}

/** The system's words for an error without node's `CODE: ` prefix and syscall suffix. */
function describe(error: NodeJS.ErrnoException): string {
  const message = error.message.replace(/^[A-Z0-9_]+: /, '')
  const comma = message.indexOf(', ')
  return comma === -1 ? message : message.slice(0, comma)
}

/**
 * A file opened for append. Each batch is one write(2) of the whole text: with O_APPEND the
 * kernel places it at the end atomically, so processes sharing the file never split a line.
 */
class LogFile implements LogSink {
  readonly path: string
  private readonly what: string
  private readonly report: LogSink
  private fd: number
  /** A write failed and was reported: the next failures are not, until one succeeds. */
  private failing: boolean

  constructor(what: string, path: string, report: LogSink) {
    this.what = what
    this.path = path
    this.report = report
    this.fd = LogFile.open(what, path)
    this.failing = false
  }

  static open(what: string, path: string): number {
    try {
      return fs.openSync(path, 'a', 0o644)
    } catch (error) {
      throw new LogFileError(what, path, error as NodeJS.ErrnoException)
    }
  }

  write(text: string): void {
    if (this.fd === -1) return
    const bytes = Buffer.from(text)
    try {
      // A regular file takes the whole buffer in one call; the loop only guards a short write.
      let done = 0
      while (done < bytes.length) done += fs.writeSync(this.fd, bytes, done)
      this.failing = false
    } catch (error) {
      if (this.failing) return
      this.failing = true
      this.report.write(`ERROR: Cannot write the ${this.what} "${this.path}": ${(error as Error).message}\n`)
    }
  }

  /** Opens the path afresh (logrotate moved the file); on failure the old file stays in use. */
  reopen(): void {
    if (this.fd === -1) return
    let fd: number
    try {
      fd = LogFile.open(this.what, this.path)
    } catch (error) {
      this.report.write(`ERROR: ${(error as Error).message}; still writing to the file opened before\n`)
      return
    }
    fs.closeSync(this.fd)
    this.fd = fd
    this.failing = false
  }

  close(): void {
    if (this.fd === -1) return
    fs.closeSync(this.fd)
    this.fd = -1
  }
}

// Logs with lines buffered, flushed when the process exits (their timers will not fire then).
const pending = new Set<Log>()
let exitHook = false

function flushPending(): void {
  for (const log of pending) log.flush()
}

/**
 * Startup, access and error lines. Access lines are buffered and written in batches, so a busy
 * server makes one write per batch rather than one synchronous write per request (stdout is
 * synchronous for files and pipes). Other lines flush what is buffered, then go out at once, so
 * the order of lines is kept.
 */
export class Log {
  /** The access format reads the request's duration: the server records when each starts. */
  readonly timing: boolean
  /** The access format reads the body bytes sent: the server counts them. */
  readonly countsBytes: boolean
  private readonly accessOut: LogSink
  private readonly out: LogSink
  private readonly err: LogSink
  private readonly files: LogFile[]
  private readonly level: number
  private readonly format: CompiledAccessFormat['format'] | null
  /** Reused for every formatted line (no allocation per request beyond the line itself). */
  private readonly facts: AccessFacts
  private readonly flushBytes: number
  private readonly flushDelay: number
  private buffered: string
  private timer: NodeJS.Timeout | null

  constructor(options: LogOptions = {}) {
    const out = options.out ?? process.stdout
    const err = options.err ?? process.stderr
    const level = options.level ?? 'info'
    if (!Object.hasOwn(LEVELS, level)) {
      throw new TypeError(`Log level must be debug, info, warning, error or critical: ${JSON.stringify(level)}`)
    }
    this.level = LEVELS[level]
    let compiled: CompiledAccessFormat | null = null
    if (options.accessLogJson === true) {
      if (options.accessLogFormat != null) throw new AccessFormatError('Give an access log format or JSON access lines, not both')
      compiled = jsonAccessFormat
    } else if (options.accessLogFormat != null) compiled = compileAccessFormat(options.accessLogFormat)
    this.format = compiled === null ? null : compiled.format
    this.timing = compiled !== null && compiled.timing
    this.countsBytes = compiled !== null && compiled.bytes
    this.facts = { req: null, res: null, status: 0, address: undefined, port: undefined, method: '-', url: '-', version: '1.1' }
    this.flushBytes = options.flushBytes ?? 16384
    this.flushDelay = options.flushDelay ?? 50
    this.buffered = ''
    this.timer = null
    this.files = []
    // Files are opened last, so a bad option leaves none open; a second one failing closes the first.
    try {
      this.accessOut = this.open('access log file', options.accessLogfile, out, err)
      const errors = this.open('error log file', options.errorLogfile, null, err)
      this.out = errors ?? out
      this.err = errors ?? err
    } catch (error) {
      this.close()
      throw error
    }
  }

  private open<T extends LogSink | null>(what: string, path: string | undefined, standard: T, report: LogSink): LogSink | T {
    if (path === undefined || path === '-') return standard
    const file = new LogFile(what, path, report)
    this.files.push(file)
    return file
  }

  debug(message: string): void {
    if (this.level > DEBUG) return
    this.flush()
    this.out.write(`DEBUG: ${message}\n`)
  }

  info(message: string): void {
    if (this.level > INFO) return
    this.flush()
    this.out.write(`INFO: ${message}\n`)
  }

  warn(message: string): void {
    if (this.level > WARNING) return
    this.flush()
    this.err.write(`WARN: ${message}\n`)
  }

  /** An ERROR line; with `error`, its stack follows on the next lines. */
  error(message: string, error?: unknown): void {
    if (this.level > ERROR) return
    this.flush()
    this.err.write(withStack(`ERROR: ${message}\n`, error))
  }

  /** A CRITICAL line (always written); with `error`, its stack follows on the next lines. */
  critical(message: string, error?: unknown): void {
    this.flush()
    this.err.write(withStack(`CRITICAL: ${message}\n`, error))
  }

  /**
   * The access line of a request that could not be read as one (a malformed head: `method` and
   * `url` are '-'), or of an exchange described field by field.
   */
  access(
    address: string | undefined,
    port: number | undefined,
    method: string,
    url: string,
    version: string,
    status: number,
  ): void {
    if (this.format === null) {
      // The peer's address is unknown once its socket is gone.
      this.push(`INFO: ${address ?? '-'}:${port ?? '-'} - "${method} ${url} HTTP/${version}" ${status} ${statusText(status)}\n`)
      return
    }
    const facts = this.facts
    facts.address = address
    facts.port = port
    facts.method = method
    facts.url = url
    facts.version = version
    facts.status = status
    this.push(`${this.format(facts)}\n`)
  }

  /** The access line of a request answered with `status` (the client is `req.remoteAddress`). */
  served(req: AccessRequest, res: AccessResponse, status: number): void {
    const format = this.format
    if (format === null) {
      this.push(
        `INFO: ${req.remoteAddress ?? '-'}:${req.remotePort ?? '-'} - "${req.method} ${req.url} HTTP/${req.httpVersion}" ${status} ${statusText(status)}\n`,
      )
      return
    }
    const facts = this.facts
    facts.req = req
    facts.res = res
    facts.address = req.remoteAddress
    facts.port = req.remotePort
    facts.method = req.method
    facts.url = req.url
    facts.version = req.httpVersion
    facts.status = status
    try {
      this.push(`${format(facts)}\n`)
    } finally {
      // Not kept alive by the log.
      facts.req = null
      facts.res = null
    }
  }

  private push(line: string): void {
    this.buffered += line
    if (this.buffered.length >= this.flushBytes) this.flush()
    else if (this.timer === null) {
      this.timer = setTimeout(flushLog, this.flushDelay, this)
      this.timer.unref()
      if (!exitHook) {
        exitHook = true
        process.on('exit', flushPending)
      }
      pending.add(this)
    }
  }

  /** Write out everything buffered now. */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
      pending.delete(this)
    }
    if (this.buffered.length === 0) return
    const text = this.buffered
    this.buffered = ''
    this.accessOut.write(text)
  }

  /**
   * Reopens the log files at their paths (after logrotate moved them: SIGUSR1). Buffered lines
   * go to the files opened before; the next ones to the new files.
   */
  reopen(): void {
    this.flush()
    for (const file of this.files) file.reopen()
  }

  /** Flushes and closes the log files; lines logged afterwards to a file are dropped. */
  close(): void {
    this.flush()
    for (const file of this.files) file.close()
  }
}

function withStack(line: string, error: unknown): string {
  if (error === undefined) return line
  const stack = error instanceof Error ? error.stack ?? String(error) : String(error)
  return `${line}${stack}\n`
}

function flushLog(log: Log): void {
  log.flush()
}
