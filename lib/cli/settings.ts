// The CLI's settings: every flag, from the command line, PEGASUS_* environment variables and a
// --config file, in that order of precedence over the defaults. Pure: it reads no process state
// of its own and exits nothing; the CLI prints what it returns or throws.
import { statSync, readFileSync } from 'node:fs'
import { extname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import mri from 'mri'
import { INTERFACES, type InterfaceName } from '../interfaces/auto.js'
import { DEFAULT_LIMITS } from '../http/parser.js'
import { defaultMaxConnections } from '../fd-limit.js'
import {
  DEFAULT_APP_TIMEOUT,
  DEFAULT_BODY_TIMEOUT,
  DEFAULT_BUFFER_BODY,
  DEFAULT_HEADERS_TIMEOUT,
  DEFAULT_KEEP_ALIVE_TIMEOUT,
  DEFAULT_MAX_PIPELINE,
  DEFAULT_MIN_DATA_RATE,
  DEFAULT_MIN_DATA_RATE_GRACE,
  type ServerOptions,
} from '../server.js'
import { BindError, formatBind, parseBind, type Bind } from '../binds.js'

export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'critical'
/** How connections reach workers: node:cluster round-robin, one shared socket, or SO_REUSEPORT. */
export type Balance = 'round-robin' | 'shared' | 'reuseport'

export type TuningOption =
  | 'maxRequestLineSize'
  | 'maxHeaderCount'
  | 'maxHeaderSize'
  | 'maxHeadSize'
  | 'maxBodySize'
  | 'maxPipeline'
  | 'bufferBody'
  | 'maxQueue'
  | 'maxConnections'
  | 'appTimeout'
  | 'headersTimeout'
  | 'bodyTimeout'
  | 'keepAliveTimeout'
  | 'minDataRate'
  | 'minDataRateGrace'
/** The limits and timeouts, as createServer takes them (ms). */
export type Tuning = Pick<ServerOptions, TuningOption>

export interface Settings {
  /** MODULE:APP (the echo fixture by default). */
  app: string
  /** Absolute directory the app is loaded from (and --reload watches). */
  chdir: string
  interface: InterfaceName
  threads: number
  /** Where to listen: the --bind values, else one tcp bind from --host/--port. */
  binds: Bind[]
  /** undefined: the system's default. */
  backlog: number | undefined
  /** Umask for unix socket files (undefined: the process's). */
  umask: number | undefined
  /** --pid FILE, or null. */
  pid: string | null

  // TLS: all null/defaults when --certfile is absent.
  certfile: string | null
  keyfile: string | null
  caCerts: string | null
  /** Client certificates: not asked for, asked for, or required. */
  certReqs: 'none' | 'optional' | 'required'
  sslCiphers: string | null
  sslMinVersion: 'TLSv1.2' | 'TLSv1.3'

  // Proxies
  /** Peers whose X-Forwarded-* / Forwarded fields are believed: addresses, CIDRs, or '*'. */
  forwardedAllowIps: string[]
  proxyProtocol: boolean
  /** Request-target bytes outside RFC 3986 are let through (see the README). */
  permissiveTarget: boolean

  // Workers and the arbiter
  workers: number
  /** ms a worker's event loop may be blocked before it is killed; 0: never. */
  workerTimeout: number
  /** ms in-flight requests get after TERM (and when a worker is recycled or reloaded). */
  gracefulTimeout: number
  /** 0: never recycle by request count. */
  maxRequests: number
  maxRequestsJitter: number
  /** MiB of RSS after which a worker is recycled; 0: no limit. */
  maxWorkerMemory: number
  reload: boolean
  balance: Balance

  // Logs
  /** false with --no-access-log. */
  accessLog: boolean
  /** '-' (stdout, the default) or a file path. */
  accessLogfile: string
  /** '-' (the default: INFO to stdout, WARN and worse to stderr) or a file path. */
  errorLogfile: string
  logLevel: LogLevel
  /** gunicorn atoms; null: the seed's line. */
  accessLogFormat: string | null
  accessLogJson: boolean

  tuning: Tuning
}

/** A bad setting: the one line to print after `pegasus: error: `; the CLI exits 2. */
export class UsageError extends Error {}

/** What the command line asked for: help text to print, or settings to run with. */
export type Parsed = { help: string } | { version: true } | { settings: Settings; printConfig: boolean }

export interface Environment {
  argv: string[]
  env: Record<string, string | undefined>
  cwd: string
  /** The --threads default (defaultThreads(): the default --max-connections). */
  defaultThreads: number
  /** The app served when none is named. */
  defaultApp: string
  /** The terminal's width when the help goes to a terminal (else 80 columns; COLUMNS wins). */
  columns?: number
}

type Raw = string | number | boolean | string[]
/** Where a value came from, for error lines. */
type Source = 'cli' | 'env' | 'file'

interface Flag {
  /** The long flag without dashes; also the config key (or its camelCase) and PEGASUS_ name. */
  name: string
  short?: string
  metavar?: string
  group: Group
  help: string
  /** As shown in the help, between []. */
  shown: (env: Environment) => string
  /** Absent from the command line, the environment and the file. */
  fallback: (env: Environment) => unknown
  /** Turns a raw value (a string, or a config file's number, boolean or array) into the setting. */
  convert: (raw: Raw, label: string, env: Environment) => unknown
  /** A boolean switch (mri handles it); else the flag takes a value. */
  boolean?: boolean
  /** May be given more than once (each adds a value). */
  repeat?: boolean
  /** Where the value goes (`listen`: the values the binds are made of, once all are known). */
  set: (settings: Settings, value: unknown, listen: Listen) => void
}

/** --host, --port and --balance: settled after the other flags (--bind wins; --workers decides). */
interface Listen {
  host: string
  port: number
  balance: Balance | null
}

type Group = 'options' | 'workers' | 'binds' | 'tls' | 'proxies' | 'logs' | 'limits'

const GROUP_TITLES: Record<Group, string> = {
  options: 'options',
  workers: 'workers',
  binds: 'binds',
  tls: 'TLS',
  proxies: 'behind a proxy',
  logs: 'logs',
  limits: 'limits and timeouts',
}

// What Python's int() takes: surrounding blanks, a sign, `_` between digits.
const INT = /^\s*[+-]?\d+(?:_\d+)*\s*$/
const NEGATIVE_NUMBER = /^-\d+$|^-\d*\.\d+$/
const TRUE = new Set(['1', 'true', 'yes', 'on'])
const FALSE = new Set(['0', 'false', 'no', 'off'])

function text(raw: Raw, label: string): string {
  if (typeof raw === 'string') return raw
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw)
  throw new UsageError(`${label}: expected one value, got a list`)
}

