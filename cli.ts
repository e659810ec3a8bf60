#!/usr/bin/env node
// The command line: flags -> options -> app -> server. The only place that reads process.argv
// or calls process.exit. Flags, help and error lines keep the seed's (argparse) contract.
import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import mri from 'mri'
import { loadApp, LoadError } from './lib/loader.js'
import { Log } from './lib/log.js'
import { DEFAULT_LIMITS } from './lib/http/parser.js'
import { INTERFACES, InterfaceError, type InterfaceName } from './lib/interfaces/auto.js'
import {
  createServer,
  defaultThreads,
  DEFAULT_APP_TIMEOUT,
  DEFAULT_BODY_TIMEOUT,
  DEFAULT_BUFFER_BODY,
  DEFAULT_HEADERS_TIMEOUT,
  DEFAULT_KEEP_ALIVE_TIMEOUT,
  DEFAULT_MAX_PIPELINE,
  DEFAULT_MIN_DATA_RATE,
  DEFAULT_MIN_DATA_RATE_GRACE,
  type Server,
  type ServerOptions,
} from './lib/server.js'

const DEFAULT_APP = fileURLToPath(new URL('./fixtures/echo.js', import.meta.url)) + ':app'
/** After an uncaught exception, how long requests in flight get before the process exits. */
const FAILURE_GRACE = 10_000

interface Options {
  chdir: string
  host: string
  port: number
  threads: number
  /** undefined: the system's default. */
  backlog: number | undefined
  accessLog: boolean
  interface: InterfaceName
  app: string
  /** The limits and timeouts, as createServer takes them. */
  tuning: Tuning
}

type TuningOption =
  | 'maxRequestLineSize'
  | 'maxHeaderCount'
  | 'maxHeaderSize'
  | 'maxHeadSize'
  | 'maxBodySize'
  | 'maxPipeline'
  | 'bufferBody'
  | 'maxQueue'
  | 'appTimeout'
  | 'headersTimeout'
  | 'bodyTimeout'
  | 'keepAliveTimeout'
  | 'minDataRate'
  | 'minDataRateGrace'
type Tuning = Pick<ServerOptions, TuningOption>

interface TuningFlag {
  flag: string
  option: TuningOption
  /** Sizes and counts are given as they are; timeouts in seconds (options take ms). */
  seconds: boolean
  min: number
  /** In the flag's unit; null: off unless given. */
  default: number | null
  help: string
}

// Limits and timeouts: each is a createServer option; the defaults are the library's.
const TUNING: TuningFlag[] = [
  {
    flag: '--limit-request-line',
    option: 'maxRequestLineSize',
    seconds: false,
    min: 1,
    default: DEFAULT_LIMITS.maxRequestLineSize,
    help: 'The maximum size of the request line in bytes; a longer one gets 414.',
  },
  {
    flag: '--limit-request-fields',
    option: 'maxHeaderCount',
    seconds: false,
    min: 1,
    default: DEFAULT_LIMITS.maxHeaderCount,
    help: 'The maximum number of header fields in a request; more get 431.',
  },
  {
    flag: '--limit-request-field-size',
    option: 'maxHeaderSize',
    seconds: false,
    min: 1,
    default: DEFAULT_LIMITS.maxHeaderSize,
    help: 'The maximum size of one header field in bytes; a larger one gets 431.',
  },
  {
    flag: '--limit-request-head',
    option: 'maxHeadSize',
    seconds: false,
    min: 1,
    default: DEFAULT_LIMITS.maxHeadSize,
    help: 'The maximum size of a request head (request line and fields) in bytes; a larger one gets 431.',
  },
  {
    flag: '--limit-request-body',
    option: 'maxBodySize',
    seconds: false,
    min: 0,
    default: DEFAULT_LIMITS.maxBodySize,
    help: 'The maximum size of a request body in bytes; a larger one gets 413.',
  },
  {
    flag: '--limit-pipeline',
    option: 'maxPipeline',
    seconds: false,
    min: 1,
    default: DEFAULT_MAX_PIPELINE,
    help: 'The maximum number of requests in flight on one connection before it stops being read.',
  },
  {
    flag: '--buffer-body',
    option: 'bufferBody',
    seconds: false,
    min: 0,
    default: DEFAULT_BUFFER_BODY,
    help: 'Request bodies up to this many bytes are read whole before the app is called, so a slow client holds no app call. 0: every body is read by the app as it arrives.',
  },
  {
    flag: '--max-queue',
    option: 'maxQueue',
    seconds: false,
    min: 0,
    default: null,
    help: 'When every app call is busy and this many wait, a new request gets 503 with Retry-After instead of waiting. Off: connections stop being read instead.',
  },
  {
    flag: '--timeout',
    option: 'appTimeout',
    seconds: true,
    min: 0,
    default: DEFAULT_APP_TIMEOUT / 1000,
    help: 'Seconds an app call may take to start its response; then it gets 503 and the connection closes. 0: no limit.',
  },
  {
    flag: '--header-timeout',
    option: 'headersTimeout',
    seconds: true,
    min: 0,
    default: DEFAULT_HEADERS_TIMEOUT / 1000,
    help: 'Seconds a request head may take to arrive; then 408 and the connection closes. 0: no limit.',
  },
  {
    flag: '--body-timeout',
    option: 'bodyTimeout',
    seconds: true,
    min: 0,
    default: DEFAULT_BODY_TIMEOUT / 1000,
    help: 'Seconds a request body may stall (408), or a client may take none of its response, before the connection closes. 0: no limit.',
  },
  {
    flag: '--min-data-rate',
    option: 'minDataRate',
    seconds: false,
    min: 0,
    default: DEFAULT_MIN_DATA_RATE,
    help: 'Bytes per second a client must average while it sends a request body (else 408) or reads a response (else the connection closes), once the grace period is over. 0: no minimum.',
  },
  {
    flag: '--min-data-rate-grace',
    option: 'minDataRateGrace',
    seconds: true,
    min: 0,
    default: DEFAULT_MIN_DATA_RATE_GRACE / 1000,
    help: 'Seconds a request body or a response may take before --min-data-rate applies.',
  },
  {
    flag: '--keep-alive',
    option: 'keepAliveTimeout',
    seconds: true,
    min: 0,
    default: DEFAULT_KEEP_ALIVE_TIMEOUT / 1000,
    help: 'Seconds an idle keep-alive connection stays open. 0: no limit.',
  },
]

