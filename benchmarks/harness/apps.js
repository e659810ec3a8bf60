// The apps of the scenarios that wait (a timer; PostgreSQL): which file each server runs there,
// its label, what it is compared with, and the answers checked before it is measured. Pegasus
// runs its CLI with its default flags on the very module the peer of its kind serves.
import { join } from 'node:path'
import { FORTUNES } from './postgres.js'
import { request } from './processes.js'

export const WAIT_MS = 50
export const WAIT_PATH = '/wait'
const WAITED = `Waited ${WAIT_MS} ms\n`

/** `node dist/cli.js --host 127.0.0.1 --port PORT --no-access-log benchmarks/servers/MODULE`. */
const cli = (module) => (h, port) => ({
  command: h.node,
  args: ['dist/cli.js', '--host', '127.0.0.1', '--port', String(port), '--no-access-log', `benchmarks/servers/${module}`],
  cwd: h.root,
})

/** A Node.js server file of servers/, given the module it serves when it is a runner. */
const node = (file, module) => (h, port) => ({
  command: h.node,
  args: [join(h.bench, 'servers', file), String(port), '127.0.0.1', ...(module === undefined ? [] : [module])],
  cwd: join(h.bench, 'servers'),
})

/** Bun.serve serving a module's fetch (servers/serve-bun.mjs). */
const bun = (module) => (h, port) => ({
  command: join(h.bench, 'node_modules', '.bin', 'bun'),
  args: [join(h.bench, 'servers', 'serve-bun.mjs'), String(port), '127.0.0.1', module],
  cwd: join(h.bench, 'servers'),
})

/**
 * The wait scenario, by server name (--only), in table order: Pegasus's three interfaces, then
 * node:http, fastify, and the fetch handler on @hono/node-server and Bun.serve.
 */
export const WAIT_APPS = {
  pegasus: { label: 'Pegasus CLI, native', launch: cli('wait/native.mjs') },
  'pegasus-node': { label: 'Pegasus CLI, node (req, res)', launch: cli('wait/node.mjs') },
  'pegasus-fetch': { label: 'Pegasus CLI, fetch', launch: cli('wait/fetch.mjs') },
  'node-http': { label: 'node:http', launch: node('serve-node-http.mjs', 'wait/node.mjs') },
  fastify: { label: 'fastify', launch: node('wait/fastify.mjs') },
  hono: { label: '@hono/node-server, fetch handler', launch: node('serve-hono.mjs', 'wait/fetch.mjs') },
  bun: { label: 'Bun.serve, fetch handler', launch: bun('wait/fetch.mjs') },
}

/**
 * The TechEmpower scenarios, by server name: one Express app on node:http and on Pegasus, one
 * Hono app on @hono/node-server, Bun.serve and Pegasus, a native Pegasus handler, a raw node:http
 * handler and fastify. `baseline`: the same framework on node:http (the scenario's baseline,
 * the raw node:http handler, for the others).
 */
export const DATABASE_APPS = {
  'pegasus-express': { label: 'Express on Pegasus CLI', launch: cli('te/express-app.mjs'), baseline: 'express' },
  express: { label: 'Express on node:http', launch: node('serve-node-http.mjs', 'te/express-app.mjs') },
  'pegasus-hono': { label: 'Hono on Pegasus CLI', launch: cli('te/hono-app.mjs'), baseline: 'hono' },
  hono: { label: 'Hono on @hono/node-server', launch: node('serve-hono.mjs', 'te/hono-app.mjs') },
  bun: { label: 'Hono on Bun.serve', launch: bun('te/hono-app.mjs'), baseline: 'hono' },
  pegasus: { label: 'Pegasus CLI, native', launch: cli('te/native.mjs') },
  'node-http': { label: 'node:http, raw handler', launch: node('serve-node-http.mjs', 'te/node.mjs') },
  fastify: { label: 'fastify', launch: node('te/fastify.mjs') },
}

/** The request each TechEmpower test loads its servers with. */
export const DATABASE_PATHS = { db: '/db', queries: '/queries?queries=20', fortunes: '/fortunes', updates: '/updates?queries=20' }

// --- checks -------------------------------------------------------------------------------------

/** GET /wait answers WAITED as text, and not before the timer; null, or what is wrong. */
export async function checkWait(port) {
  const started = performance.now()
  const answer = await request(port, { path: WAIT_PATH })
  const ms = performance.now() - started
  const type = answer.headers['content-type']?.toLowerCase()
  if (answer.status !== 200 || answer.body !== WAITED || type !== 'text/plain; charset=utf-8') {
    return `GET ${WAIT_PATH} answered ${answer.status} ${JSON.stringify(answer.body.slice(0, 40))} as ${type}`
  }
  // setTimeout may fire up to a millisecond early by the wall clock (its own rounding).
  if (ms < WAIT_MS - 1) return `GET ${WAIT_PATH} answered after ${ms.toFixed(1)} ms: it did not wait ${WAIT_MS} ms`
  return null
}