function intOf(raw: Raw, label: string): number {
  const value = text(raw, label)
  if (!INT.test(value)) throw new UsageError(`${label}: invalid int value: '${value}'`)
  return Number(value.replace(/_/g, ''))
}

function atLeast(min: number): (raw: Raw, label: string) => number {
  return (raw, label) => {
    const n = intOf(raw, label)
    if (n < min) throw new UsageError(`${label}: The minimum is ${min}: '${text(raw, label)}'`)
    return n
  }
}

function choice<T extends string>(choices: readonly T[]): (raw: Raw, label: string) => T {
  return (raw, label) => {
    const value = text(raw, label)
    if (!(choices as readonly string[]).includes(value)) {
      throw new UsageError(`${label}: invalid choice: '${value}' (choose from ${choices.map((c) => `'${c}'`).join(', ')})`)
    }
    return value as T
  }
}

function booleanOf(raw: Raw, label: string): boolean {
  if (typeof raw === 'boolean') return raw
  const value = text(raw, label).trim().toLowerCase()
  if (TRUE.has(value)) return true
  if (FALSE.has(value)) return false
  throw new UsageError(`${label}: invalid boolean value: '${text(raw, label)}' (use true or false)`)
}

function listOf(raw: Raw): string[] {
  const items = Array.isArray(raw) ? raw.map(String) : String(raw).split(',')
  return items.map((item) => item.trim()).filter((item) => item.length > 0)
}

function stringOf(raw: Raw, label: string): string {
  return text(raw, label)
}

/** A file path, taken from the working directory. */
function pathOf(raw: Raw, label: string, env: Environment): string {
  return resolve(env.cwd, text(raw, label))
}

const seconds = (min: number) => (raw: Raw, label: string) => atLeast(min)(raw, label) * 1000

/** The limits and timeouts: each a createServer option, with the library's defaults. */
const TUNING: { name: string; option: TuningOption; seconds: boolean; min: number; default: number | null; help: string }[] = [
  { name: 'limit-request-line', option: 'maxRequestLineSize', seconds: false, min: 1, default: DEFAULT_LIMITS.maxRequestLineSize, help: 'The maximum size of the request line in bytes; a longer one gets 414 when the target is what is too long, else 400.' },
  { name: 'limit-request-fields', option: 'maxHeaderCount', seconds: false, min: 1, default: DEFAULT_LIMITS.maxHeaderCount, help: 'The maximum number of header fields in a request; more get 431.' },
  { name: 'limit-request-field-size', option: 'maxHeaderSize', seconds: false, min: 1, default: DEFAULT_LIMITS.maxHeaderSize, help: 'The maximum size of one header field in bytes; a larger one gets 431.' },
  { name: 'limit-request-head', option: 'maxHeadSize', seconds: false, min: 1, default: DEFAULT_LIMITS.maxHeadSize, help: 'The maximum size of a request head (request line and fields) in bytes; a larger one gets 431.' },
  { name: 'limit-request-body', option: 'maxBodySize', seconds: false, min: 0, default: DEFAULT_LIMITS.maxBodySize, help: 'The maximum size of a request body in bytes; a larger one gets 413.' },
  { name: 'limit-pipeline', option: 'maxPipeline', seconds: false, min: 1, default: DEFAULT_MAX_PIPELINE, help: 'The maximum number of requests in flight on one connection before it stops being read.' },
  { name: 'buffer-body', option: 'bufferBody', seconds: false, min: 0, default: DEFAULT_BUFFER_BODY, help: 'Request bodies up to this many bytes are read whole before the app is called, so a slow client holds no app call. 0: every body is read by the app as it arrives.' },
  { name: 'max-connections', option: 'maxConnections', seconds: false, min: 1, default: defaultMaxConnections(), help: 'The maximum number of connections a worker keeps open: past it the oldest idle one is closed, and when none is idle new ones wait unread until one closes. By default the open-file limit (ulimit -n) less an eighth of it (at least 128) kept for the app.' },
  { name: 'max-queue', option: 'maxQueue', seconds: false, min: 0, default: null, help: 'When every app call is busy and this many wait, a new request gets 503 with Retry-After instead of waiting. Off: connections stop being read instead.' },
  { name: 'timeout', option: 'appTimeout', seconds: true, min: 0, default: DEFAULT_APP_TIMEOUT / 1000, help: 'Seconds an app call may take to start its response; then it gets 503 and the connection closes. 0: no limit.' },
  { name: 'header-timeout', option: 'headersTimeout', seconds: true, min: 0, default: DEFAULT_HEADERS_TIMEOUT / 1000, help: 'Seconds a request head may take to arrive; then 408 and the connection closes. 0: no limit.' },
  { name: 'body-timeout', option: 'bodyTimeout', seconds: true, min: 0, default: DEFAULT_BODY_TIMEOUT / 1000, help: 'Seconds a request body may stall (408), or a client may take none of its response, before the connection closes. 0: no limit.' },
  { name: 'min-data-rate', option: 'minDataRate', seconds: false, min: 0, default: DEFAULT_MIN_DATA_RATE, help: 'Bytes per second a client must average while it sends a request body (else 408) or reads a response (else the connection closes), once the grace period is over. 0: no minimum.' },
  { name: 'min-data-rate-grace', option: 'minDataRateGrace', seconds: true, min: 0, default: DEFAULT_MIN_DATA_RATE_GRACE / 1000, help: 'Seconds a request body or a response may take before --min-data-rate applies.' },
  { name: 'keep-alive', option: 'keepAliveTimeout', seconds: true, min: 0, default: DEFAULT_KEEP_ALIVE_TIMEOUT / 1000, help: 'Seconds an idle keep-alive connection stays open. 0: no limit.' },
]

