#!/usr/bin/env node
// The command line: settings -> the arbiter (the primary process) -> workers serving the app.
// The only place that reads process.argv or process.env, or calls process.exit. Flags, help and
// error lines keep the seed's (argparse) contract.
import { fileURLToPath } from 'node:url'
import { configOf, parseSettings, UsageError, type Settings } from './lib/cli/settings.js'
import { loadApp, LoadError } from './lib/loader.js'
import { Log } from './lib/log.js'
import { InterfaceError } from './lib/interfaces/auto.js'
import { createServer, defaultThreads, type Server } from './lib/server.js'

const DEFAULT_APP = fileURLToPath(new URL('./fixtures/echo.js', import.meta.url)) + ':app'
/** After an uncaught exception, how long requests in flight get before the process exits. */
const FAILURE_GRACE = 10_000

/** A bad command line: argparse's one line, exit status 2. */
function usageError(message: string): never {
  process.stderr.write(`pegasus: error: ${message}\n`)
  process.exit(2)
}

async function settingsOf(argv: string[]): Promise<Settings> {
  try {
    const parsed = await parseSettings({ argv, env: process.env, cwd: process.cwd(), defaultThreads: defaultThreads(), defaultApp: DEFAULT_APP })
    if ('help' in parsed) {
      process.stdout.write(parsed.help)
      process.exit(0)
    }
    if (parsed.printConfig) {
      process.stdout.write(`${JSON.stringify(configOf(parsed.settings), null, 2)}\n`)
      process.exit(0)
    }
    return parsed.settings
  } catch (error) {
    /* c8 ignore next */
    if (!(error instanceof UsageError)) throw error
    usageError(error.message)
  }
}

async function main(argv: string[]): Promise<void> {
  const settings = await settingsOf(argv)
  process.chdir(settings.chdir)
  const log = new Log()
  let server: Server
  try {
    const { app, upgrade } = await loadApp(settings.app, settings.chdir)
    server = createServer(app as object, {
      interface: settings.interface,
      threads: settings.threads,
      backlog: settings.backlog,
      accessLog: settings.accessLog,
      log,
      ...settings.tuning,
    })
    // The module's `upgrade` export takes the sockets of WebSocket (and other upgrade) requests.
    if (upgrade !== null) server.setUpgradeHandler(upgrade)
  } catch (error) {
    /* c8 ignore next */
    if (!(error instanceof LoadError) && !(error instanceof InterfaceError)) throw error
    log.error(error.message)
    process.exit(1)
  }
  const bind = settings.binds[0]
  try {
    if (bind.kind !== 'tcp') throw new Error(`${bind.kind} binds are not served yet`)
    await server.listen(bind.port, bind.host)
  } catch (error) {
    // EADDRINUSE, an address that does not resolve: node's message is one line.
    log.error((error as Error).message)
    process.exit(1)
  }
  const { address, port, family } = server.address()
  log.info(`Listen at "${family === 'IPv6' ? `[${address}]` : address}:${port}"`)
  log.info(`Threads: ${settings.threads}`)
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
