// The TechEmpower tests' data access, shared by every database app (Express, Hono, the native
// handler, the raw node:http handler, fastify): node-postgres with a pool of 20 connections to
// the database in TE_DATABASE_URL (the harness starts PostgreSQL and sets it). Where the
// database is (local, or 2 ms away) is the URL's business only: the code is the same.
import pg from 'pg'

const url = process.env.TE_DATABASE_URL
if (url === undefined) throw new Error('TE_DATABASE_URL is not set (the harness sets it: postgres://USER@127.0.0.1:PORT/hello_world)')

const pool = new pg.Pool({ connectionString: url, max: 20 })

// Named statements: node-postgres prepares each once per connection.
const WORLD = 'SELECT id, randomnumber AS "randomNumber" FROM world WHERE id = $1'
const FORTUNES = 'SELECT id, message FROM fortune'
// One statement for all the rows of an update, its ids in ascending order: two requests that
// update the same rows then lock them in the same order, and cannot deadlock.
const UPDATE = 'UPDATE world SET randomnumber = v.r FROM (SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS r) AS v WHERE world.id = v.id'

export const ADDITIONAL_FORTUNE = 'Additional fortune added at request time.'

/** 1..10,000: a World row's id, and a randomNumber. */
function random() {
  return 1 + Math.floor(Math.random() * 10000)
}

/** The `queries` parameter as the tests define it: 1 when missing or not a number, at most 500. */
export function queryCount(text) {
  const n = Number.parseInt(text ?? '', 10)
  return Number.isNaN(n) || n < 1 ? 1 : n > 500 ? 500 : n
}

/** One random World row, `{ id, randomNumber }`. */
export async function randomWorld() {
  const result = await pool.query({ name: 'world', text: WORLD, values: [random()] })
  return result.rows[0]
}

/** `count` random rows, each its own query (as the tests require), in flight together. */
export function randomWorlds(count) {
  const queries = new Array(count)
  for (let i = 0; i < count; i++) queries[i] = randomWorld()
  return Promise.all(queries)
}

/** The Fortune rows and the one added at request time, sorted by message. */
export async function fortunes() {
  const { rows } = await pool.query({ name: 'fortunes', text: FORTUNES })
  rows.push({ id: 0, message: ADDITIONAL_FORTUNE })
  // Code-unit order, as the test's own check sorts.
  return rows.sort((a, b) => (a.message < b.message ? -1 : a.message > b.message ? 1 : 0))
}

/**
 * `count` random rows read one by one, each given a new randomNumber, written back in one
 * statement. A row drawn twice gets one new number, so the answer is what the table holds.
 */
export async function updateWorlds(count) {
  const worlds = await randomWorlds(count)
  const next = new Map()
  for (const world of worlds) {
    let number = next.get(world.id)
    if (number === undefined) next.set(world.id, (number = random()))
    world.randomNumber = number
  }
  const ids = [...next.keys()].sort((a, b) => a - b)
  await pool.query({ name: 'update', text: UPDATE, values: [ids, ids.map((id) => next.get(id))] })
  return worlds
}

const HEAD = '<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>'
const TAIL = '</table></body></html>'
const SPECIAL = /[&<>"']/g
const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

function escape(text) {
  return text.replace(SPECIAL, (c) => ENTITIES[c])
}

/** The fortunes page: the test's template, every message escaped. */
export function fortunesHtml(rows) {
  let html = HEAD
  for (const row of rows) html += `<tr><td>${row.id}</td><td>${escape(row.message)}</td></tr>`
  return html + TAIL
}

export const HTML = 'text/html; charset=utf-8'