const CERT_REQS = ['none', 'optional', 'required'] as const
const SSL_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const
const LOG_LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const
const BALANCES = ['round-robin', 'shared', 'reuseport'] as const

const none = () => null
const shownNone = () => 'None'

const FLAGS: Flag[] = [
  {
    name: 'chdir',
    metavar: 'DIR',
    group: 'options',
    help: 'Change directory. Uses the current working directory by default.',
    shown: (env) => env.cwd,
    fallback: (env) => env.cwd,
    convert: (raw, label, env) => {
      const value = text(raw, label)
      const path = resolve(env.cwd, value)
      let isDirectory = false
      try {
        isDirectory = statSync(path).isDirectory()
      } catch {
        // missing or unreadable: reported below
      }
      if (!isDirectory) throw new UsageError(`${label}: Directory does not exist: '${value}'`)
      return path
    },
    set: (s, v) => (s.chdir = v as string),
  },
  {
    name: 'host',
    metavar: 'ADDR',
    group: 'options',
    help: 'Address to which the server will bind.',
    shown: () => '0.0.0.0',
    fallback: () => '0.0.0.0',
    convert: stringOf,
    set: (_, v, listen) => (listen.host = v as string),
  },
  {
    name: 'port',
    metavar: 'PORT',
    group: 'options',
    help: 'Port to which the server will bind.',
    shown: () => '8080',
    fallback: () => 8080,
    convert: (raw, label) => {
      const value = text(raw, label)
      const port = INT.test(value) ? Number(value.replace(/_/g, '')) : NaN
      if (!(port >= 0 && port <= 65535)) throw new UsageError(`${label}: Port must be 0-65535: '${value}'`)
      return port
    },
    set: (_, v, listen) => (listen.port = v as number),
  },
  {
    name: 'threads',
    metavar: 'INT',
    group: 'options',
    help: 'The maximum number of app calls in flight (a call whose request body is still arriving is not counted). Uses --max-connections\'s default, so that an app that awaits I/O is never throttled; overload gets 503 when the event loop saturates.',
    shown: (env) => String(env.defaultThreads),
    fallback: (env) => env.defaultThreads,
    convert: atLeast(1),
    set: (s, v) => (s.threads = v as number),
  },
  {
    name: 'backlog',
    metavar: 'INT',
    group: 'options',
    help: 'The maximum number of pending connections before refusing new connections.\n                 If negative, a default reasonable value is chosen by the system.',
    shown: () => '1024',
    fallback: () => 1024,
    convert: (raw, label) => intOf(raw, label),
    set: (s, v) => (s.backlog = (v as number) < 0 ? undefined : (v as number)),
  },
  {
    name: 'access-log',
    group: 'options',
    boolean: true,
    help: 'Do not log a line for each request.',
    shown: () => '',
    fallback: () => true,
    convert: booleanOf,
    set: (s, v) => (s.accessLog = v as boolean),
  },
  {
    name: 'interface',
    metavar: `{${INTERFACES.join(',')}}`,
    group: 'options',
    help: "How the app is called: native (Pegasus's req and res), node (node:http's IncomingMessage and ServerResponse), fetch (web Request and Response), or auto: chosen by the app's shape.",
    shown: () => 'auto',
    fallback: () => 'auto',
    convert: choice(INTERFACES),
    set: (s, v) => (s.interface = v as InterfaceName),
  },

  {
    name: 'config',
    metavar: 'FILE',
    group: 'options',
    help: 'Read settings from a .json file, or a .js/.mjs/.cjs module exporting an object, its keys the flags\' names (`workers`, `forwarded-allow-ips` or `forwardedAllowIps`). The command line and PEGASUS_* environment variables override it.',
    shown: shownNone,
    fallback: none,
    convert: stringOf,
    set: () => {},
  },
  {
    name: 'print-config',
    group: 'options',
    boolean: true,
    help: 'Print the resolved settings as JSON (usable as a --config file) and exit.',
    shown: () => '',
    fallback: () => false,
    convert: booleanOf,
    set: () => {},
  },
  {
    name: 'workers',
    short: 'w',
    metavar: 'INT',
    group: 'workers',
    help: 'The number of worker processes, each serving the app on its own event loop, supervised by a primary process. Uses $WEB_CONCURRENCY when set.',
    shown: (env) => env.env.WEB_CONCURRENCY ?? '1',
    fallback: (env) => (env.env.WEB_CONCURRENCY === undefined ? 1 : atLeast(1)(env.env.WEB_CONCURRENCY, 'environment variable WEB_CONCURRENCY')),
    convert: atLeast(1),
    set: (s, v) => (s.workers = v as number),
  },
  {
    name: 'worker-timeout',
    metavar: 'SECONDS',
    group: 'workers',
    help: "A worker whose event loop is blocked this long is killed and replaced (WORKER TIMEOUT). 0: never.",
    shown: () => '30',
    fallback: () => 30_000,
    convert: seconds(0),
    set: (s, v) => (s.workerTimeout = v as number),
  },
  {
    name: 'graceful-timeout',
    metavar: 'SECONDS',
    group: 'workers',
    help: 'After SIGTERM (or a reload, or a recycled worker), seconds requests in flight get to finish before their connections are closed.',
    shown: () => '30',
    fallback: () => 30_000,
    convert: seconds(0),
    set: (s, v) => (s.gracefulTimeout = v as number),
  },
  {
    name: 'max-requests',
    metavar: 'INT',
    group: 'workers',
    help: 'A worker is replaced after serving this many requests (one worker at a time). 0: never.',
    shown: () => '0',
    fallback: () => 0,
    convert: atLeast(0),
    set: (s, v) => (s.maxRequests = v as number),
  },
  {
    name: 'max-requests-jitter',
    metavar: 'INT',
    group: 'workers',
    help: 'Each worker\'s --max-requests is moved by a random amount up to this, so workers are not replaced together.',
    shown: () => '0',
    fallback: () => 0,
    convert: atLeast(0),
    set: (s, v) => (s.maxRequestsJitter = v as number),
  },
  {
    name: 'max-worker-memory',
    metavar: 'MIB',
    group: 'workers',
    help: 'A worker whose resident memory (RSS) grows past this many MiB is replaced. 0: no limit.',
    shown: () => '0',
    fallback: () => 0,
    convert: atLeast(0),
    set: (s, v) => (s.maxWorkerMemory = v as number),
  },
  {
    name: 'reload',
    group: 'workers',
    boolean: true,
    help: 'Development: restart the workers when a file under --chdir changes (node_modules and dot folders aside).',
    shown: () => '',
    fallback: () => false,
    convert: booleanOf,
    set: (s, v) => (s.reload = v as boolean),
  },
  {
    name: 'balance',
    metavar: `{${BALANCES.join(',')}}`,
    group: 'workers',
    help: "How connections reach workers: node:cluster's round-robin through the primary, one shared listening socket every worker accepts from, or a socket per worker with SO_REUSEPORT (Node.js >= 22.12). Uses shared for one worker, round-robin for more by default.",
    shown: () => 'None',
    fallback: none,
    convert: choice(BALANCES),
    set: (_, v, listen) => (listen.balance = v as Balance | null),
  },

  {
    name: 'bind',
    short: 'b',
    metavar: 'ADDR',
    group: 'binds',
    repeat: true,
    help: 'Where to listen, repeatable: HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N (a socket passed by systemd). Wins over --host and --port.',
    shown: shownNone,
    fallback: () => [],
    convert: (raw, label) =>
      listOf(Array.isArray(raw) ? raw : text(raw, label)).map((value) => {
        try {
          return parseBind(value)
        } catch (error) {
          /* c8 ignore next */
          if (!(error instanceof BindError)) throw error
          throw new UsageError(`${label}: ${error.message}`)
        }
      }),
    set: (s, v) => {
      if ((v as Bind[]).length > 0) s.binds = v as Bind[]
    },
  },
  {
    name: 'umask',
    metavar: 'INT',
    group: 'binds',
    help: "The umask unix socket files are created with, octal (0o007 or 007). Uses the process's by default.",
    shown: shownNone,
    fallback: none,
    convert: (raw, label) => {
      const value = text(raw, label).trim()
      const match = /^(?:0o)?([0-7]{1,4})$/.exec(value)
      if (match === null) throw new UsageError(`${label}: invalid octal value: '${value}'`)
      return parseInt(match[1], 8)
    },
    set: (s, v) => (s.umask = v === null ? undefined : (v as number)),
  },
  {
    name: 'pid',
    metavar: 'FILE',
    group: 'binds',
    help: "Write the primary process's pid to this file (removed on exit).",
    shown: shownNone,
    fallback: none,
    convert: pathOf,
    set: (s, v) => (s.pid = v as string | null),
  },

  {
    name: 'certfile',
    metavar: 'FILE',
    group: 'tls',
    help: 'Serve HTTPS with this PEM certificate (chain), its private key in --keyfile or in this file.',
    shown: shownNone,
    fallback: none,
    convert: pathOf,
    set: (s, v) => (s.certfile = v as string | null),
  },
  {
    name: 'keyfile',
    metavar: 'FILE',
    group: 'tls',
    help: "The certificate's PEM private key.",
    shown: shownNone,
    fallback: none,
    convert: pathOf,
    set: (s, v) => (s.keyfile = v as string | null),
  },
  {
    name: 'ca-certs',
    metavar: 'FILE',
    group: 'tls',
    help: 'PEM certificates of the authorities client certificates are checked against.',
    shown: shownNone,
    fallback: none,
    convert: pathOf,
    set: (s, v) => (s.caCerts = v as string | null),
  },
  {
    name: 'cert-reqs',
    metavar: `{${CERT_REQS.join(',')}}`,
    group: 'tls',
    help: 'Client certificates: not asked for, asked for (the app sees whether one was valid), or required (the handshake fails without a valid one).',
    shown: () => 'none',
    fallback: () => 'none',
    convert: choice(CERT_REQS),
    set: (s, v) => (s.certReqs = v as Settings['certReqs']),
  },
  {
    name: 'ssl-ciphers',
    metavar: 'CIPHERS',
    group: 'tls',
    help: "OpenSSL cipher list for TLS 1.2 connections. Uses Node.js's default by default.",
    shown: shownNone,
    fallback: none,
    convert: stringOf,
    set: (s, v) => (s.sslCiphers = v as string | null),
  },
  {
    name: 'ssl-min-version',
    metavar: `{${SSL_VERSIONS.join(',')}}`,
    group: 'tls',
    help: 'The oldest TLS version accepted.',
    shown: () => 'TLSv1.2',
    fallback: () => 'TLSv1.2',
    convert: choice(SSL_VERSIONS),
    set: (s, v) => (s.sslMinVersion = v as Settings['sslMinVersion']),
  },

  {
    name: 'forwarded-allow-ips',
    metavar: 'LIST',
    group: 'proxies',
    help: "Comma-separated addresses or CIDRs of proxies whose X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and Forwarded fields are believed; '*' trusts every peer.",
    shown: () => '127.0.0.1,::1',
    fallback: () => ['127.0.0.1', '::1'],
    convert: (raw) => listOf(raw),
    set: (s, v) => (s.forwardedAllowIps = v as string[]),
  },
  {
    name: 'proxy-protocol',
    group: 'proxies',
    boolean: true,
    help: "Every connection from a --forwarded-allow-ips peer starts with a PROXY protocol header (v1 or v2), as load balancers send; the client's address is taken from it.",
    shown: () => '',
    fallback: () => false,
    convert: booleanOf,
    set: (s, v) => (s.proxyProtocol = v as boolean),
  },

  {
    name: 'access-logfile',
    metavar: 'FILE',
    group: 'logs',
    help: "Where access lines go: '-' for standard output, or a file (reopened on SIGUSR1).",
    shown: () => '-',
    fallback: () => '-',
    convert: (raw, label, env) => {
      const value = text(raw, label)
      return value === '-' ? value : resolve(env.cwd, value)
    },
    set: (s, v) => (s.accessLogfile = v as string),
  },
  {
    name: 'error-logfile',
    metavar: 'FILE',
    group: 'logs',
    help: "Where the other lines go: '-' for standard output (INFO) and standard error (WARN and worse), or a file (reopened on SIGUSR1).",
    shown: () => '-',
    fallback: () => '-',
    convert: (raw, label, env) => {
      const value = text(raw, label)
      return value === '-' ? value : resolve(env.cwd, value)
    },
    set: (s, v) => (s.errorLogfile = v as string),
  },
  {
    name: 'log-level',
    metavar: `{${LOG_LEVELS.join(',')}}`,
    group: 'logs',
    help: 'The least severe lines written (access lines aside).',
    shown: () => 'info',
    fallback: () => 'info',
    convert: choice(LOG_LEVELS),
    set: (s, v) => (s.logLevel = v as LogLevel),
  },
  {
    name: 'access-log-format',
    metavar: 'FORMAT',
    group: 'logs',
    help: "An access line made of gunicorn's atoms: %(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\", T D M L p, %({header}i)s, %({header}o)s, %({name}e)s. Uses the line shown in the README by default.",
    shown: shownNone,
    fallback: none,
    convert: stringOf,
    set: (s, v) => (s.accessLogFormat = v as string | null),
  },
  {
    name: 'access-log-json',
    group: 'logs',
    boolean: true,
    help: 'Write each access line as one JSON object.',
    shown: () => '',
    fallback: () => false,
    convert: booleanOf,
    set: (s, v) => (s.accessLogJson = v as boolean),
  },

  {
    name: 'permissive-target',
    group: 'limits',
    boolean: true,
    help: 'Let request targets through that have bytes outside RFC 3986, for legacy clients: " < > # and non-ASCII bytes, malformed %-escapes. Control characters, spaces, DEL and %00 stay refused.',
    shown: () => '',
    fallback: () => false,
    convert: booleanOf,
    set: (s, v) => (s.permissiveTarget = v as boolean),
  },
  ...TUNING.map(
    (tuning): Flag => ({
      name: tuning.name,
      metavar: tuning.seconds ? 'SECONDS' : 'INT',
      group: 'limits',
      help: tuning.help,
      // (--max-connections's default is --threads's: the environment's, so the docs can show one.)
      shown: (env: Environment) => (tuning.name === 'max-connections' ? String(env.defaultThreads) : tuning.default === null ? 'off' : String(tuning.default)),
      fallback: none,
      convert: tuning.seconds ? seconds(tuning.min) : atLeast(tuning.min),
      set: (s, v) => {
        if (v !== null) s.tuning[tuning.option] = v as number
      },
    }),
  ),
]

