// The CLI's settings: every flag, from the command line, PEGASUS_* environment variables and a
// --config file (that order of precedence, over the defaults). The parser is being written; the
// shape below is the contract the arbiter, the worker and the CLI share.
import type { InterfaceName } from '../interfaces/auto.js'
import type { ServerOptions } from '../server.js'
import type { Bind } from '../binds.js'

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

  // Workers and the arbiter
  workers: number
  /** ms a worker's event loop may be blocked before it is killed. */
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
