// Issue 18's scenarios, "apps that wait": a handler awaiting a 50 ms timer, and TechEmpower's
// db, queries, fortunes and updates tests on a real PostgreSQL, local and 2 ms away. Each
// returns a list of results (one per load, test and placement), measured as the other wrk
// scenarios are.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkDatabase, checkWait, DATABASE_APPS, DATABASE_PATHS, WAIT_APPS, WAIT_PATH } from './apps.js'
import { postgresUnavailable, postgresVersion, startPostgres } from './postgres.js'
import { serversFor, throughputLoads } from './scenarios.js'

/** The wait scenario's loads: connections, two wrk threads each. */
export const WAIT_CONNECTIONS = [100, 1000]
/**
 * The TechEmpower scenarios' load, two wrk threads: 256 connections for db and fortunes
 * (TechEmpower runs 16-512); 64 for queries and updates, whose requests make 21 statements each
 * on the pool's 20 connections: more would only lengthen the pool's queue, and a short run
 * would see few requests through it.
 */
export const DATABASE_CONNECTIONS = { db: 256, fortunes: 256, queries: 64, updates: 64 }
export const PLACEMENTS = ['local', 'far']

// Shorter runs than the other scenarios (10 s) to keep the default run's length in reach: they
// are many (2 loads; 4 tests x 2 placements x 8 servers), and the longest answers (queries,
// updates) take well under a second. --quick: 2 s.
const WAIT_SECONDS = 4
const DATABASE_SECONDS = 3

// wrk's own 2 s timeout would leave the slowest answers out of the latencies (and show them
// as timeouts only): a queue of waiting requests is what these scenarios are about.
const TIMEOUT_SECONDS = 10

/** GET /wait (a 50 ms timer, then a small body) at -t2 -c100 and -t2 -c1000, on servers started once. */
export function wait(h) {
  const loads = WAIT_CONNECTIONS.map((connections) => ({
    name: `wait-c${connections}`,
    baseline: 'node-http',
    threads: 2,
    connections,
    path: WAIT_PATH,
    seconds: h.quick ? 2 : WAIT_SECONDS,
    timeout: TIMEOUT_SECONDS,
  }))
  return throughputLoads(h, { servers: serversFor(h, 'wait'), app: { servers: WAIT_APPS, check: checkWait }, loads })
}

/**
 * The TechEmpower tests chosen (`tests`: db, queries, fortunes, updates, of --scenarios) at each
 * placement of --placements: the servers are started once a placement (their pool's URL is
 * where the database is) and measured test after test. Results in the order test, placement.
 */
export async function database(h, tests) {
  const postgres = await startDatabase(h)
  const results = []
  for (const placement of h.placements ?? PLACEMENTS) {
    const app = {
      servers: DATABASE_APPS,
      env: postgres.error === undefined ? { TE_DATABASE_URL: postgres.url(placement) } : {},
      unavailable: () => postgres.error ?? (existsSync(join(h.bench, 'node_modules', 'pg', 'package.json')) ? null : 'pg not installed (npm ci --prefix benchmarks)'),
      check: (port) => checkDatabase(port, postgres.query),
      quiet: postgres.error === undefined ? [postgres.child.pid] : [],
    }
    const loads = tests.map((test) => ({
      name: `${test}-${placement}`,
      baseline: 'node-http',
      threads: 2,
      connections: DATABASE_CONNECTIONS[test],
      path: DATABASE_PATHS[test],
      seconds: h.quick ? 2 : DATABASE_SECONDS,
      timeout: TIMEOUT_SECONDS,
    }))
    results.push(...(await throughputLoads(h, { servers: serversFor(h, tests[0]), app, loads })))
  }
  const order = (result) => tests.indexOf(result.name.slice(0, result.name.lastIndexOf('-')))
  return results.sort((a, b) => order(a) - order(b))
}

/**
 * The run's PostgreSQL, started (and seeded) by the first database scenario; { error } when it
 * cannot run here, and every database row is then skipped with that reason.
 */
function startDatabase(h) {
  h.postgres ??= (async () => {
    const why = postgresUnavailable()
    if (why !== null) return { error: why }
    h.log('starting PostgreSQL')
    try {
      const postgres = await startPostgres(h)
      h.log(`PostgreSQL is up on 127.0.0.1:${postgres.port}, World and Fortune seeded`)
      return postgres
    } catch (error) {
      h.log(`PostgreSQL: ${error.message}`)
      return { error: `PostgreSQL did not start: ${error.message}` }
    }
  })()
  return h.postgres
}

/** Stops the run's PostgreSQL, if a scenario started it. */
export async function stopDatabase(h) {
  const postgres = await h.postgres
  if (postgres?.stop !== undefined) await postgres.stop()
}

/** PostgreSQL's and node-postgres's versions, for the Servers line. */
export function databaseVersions(h) {
  let pg = null
  try {
    pg = `pg ${JSON.parse(readFileSync(join(h.bench, 'node_modules', 'pg', 'package.json'), 'utf8')).version}`
  } catch {
    // not installed: the rows say so
  }
  return [postgresVersion(), pg].filter((v) => v !== null)
}