const BY_NAME = new Map(FLAGS.map((flag) => [flag.name, flag]))
const BY_SHORT = new Map(FLAGS.filter((flag) => flag.short !== undefined).map((flag) => [flag.short as string, flag]))
/** Config keys: the flag's name, or its camelCase; `app` for MODULE:APP. */
const BY_KEY = new Map<string, Flag>()
for (const flag of FLAGS) {
  BY_KEY.set(flag.name, flag)
  BY_KEY.set(flag.name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), flag)
}

/** The widest help, whatever the terminal: lines of more than 100 columns are hard to read. */
const MAX_WIDTH = 100
/** Where the flags' help starts (argparse's layout). */
const HELP_COLUMN = 17

/** Examples at the end of --help: what each kind of user comes for. */
const EXAMPLES: [string, string][] = [
  ['An Express (or any node:http) app, exported as the module\'s default or as `app`:', 'pegasus --host 127.0.0.1 --port 3000 app.js'],
  ['A Hono app or any fetch handler (export default app):', 'pegasus app.mjs'],
  ['An app that calls listen() itself (NestJS, socket.io, Hapi):', 'node --import pegasus/register app.js'],
  ['Four workers on a unix socket behind nginx, believing its X-Forwarded-* fields:', 'pegasus -w 4 -b unix:/run/app.sock --forwarded-allow-ips 127.0.0.1 app.js'],
  ['HTTPS on port 8443:', 'pegasus --certfile cert.pem --keyfile key.pem -b 0.0.0.0:8443 app.js'],
]