/** A bad command line: argparse's one line, exit status 2. */
function usageError(message: string): never {
  process.stderr.write(`pegasus: error: ${message}\n`)
  process.exit(2)
}

function help(cwd: string, threads: number): string {
  return `usage: pegasus [-h] [--chdir DIR] [--host ADDR] [--port PORT] [--threads INT] [--backlog INT] [--interface {${INTERFACES.join(',')}}] [MODULE:APP]

A blazingly fast HTTP/1.1 web server.

positional arguments:
  MODULE:APP     Application to be used. Uses an echo app by default.

options:
  -h, --help     show this help message and exit
  --chdir DIR    Change directory. Uses the current working directory by default. [${cwd}]
  --host ADDR    Address to which the server will bind. [0.0.0.0]
  --port PORT    Port to which the server will bind. [8080]
  --threads INT  The maximum number of app calls in flight. Uses os.availableParallelism() * 2 by default. [${threads}]
  --backlog INT  The maximum number of pending connections before refusing new connections.
                 If negative, a default reasonable value is chosen by the system. [1024]
  --no-access-log
                 Do not log a line for each request.
  --interface {${INTERFACES.join(',')}}
                 How the app is called: native (Pegasus's req and res), node (node:http's IncomingMessage and ServerResponse), fetch (web Request and Response), or auto: chosen by the app's shape. [auto]

limits and timeouts:
${TUNING.map(tuningHelp).join('')}`
}

/** argparse's layout for a flag whose name is wider than the help column. */
function tuningHelp(tuning: TuningFlag): string {
  const metavar = tuning.seconds ? 'SECONDS' : 'INT'
  return `  ${tuning.flag} ${metavar}\n                 ${tuning.help} [${tuning.default ?? 'off'}]\n`
}

const VALUE_FLAGS = new Set(['--chdir', '--host', '--port', '--threads', '--backlog', '--interface', ...TUNING.map((tuning) => tuning.flag)])
const NEGATIVE_NUMBER = /^-\d+$|^-\d*\.\d+$/
// What Python's int() takes: surrounding blanks, a sign, `_` between digits.
const INT = /^\s*[+-]?\d+(?:_\d+)*\s*$/

/**
 * The flags that take a value, pulled out before mri sees the rest: like argparse they take the
 * next argument even when it is a negative number (`--backlog -1`), where mri would read a flag,
 * and an empty value stays empty, where mri would take the argument after it.
 */
function takeValues(argv: string[]): { values: Map<string, string>; rest: string[] } {
  const values = new Map<string, string>()
  const rest: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') {
      rest.push(...argv.slice(i))
      break
    }
    const eq = arg.indexOf('=')
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    if (!VALUE_FLAGS.has(flag)) rest.push(arg)
    else if (eq !== -1) values.set(flag, arg.slice(eq + 1))
    else {
      const value = argv[++i]
      if (value === undefined || (value.startsWith('-') && !NEGATIVE_NUMBER.test(value))) {
        usageError(`argument ${flag}: expected one argument`)
      }
      values.set(flag, value)
    }
  }
  return { values, rest }
}

