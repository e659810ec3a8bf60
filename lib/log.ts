import { statusText } from './http/status.js'

/** Where log text goes: process.stdout / process.stderr, or anything with a `write`. */
export interface LogSink {
  write(text: string): unknown
}

export interface LogOptions {
  /** INFO and access lines (default process.stdout). */
  out?: LogSink
  /** ERROR and WARN lines (default process.stderr). */
  err?: LogSink
  /** Buffered bytes that force a flush before the timer does (default 16 KiB). */
  flushBytes?: number
  /** Longest a buffered line waits, in ms (default 50). */
  flushDelay?: number
}

/**
 * Startup, access and error lines. Access lines are buffered and written in batches, so a busy
 * server makes one write per batch rather than one synchronous write per request (stdout is
 * synchronous for files and pipes). ERROR and WARN lines flush what is buffered, then go out at
 * once, so the order of lines is kept.
 */
export class Log {
  private readonly out: LogSink
  private readonly err: LogSink
  private readonly flushBytes: number
  private readonly flushDelay: number
  private buffered: string
  private timer: NodeJS.Timeout | null

  constructor(options: LogOptions = {}) {
    this.out = options.out ?? process.stdout
    this.err = options.err ?? process.stderr
    this.flushBytes = options.flushBytes ?? 16384
    this.flushDelay = options.flushDelay ?? 50
    this.buffered = ''
    this.timer = null
  }

  info(message: string): void {
    this.flush()
    this.out.write(`INFO: ${message}\n`)
  }

  warn(message: string): void {
    this.flush()
    this.err.write(`WARN: ${message}\n`)
  }

  /** An ERROR line; with `error`, its stack follows on the next lines. */
  error(message: string, error?: unknown): void {
    this.flush()
    let text = `ERROR: ${message}\n`
    if (error !== undefined) {
      const stack = error instanceof Error ? error.stack ?? String(error) : String(error)
      text += `${stack}\n`
    }
    this.err.write(text)
  }

  /** `INFO: 127.0.0.1:55058 - "POST / HTTP/1.1" 200 OK` */
  access(
    address: string | undefined,
    port: number | undefined,
    method: string,
    url: string,
    version: string,
    status: number,
  ): void {
    // The peer's address is unknown once its socket is gone.
    this.buffered += `INFO: ${address ?? '-'}:${port ?? '-'} - "${method} ${url} HTTP/${version}" ${status} ${statusText(status)}\n`
    if (this.buffered.length >= this.flushBytes) this.flush()
    else if (this.timer === null) {
      this.timer = setTimeout(flushLog, this.flushDelay, this)
      this.timer.unref()
    }
  }

  /** Write out everything buffered now. */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    if (this.buffered.length === 0) return
    const text = this.buffered
    this.buffered = ''
    this.out.write(text)
  }
}

function flushLog(log: Log): void {
  log.flush()
}