/** The help's width: COLUMNS, else the terminal's, else 80; never over MAX_WIDTH. */
function helpWidth(env: Environment): number {
  const columns = Number(env.env.COLUMNS)
  const width = Number.isInteger(columns) && columns > 0 ? columns : (env.columns ?? 80)
  return Math.max(40, Math.min(MAX_WIDTH, width))
}

/** The help text (argparse's layout, wrapped to the terminal's width, at most 100 columns). */
export function helpText(env: Environment): string {
  const width = helpWidth(env)
  const usage = ['[-h]', '[--version]', '[--chdir DIR]', '[--host ADDR]', '[--port PORT]', '[--threads INT]', '[--backlog INT]', `[--interface {${INTERFACES.join(',')}}]`, '[-w INT]', '[-b ADDR]', '[--config FILE]', '[MODULE:APP]']
  // argparse's usage: whole [groups] to a line, the next lines under the first group.
  const lines: string[] = []
  let line = 'usage: pegasus'
  for (const group of usage) {
    if (line.length + 1 + group.length > width && line.length > 'usage: pegasus'.length) {
      lines.push(line)
      line = ' '.repeat('usage: pegasus'.length)
    }
    line += ` ${group}`
  }
  lines.push(line)
  let text = `${lines.join('\n')}

A blazingly fast HTTP/1.1 web server.

positional arguments:
${item('  MODULE:APP', 'Application to be used. Uses an echo app by default.', width)}`
  let group: Group | null = null
  for (const flag of FLAGS) {
    if (flag.group !== group) {
      group = flag.group
      text += `\n${GROUP_TITLES[group]}:\n`
      if (group === 'options') text += item('  -h, --help', 'show this help message and exit', width) + item('  --version', "show Pegasus's version and exit", width)
    }
    text += flagHelp(flag, env, width)
  }
  text += '\nexamples:\n'
  for (const [what, command] of EXAMPLES) text += `${wrap(`  ${what}`, width, '  ')}\n${wrap(`    ${command}`, width, '      ')}\n`
  return text
}

