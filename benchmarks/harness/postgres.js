// The database scenarios' PostgreSQL: a throwaway cluster in the run's temporary folder, on a
// free port of 127.0.0.1, seeded with TechEmpower's World and Fortune tables, stopped at the end.
//
// Two ways to reach the same tables, one database user each:
//   local  benchmarkdbuser      the tables themselves
//   far    benchmarkdbuser_far  views in schema `far` (the user's search_path) that wait 2 ms
//                               once per statement before answering: a database 1-2 ms away
// This kernel has no netem to delay packets, and a delaying proxy would burn the CPU the
// servers are measured on (see the README); the views cost the app nothing, as distance does.
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, start, tail } from './processes.js'

/** The round trip the far placement adds to every statement, in seconds. */
export const FAR_DELAY_S = 0.002

export const DATABASE = 'hello_world'
export const USERS = { local: 'benchmarkdbuser', far: 'benchmarkdbuser_far' }

// TechEmpower's 12 fortunes (its create-postgres.sql), the test data every implementation serves.
export const FORTUNES = [
  [1, 'fortune: No such file or directory'],
  [2, "A computer scientist is someone who fixes things that aren't broken."],
  [3, 'After enough decimal places, nobody gives a damn.'],
  [4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'],
  [5, 'A computer program does what you tell it to do, not what you want it to do.'],
  [6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen'],
  [7, 'Any program that runs right is obsolete.'],
  [8, 'A list is only as strong as its weakest link. — Donald Knuth'],
  [9, 'Feature: A bug with seniority.'],
  [10, 'Computers make very fast, very accurate mistakes.'],
  [11, '<script>alert("This should not be displayed in a browser alert box.");</script>'],
  [12, 'フレームワークのベンチマーク'],
]

const literal = (text) => `'${text.replace(/'/g, "''")}'`

// The far views keep the tables' shape (so the same SQL reads and updates them); their one-time
// filter is an InitPlan, run once per statement whatever the rows (EXPLAIN ANALYZE: one 2 ms
// Result, then the index scan), and a view with one table is updatable.
const SEED = `
CREATE ROLE ${USERS.local} LOGIN;
CREATE ROLE ${USERS.far} LOGIN;
ALTER ROLE ${USERS.far} SET search_path = far;
CREATE DATABASE ${DATABASE};
\\connect ${DATABASE}
CREATE TABLE world (id integer NOT NULL PRIMARY KEY, randomnumber integer NOT NULL DEFAULT 0);
INSERT INTO world (id, randomnumber) SELECT i, 1 + floor(random() * 10000)::int FROM generate_series(1, 10000) AS i;
CREATE TABLE fortune (id integer NOT NULL PRIMARY KEY, message varchar(2048) NOT NULL);
INSERT INTO fortune (id, message) VALUES
${FORTUNES.map(([id, message]) => `(${id}, ${literal(message)})`).join(',\n')};
GRANT SELECT, UPDATE ON world, fortune TO ${USERS.local};
CREATE SCHEMA far;
CREATE VIEW far.world AS SELECT id, randomnumber FROM public.world WHERE (SELECT pg_sleep(${FAR_DELAY_S})) IS NOT NULL;
CREATE VIEW far.fortune AS SELECT id, message FROM public.fortune WHERE (SELECT pg_sleep(${FAR_DELAY_S})) IS NOT NULL;
GRANT USAGE ON SCHEMA far TO ${USERS.far};
GRANT SELECT, UPDATE ON far.world, far.fortune TO ${USERS.far};
VACUUM ANALYZE;
`

/**
 * The directory of PostgreSQL's server binaries: $PG_BIN, else one on PATH with initdb, else
 * Debian's newest /usr/lib/postgresql/N/bin (Debian puts only psql's wrapper on PATH); null when
 * none has initdb, postgres and psql.
 */
export function postgresBin() {
  const complete = (dir) => ['initdb', 'postgres', 'psql'].every((name) => existsSync(join(dir, name)))
  const candidates = [process.env.PG_BIN, ...(process.env.PATH ?? '').split(':')]
  try {
    const versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => b - a)
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`))
  } catch {
    // no Debian packages
  }
  return candidates.find((dir) => dir !== undefined && dir !== '' && complete(dir)) ?? null
}

/** Why the database scenarios cannot run here, or null. */
export function postgresUnavailable() {
  if (postgresBin() === null) return 'PostgreSQL not installed (apt-get install -y postgresql)'
  if (process.getuid?.() === 0 && systemUser('postgres') === null) return "running as root and there is no 'postgres' user to run PostgreSQL as (initdb refuses root)"
  return null
}

/** `postgres --version`'s words, as `PostgreSQL 15.18`; null without the binaries. */
export function postgresVersion() {
  const bin = postgresBin()
  if (bin === null) return null
  const out = spawnSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8' })
  const version = /(\d+(?:\.\d+)+)/.exec(out.stdout ?? '')
  return version === null ? null : `PostgreSQL ${version[1]}`
}

/** { uid, gid } of a system user, or null. */
function systemUser(name) {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' })
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' })
  if (uid.status !== 0 || gid.status !== 0) return null
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
}

/**
 * Starts a new cluster in `h.tmp` and seeds it. Resolves with { port, url(placement), query(sql),
 * stop(), child }, or rejects with what went wrong (its log's last lines).
 */
export async function startPostgres(h) {
  const bin = postgresBin()
  // initdb and postgres refuse root: as root, the cluster belongs to the postgres user, whose
  // way to it goes through the run's folder (created 0700 by mkdtemp): it may pass, not list.
  const user = process.getuid?.() === 0 ? systemUser('postgres') : undefined
  const dir = join(h.tmp, 'postgres')
  mkdirSync(dir)
  if (user !== undefined) {
    chmodSync(h.tmp, 0o711)
    chownSync(dir, user.uid, user.gid)
  }
  const data = join(dir, 'data')
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
    ...user,
  })
  if (init.status !== 0) throw new Error(`initdb failed: ${(init.stderr || init.stdout || String(init.error)).trim().split('\n').pop()}`)

  const port = await freePort()
  const log = join(h.tmp, 'postgres.log')
  // Room for every server's pool of 20 while all of a scenario's servers are up; commits that
  // do not wait for the WAL flush, as TechEmpower's own configuration has it.
  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    max_connections: '300',
    synchronous_commit: 'off',
    log_min_messages: 'warning',
  }
  const args = ['-D', data, '-p', String(port), ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])]
  const child = start(join(bin, 'postgres'), args, { cwd: dir, output: log, user })
  const psql = (database, sql, extra = []) =>
    spawnSync(join(bin, 'psql'), ['-X', '-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1', ...extra], {
      input: sql,
      encoding: 'utf8',
      timeout: 60_000,
    })
  const instance = { port, child, log, url: (placement) => `postgres://${USERS[placement]}@127.0.0.1:${port}/${DATABASE}`, query: (sql) => rows(psql(DATABASE, sql, ['-A', '-t', '-F', ' '])), stop: () => stopPostgres(child) }
  try {
    await ready(child, () => psql('postgres', 'SELECT 1').status === 0, log)
    const seeded = psql('postgres', SEED)
    if (seeded.status !== 0) throw new Error(`seeding failed: ${seeded.stderr.trim().split('\n').pop()}`)
  } catch (error) {
    await instance.stop()
    throw error
  }
  return instance
}

/** Waits until `answers()` is true; rejects when the server exits first or after 30 s. */
async function ready(child, answers, log) {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`PostgreSQL exited (${tail(log)})`)
    if (answers()) return
    await sleep(200)
  }
  throw new Error(`PostgreSQL did not answer within 30 s (${tail(log)})`)
}

/** A psql -At result's lines, each split on spaces; throws psql's error. */
function rows(result) {
  if (result.status !== 0) throw new Error(`psql: ${(result.stderr || String(result.error)).trim().split('\n').pop()}`)
  return result.stdout.split('\n').filter((line) => line !== '').map((line) => line.split(' '))
}

/**
 * Fast shutdown (SIGINT: sessions ended, a checkpoint, exit), then SIGKILL to whatever of its
 * group is left after 10 s. SIGTERM would wait for the clients to leave.
 */
async function stopPostgres(child) {
  if (child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(child.pid, 'SIGINT')
    } catch {
      // gone
    }
    await Promise.race([child.exited, sleep(10_000)])
  }
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    // the group is gone
  }
  await child.exited
}