/** The options; prints the help and exits when asked for it. */
function parseArgs(argv: string[], cwd: string, defaultThreads: number): Options {
  const { values, rest } = takeValues(argv)
  const flags = mri(rest, {
    boolean: ['help', 'access-log'],
    alias: { h: 'help' },
    // A default also makes mri know the flag, so `--no-access-log` passes its unknown check.
    default: { 'access-log': true },
    unknown: (flag) => usageError(`unrecognized arguments: ${flag}`),
  })
  if (flags.help === true) {
    process.stdout.write(help(cwd, defaultThreads))
    process.exit(0)
  }
  if (flags._.length > 1) usageError(`unrecognized arguments: ${flags._.slice(1).join(' ')}`)

  // Checked in the order the help lists them.
  const chdir = values.get('--chdir')
  const threads = values.get('--threads')
  return {
    chdir: chdir === undefined ? cwd : directory(chdir, cwd),
    host: values.get('--host') ?? '0.0.0.0',
    port: portValue(values.get('--port') ?? '8080'),
    threads: threads === undefined ? defaultThreads : atLeast('--threads', threads, 1),
    backlog: backlogValue(values.get('--backlog') ?? '1024'),
    accessLog: flags['access-log'] !== false,
    interface: interfaceValue(values.get('--interface') ?? 'auto'),
    app: flags._.length === 0 ? DEFAULT_APP : String(flags._[0]),
    tuning: tuningValues(values),
  }
}

/** The limits and timeouts given on the command line, in createServer's units. */
function tuningValues(values: Map<string, string>): Tuning {
  const tuning: Tuning = {}
  for (const { flag, option, seconds, min } of TUNING) {
    const value = values.get(flag)
    if (value === undefined) continue
    const n = atLeast(flag, value, min)
    tuning[option] = seconds ? n * 1000 : n
  }
  return tuning
}

function intValue(flag: string, value: string): number {
  if (!INT.test(value)) usageError(`argument ${flag}: invalid int value: '${value}'`)
  return Number(value.replace(/_/g, ''))
}

function atLeast(flag: string, value: string, min: number): number {
  const n = intValue(flag, value)
  if (n < min) usageError(`argument ${flag}: The minimum is ${min}: '${value}'`)
  return n
}

function interfaceValue(value: string): InterfaceName {
  if (!(INTERFACES as readonly string[]).includes(value)) {
    usageError(`argument --interface: invalid choice: '${value}' (choose from ${INTERFACES.map((name) => `'${name}'`).join(', ')})`)
  }
  return value as InterfaceName
}

/** A negative backlog means the system's default (undefined). */
function backlogValue(value: string): number | undefined {
  const n = intValue('--backlog', value)
  return n < 0 ? undefined : n
}

function portValue(value: string): number {
  const port = INT.test(value) ? Number(value.replace(/_/g, '')) : NaN
  if (!(port >= 0 && port <= 65535)) usageError(`argument --port: Port must be 0-65535: '${value}'`)
  return port
}

function directory(value: string, cwd: string): string {
  const path = resolve(cwd, value)
  let isDirectory = false
  try {
    isDirectory = statSync(path).isDirectory()
  } catch {
    // missing or unreadable: reported below
  }
  if (!isDirectory) usageError(`argument --chdir: Directory does not exist: '${value}'`)
  return path
}

async function main(argv: string[]): Promise<void> {
  const options = parseArgs(argv, process.cwd(), defaultThreads())
  process.chdir(options.chdir)
  const log = new Log()
  let server: Server
  try {
    const { app, upgrade } = await loadApp(options.app, options.chdir)
    server = createServer(app as object, {
      interface: options.interface,
      threads: options.threads,
      backlog: options.backlog,
      accessLog: options.accessLog,
      log,
      ...options.tuning,
    })
    // The module's `upgrade` export takes the sockets of WebSocket (and other upgrade) requests.
    if (upgrade !== null) server.setUpgradeHandler(upgrade)
  } catch (error) {
    /* c8 ignore next */
    if (!(error instanceof LoadError) && !(error instanceof InterfaceError)) throw error
    log.error(error.message)
    process.exit(1)
  }
  try {
    await server.listen(options.port, options.host)
  } catch (error) {
    // EADDRINUSE, an address that does not resolve: node's message is one line.
    log.error((error as Error).message)
    process.exit(1)
  }
  const { address, port, family } = server.address()
  log.info(`Listen at "${family === 'IPv6' ? `[${address}]` : address}:${port}"`)
  log.info(`Threads: ${options.threads}`)
  log.info(`Interface: ${server.app.interface} (${server.app.label})`)

  // An exception that escapes the app outside its call (a timer, a stream callback) leaves the
  // process in an unknown state: it is logged once, no new connection is taken, the requests in
  // flight get FAILURE_GRACE to finish, and the process exits 1 for its supervisor to restart it.
  let failed = false
  const fail = (error: unknown): void => {
    if (failed) {
      log.error('Another uncaught exception while shutting down', error)
      return
    }
    failed = true
    log.error(`Uncaught exception: no new connections; requests in flight get ${FAILURE_GRACE / 1000} s, then exit 1`, error)
    const exit = (): never => {
      log.flush()
      process.exit(1)
    }
    setTimeout(exit, FAILURE_GRACE)
    void server.close().then(exit)
  }
  process.on('uncaughtException', fail)
  process.on('unhandledRejection', fail)

  // once: a second signal finds no handler and ends the process at once, should close hang.
  const shutdown = async () => {
    log.info('Shutting down')
    await server.close()
    log.flush()
    process.exit(0)
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
}

// A failure other than the ones reported above is a bug: node prints its stack and exits 1.
await main(process.argv.slice(2))