/** argparse's layout: the help beside a short flag, on the next line after a long one. */
function flagHelp(flag: Flag, env: Environment, width: number): string {
  const names = flag.boolean === true && flag.name === 'access-log' ? '--no-access-log' : `${flag.short === undefined ? '' : `-${flag.short} ${flag.metavar}, `}--${flag.name}${flag.metavar === undefined ? '' : ` ${flag.metavar}`}`
  const shown = flag.shown(env)
  return item(`  ${names}`, shown === '' ? flag.help : `${flag.help} [${shown}]`, width)
}

/** One entry: its names, and its help wrapped from HELP_COLUMN (beside short names, else below). */
function item(head: string, help: string, width: number): string {
  const indent = ' '.repeat(HELP_COLUMN)
  const wrapped = wrap(indent + help, width, indent)
  if (head.length <= HELP_COLUMN - 2) return `${head.padEnd(HELP_COLUMN)}${wrapped.slice(HELP_COLUMN)}\n`
  return `${head}\n${wrapped}\n`
}

/**
 * `line` broken at spaces into lines of at most `width` columns, the next ones starting with
 * `indent` (a word longer than a line keeps a line of its own). Its own line breaks are kept.
 */
export function wrap(line: string, width: number, indent: string): string {
  const out: string[] = []
  for (const paragraph of line.split('\n')) {
    const lead = /^ */.exec(paragraph)?.[0] ?? ''
    let current = lead
    let empty = true
    for (const word of paragraph.slice(lead.length).split(/ +/)) {
      if (!empty && current.length + 1 + word.length > width) {
        out.push(current)
        current = indent + word
      } else current += empty ? word : ` ${word}`
      empty = false
    }
    out.push(current)
  }
  return out.join('\n')
}