/**
 * The four tests' answers as TechEmpower's rules have them: /db a World row as JSON; /queries N
 * rows (1 when the parameter is missing or not a number, at most 500); /fortunes the 12 rows
 * and the added one, sorted, escaped, as UTF-8 HTML; /updates N rows whose new numbers the table
 * then holds (`query`: SQL on the database, rows of strings). Null, or what is wrong.
 */
export async function checkDatabase(port, query) {
  const db = await getJson(port, '/db')
  if (typeof db === 'string') return db
  if (!isWorld(db.value)) return `GET /db answered ${JSON.stringify(db.value).slice(0, 60)}, not one World row`
  for (const [given, count] of [['20', 20], ['', 1], ['foo', 1], ['0', 1], ['501', 500]]) {
    const path = `/queries?queries=${given}`
    const rows = await getJson(port, path)
    if (typeof rows === 'string') return rows
    if (!Array.isArray(rows.value) || rows.value.length !== count || !rows.value.every(isWorld)) return `GET ${path} answered ${JSON.stringify(rows.value).slice(0, 60)}, not ${count} World rows`
  }
  const fortunes = await checkFortunes(port)
  if (fortunes !== null) return fortunes
  const updated = await getJson(port, '/updates?queries=20')
  if (typeof updated === 'string') return updated
  if (!Array.isArray(updated.value) || updated.value.length !== 20 || !updated.value.every(isWorld)) return `GET /updates?queries=20 answered ${JSON.stringify(updated.value).slice(0, 60)}, not 20 World rows`
  const held = new Map(query(`SELECT id, randomnumber FROM public.world WHERE id IN (${updated.value.map((w) => w.id).join(',')})`).map(([id, n]) => [Number(id), Number(n)]))
  const stale = updated.value.find((w) => held.get(w.id) !== w.randomNumber)
  if (stale !== undefined) return `GET /updates?queries=20 answered row ${stale.id} = ${stale.randomNumber}, the table holds ${held.get(stale.id)}`
  return null
}

function isWorld(value) {
  const inRange = (n) => Number.isInteger(n) && n >= 1 && n <= 10000
  return typeof value === 'object' && value !== null && inRange(value.id) && inRange(value.randomNumber)
}

/** The JSON of a 200 application/json answer to GET `path`, as { value }, or what is wrong. */
async function getJson(port, path) {
  const answer = await request(port, { path, timeoutMs: 10_000 })
  const type = answer.headers['content-type']?.toLowerCase() ?? ''
  if (answer.status !== 200 || !type.startsWith('application/json')) return `GET ${path} answered ${answer.status} ${JSON.stringify(answer.body.slice(0, 60))} as ${type}`
  try {
    return { value: JSON.parse(answer.body) }
  } catch {
    return `GET ${path} answered ${JSON.stringify(answer.body.slice(0, 60))}: not JSON`
  }
}

const PAGE_HEAD = '<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>'
const PAGE_TAIL = '</table></body></html>'
const ROW = /<tr><td>(\d+)<\/td><td>([^<]*)<\/td><\/tr>/gy
const ENTITY = /&(amp|lt|gt|quot|#39|#x27|#34|#x22);/g
const DECODED = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'", '#34': '"', '#x22': '"' }

/**
 * GET /fortunes: the test's page (whitespace aside), its rows those of the table and the added
 * one, sorted by message, each message escaped (no raw < or > in a cell; entities decoded
 * before comparing, so &#39; and &#x27; both do).
 */
async function checkFortunes(port) {
  const answer = await request(port, { path: '/fortunes', timeoutMs: 10_000 })
  const type = answer.headers['content-type']?.toLowerCase().replace(/\s/g, '')
  if (answer.status !== 200 || type !== 'text/html;charset=utf-8') return `GET /fortunes answered ${answer.status} as ${type}`
  const page = answer.body.replace(/>\s+</g, '><').trim()
  if (!page.startsWith(PAGE_HEAD) || !page.endsWith(PAGE_TAIL)) return `GET /fortunes answered ${JSON.stringify(page.slice(0, 60))}: not the test's page`
  const body = page.slice(PAGE_HEAD.length, page.length - PAGE_TAIL.length)
  const rows = []
  ROW.lastIndex = 0
  let end = 0
  for (let match; (match = ROW.exec(body)) !== null; end = ROW.lastIndex) rows.push([Number(match[1]), match[2]])
  if (end !== body.length) return `GET /fortunes: ${JSON.stringify(body.slice(end, end + 60))} is not a row of the table`
  if (rows.some(([, cell]) => cell.includes('>'))) return 'GET /fortunes: a message is not escaped'
  const expected = [...FORTUNES, [0, 'Additional fortune added at request time.']].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
  const got = rows.map(([id, cell]) => `${id} ${cell.replace(ENTITY, (_, name) => DECODED[name])}`).join('\n')
  if (got !== expected.map(([id, message]) => `${id} ${message}`).join('\n')) return `GET /fortunes: ${rows.length} rows, not the ${expected.length} expected in order`
  return null
}
