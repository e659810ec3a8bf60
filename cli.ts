#!/usr/bin/env node
// The command line: settings -> the arbiter (the primary process) -> workers serving the app.
// The only place that reads process.argv or process.env, or calls process.exit. Flags, help and
// error lines keep the seed's (argparse) contract.
import cluster from 'node:cluster'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configOf, parseSettings, UsageError, type Settings } from './lib/cli/settings.js'
import { runArbiter } from './lib/cli/arbiter.js'
import { runWorker } from './lib/cli/worker.js'
import { defaultThreads } from './lib/server.js'

const DEFAULT_APP = fileURLToPath(new URL('./fixtures/echo.js', import.meta.url)) + ':app'

/** A bad command line: argparse's one line, exit status 2. */
function usageError(message: string): never {
  process.stderr.write(`pegasus: error: ${message}\n`)
  process.exit(2)
}

async function settingsOf(argv: string[]): Promise<Settings> {
  try {
    const columns = process.stdout.isTTY ? process.stdout.columns : undefined
    const parsed = await parseSettings({ argv, env: process.env, cwd: process.cwd(), defaultThreads: defaultThreads(), defaultApp: DEFAULT_APP, columns })
    if ('help' in parsed) {
      process.stdout.write(parsed.help)
      process.exit(0)
    }
    if ('version' in parsed) {
      process.stdout.write(`pegasus ${version()} (Node.js ${process.version})\n`)
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

/** Pegasus's version: its package.json's, found above this file (dist/cli.js or cli.ts). */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir)
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version
}

async function main(argv: string[]): Promise<void> {
  const settings = await settingsOf(argv)
  // The primary supervises; each worker (the same command line, forked by node:cluster from the
  // primary's directory, so a relative --chdir means the same) serves.
  if (cluster.isPrimary) await runArbiter(settings)
  else {
    process.chdir(settings.chdir)
    await runWorker(settings)
  }
}

// A failure other than the ones reported above is a bug: node prints its stack and exits 1.
await main(process.argv.slice(2))