/** The flag a mistyped one was probably meant to be: ` (did you mean --workers?)`, or ''. */
export function suggestion(typed: string): string {
  const name = typed.replace(/=.*$/, '').replace(/^-+/, '')
  if (name === '') return ''
  const names = ['help', 'version', 'no-access-log', ...FLAGS.map((flag) => flag.name)]
  let best = ''
  let bestDistance = Infinity
  for (const candidate of names) {
    const distance = editDistance(name, candidate)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  // Close enough to be a typo, or the start of only one flag.
  if (bestDistance <= (name.length <= 4 ? 1 : 2)) return ` (did you mean --${best}?)`
  const starting = names.filter((candidate) => candidate.startsWith(name))
  return starting.length === 1 ? ` (did you mean --${starting[0]}?)` : ''
}

/** Levenshtein's distance, with a swap of two neighbours counted as one edit. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = []
  for (let i = 0; i <= a.length; i++) {
    rows.push([i])
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0].push(j)
        continue
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2][j - 2] + 1)
      rows[i].push(d)
    }
  }
  return rows[a.length][b.length]
}

/**
 * docs/configuration.md's generated part: --help at 100 columns for a documented machine (the
 * directory shown as /current/dir, `ulimit -n` 1024), then every flag's environment variable
 * and config keys. test/docs.ts checks that the page has it; `npm run docs` writes it.
 */
export function configurationReference(): string {
  const env: Environment = { argv: [], env: { COLUMNS: '100' }, cwd: '/current/dir', defaultThreads: 896, defaultApp: '' }
  let text = '```\n' + helpText(env) + '```\n\n| flag | environment variable | config keys |\n|---|---|---|\n'
  text += '| MODULE:APP | `PEGASUS_APP` | `app` |\n'
  for (const flag of FLAGS) {
    const camel = flag.name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
    // (A config file cannot name another, nor print; nor can the environment print.)
    const inFile = flag.name !== 'config' && flag.name !== 'print-config'
    const keys = !inFile ? '-' : camel === flag.name ? `\`${flag.name}\`` : `\`${flag.name}\`, \`${camel}\``
    const names = flag.boolean === true && flag.name === 'access-log' ? '`--no-access-log`' : `\`--${flag.name}\``
    const variable = flag.name === 'print-config' ? '-' : `\`${envName(flag.name)}\``
    text += `| ${names} | ${variable} | ${keys} |\n`
  }
  return text
}

/** The flags as given: values by flag name (lists for repeatable ones), and the positional. */
function fromArgv(argv: string[]): { values: Map<string, Raw>; help: boolean; version: boolean; app: string | null } {
  const values = new Map<string, Raw>()
  const rest: string[] = []
  const put = (flag: Flag, value: string): void => {
    if (flag.repeat === true) {
      const list = (values.get(flag.name) as string[] | undefined) ?? []
      list.push(value)
      values.set(flag.name, list)
    } else values.set(flag.name, value)
  }
  // Flags that take a value are pulled out before mri sees the rest: like argparse they take the
  // next argument even when it is a negative number (`--backlog -1`), where mri would read a
  // flag, and an empty value stays empty, where mri would take the argument after it.
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') {
      rest.push(...argv.slice(i))
      break
    }
    let flag: Flag | undefined
    let inline: string | undefined
    let shown = arg
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      shown = eq === -1 ? arg : arg.slice(0, eq)
      flag = BY_NAME.get(shown.slice(2))
      if (eq !== -1) inline = arg.slice(eq + 1)
    } else if (arg.length >= 2 && arg[0] === '-' && !NEGATIVE_NUMBER.test(arg)) {
      flag = BY_SHORT.get(arg[1])
      shown = arg.slice(0, 2)
      if (arg.length > 2) inline = arg.slice(2)
    }
    if (flag?.boolean === true && inline !== undefined) throw new UsageError(`argument ${shown}: ignored explicit argument '${inline}'`)
    if (flag === undefined || flag.boolean === true) {
      rest.push(arg)
      continue
    }
    if (inline !== undefined) {
      put(flag, inline)
      continue
    }
    const value = argv[++i]
    // `-` alone is a value (standard output), as argparse takes it.
    if (value === undefined || (value.startsWith('-') && value !== '-' && !NEGATIVE_NUMBER.test(value))) {
      throw new UsageError(`argument ${shown}: expected one argument`)
    }
    put(flag, value)
  }
  const booleans = FLAGS.filter((flag) => flag.boolean === true).map((flag) => flag.name)
  const parsed = mri(rest, {
    boolean: ['help', 'version', ...booleans],
    alias: { h: 'help' },
    // A default also makes mri know the flag, so `--no-access-log` passes its unknown check.
    default: { version: false, ...Object.fromEntries(booleans.map((name) => [name, name === 'access-log'])) },
    unknown: (flag) => {
      throw new UsageError(`unrecognized arguments: ${flag}${suggestion(flag)}`)
    },
  })
  if (parsed._.length > 1) throw new UsageError(`unrecognized arguments: ${parsed._.slice(1).join(' ')}`)
  for (const name of booleans) {
    // mri sets every boolean; only those on the command line count (the others may come from
    // the environment or the file).
    if (name === 'access-log' ? parsed[name] === false : parsed[name] === true) values.set(name, parsed[name] as boolean)
  }
  return { values, help: parsed.help === true, version: parsed.version === true, app: parsed._.length === 0 ? null : String(parsed._[0]) }
}

/** PEGASUS_WORKERS, PEGASUS_FORWARDED_ALLOW_IPS, ...; PEGASUS_APP for MODULE:APP. */
function fromEnv(env: Record<string, string | undefined>): Map<string, Raw> {
  const values = new Map<string, Raw>()
  for (const flag of FLAGS) {
    const value = env[envName(flag.name)]
    if (value !== undefined && flag.name !== 'print-config') values.set(flag.name, value)
  }
  const app = env.PEGASUS_APP
  if (app !== undefined) values.set('app', app)
  return values
}

function envName(name: string): string {
  return `PEGASUS_${name.toUpperCase().replace(/-/g, '_')}`
}

/** A --config file's settings: .json, or a module whose default export (or exports) is an object. */
async function fromFile(path: string): Promise<Map<string, Raw>> {
  const label = `config file ${path}`
  let object: unknown
  try {
    if (extname(path) === '.json') object = JSON.parse(readFileSync(path, 'utf8'))
    else {
      const module = (await import(pathToFileURL(path).href)) as { default?: unknown }
      object = module.default ?? module
    }
  } catch (error) {
    throw new UsageError(`${label}: ${(error as Error).message.split('\n')[0]}`)
  }
  if (object === null || typeof object !== 'object' || Array.isArray(object)) throw new UsageError(`${label}: not an object of settings`)
  const values = new Map<string, Raw>()
  for (const [key, value] of Object.entries(object)) {
    if (key === 'app' || key === 'module') {
      values.set('app', String(value))
      continue
    }
    const flag = BY_KEY.get(key)
    if (flag === undefined || flag.name === 'config' || flag.name === 'print-config') throw new UsageError(`${label}: unknown setting '${key}'`)
    if (value === null || value === undefined) continue
    const ok = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || (Array.isArray(value) && value.every((item) => typeof item === 'string'))
    if (!ok) throw new UsageError(`${label}: ${key}: expected a string, number, boolean or list of strings`)
    values.set(flag.name, value as Raw)
  }
  return values
}

/**
 * Reads the settings: the command line over PEGASUS_* variables over the --config file over the
 * defaults. Throws UsageError with the line to print.
 */
export async function parseSettings(env: Environment): Promise<Parsed> {
  const cli = fromArgv(env.argv)
  if (cli.help) return { help: helpText(env) }
  if (cli.version) return { version: true }
  const environment = fromEnv(env.env)
  const configPath = (cli.values.get('config') ?? environment.get('config')) as string | undefined
  let file = new Map<string, Raw>()
  if (configPath !== undefined) {
    if (configPath === '') throw new UsageError("argument --config: no file named: ''")
    file = await fromFile(resolve(env.cwd, configPath))
  }
  const sources: [Source, Map<string, Raw>][] = [
    ['cli', cli.values],
    ['env', environment],
    ['file', file],
  ]
  if (cli.app !== null) cli.values.set('app', cli.app)

  const settings: Settings = {
    app: env.defaultApp,
    chdir: env.cwd,
    interface: 'auto',
    threads: env.defaultThreads,
    binds: [],
    backlog: 1024,
    umask: undefined,
    pid: null,
    certfile: null,
    keyfile: null,
    caCerts: null,
    certReqs: 'none',
    sslCiphers: null,
    sslMinVersion: 'TLSv1.2',
    forwardedAllowIps: [],
    proxyProtocol: false,
    permissiveTarget: false,
    workers: 1,
    workerTimeout: 30_000,
    gracefulTimeout: 30_000,
    maxRequests: 0,
    maxRequestsJitter: 0,
    maxWorkerMemory: 0,
    reload: false,
    balance: 'shared',
    accessLog: true,
    accessLogfile: '-',
    errorLogfile: '-',
    logLevel: 'info',
    accessLogFormat: null,
    accessLogJson: false,
    tuning: {},
  }
  // Relative paths in the file and the environment are taken from --chdir's base, as flags are.
  const listen: Listen = { host: '0.0.0.0', port: 8080, balance: null }
  for (const flag of FLAGS) {
    let value: unknown
    const found = sources.find(([, values]) => values.has(flag.name))
    if (found === undefined) value = flag.fallback(env)
    else {
      const [source, values] = found
      value = flag.convert(values.get(flag.name) as Raw, labelOf(source, flag, configPath), env)
    }
    flag.set(settings, value, listen)
  }
  const app = sources.find(([, values]) => values.has('app'))
  if (app !== undefined) settings.app = String(app[1].get('app'))
  if (settings.binds.length === 0) settings.binds = [{ kind: 'tcp', host: listen.host, port: listen.port }]
  settings.balance = listen.balance ?? (settings.workers === 1 ? 'shared' : 'round-robin')
  if (settings.keyfile !== null && settings.certfile === null) throw new UsageError('argument --keyfile: needs --certfile')
  return { settings, printConfig: sources.some(([, values]) => values.get('print-config') === true) }
}

function labelOf(source: Source, flag: Flag, configPath: string | undefined): string {
  if (source === 'cli') return `argument --${flag.name}`
  if (source === 'env') return `environment variable ${envName(flag.name)}`
  return `config file ${configPath}: ${flag.name}`
}

/** The settings as a --config file would give them (flag names as keys). */
export function configOf(settings: Settings): Record<string, unknown> {
  const tuning: Record<string, unknown> = {}
  for (const { name, option, seconds, default: fallback } of TUNING) {
    const value = settings.tuning[option]
    tuning[name] = value === undefined ? fallback : seconds ? value / 1000 : value
  }
  return {
    app: settings.app,
    chdir: settings.chdir,
    bind: settings.binds.map(formatBind),
    backlog: settings.backlog ?? -1,
    threads: settings.threads,
    interface: settings.interface,
    workers: settings.workers,
    'worker-timeout': settings.workerTimeout / 1000,
    'graceful-timeout': settings.gracefulTimeout / 1000,
    'max-requests': settings.maxRequests,
    'max-requests-jitter': settings.maxRequestsJitter,
    'max-worker-memory': settings.maxWorkerMemory,
    reload: settings.reload,
    balance: settings.balance,
    umask: settings.umask === undefined ? null : `0o${settings.umask.toString(8)}`,
    pid: settings.pid,
    certfile: settings.certfile,
    keyfile: settings.keyfile,
    'ca-certs': settings.caCerts,
    'cert-reqs': settings.certReqs,
    'ssl-ciphers': settings.sslCiphers,
    'ssl-min-version': settings.sslMinVersion,
    'forwarded-allow-ips': settings.forwardedAllowIps.join(','),
    'proxy-protocol': settings.proxyProtocol,
    'permissive-target': settings.permissiveTarget,
    'access-log': settings.accessLog,
    'access-logfile': settings.accessLogfile,
    'error-logfile': settings.errorLogfile,
    'log-level': settings.logLevel,
    'access-log-format': settings.accessLogFormat,
    'access-log-json': settings.accessLogJson,
    ...tuning,
  }
}
