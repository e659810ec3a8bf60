// The overload scenario's app: every request costs WORK_MS of synchronous CPU (a busy loop),
// then gets the benchmark's small 200 (so the harness's GET / check passes unchanged). One
// handler in three shapes, so that the rows differ only in the server under it.
import { HELLO, TEXT } from '../shared.mjs'

export const WORK_MS = 2

/** Spins for WORK_MS: the event loop can do nothing else meanwhile, as with real CPU work. */
export function work() {
  const end = performance.now() + WORK_MS
  while (performance.now() < end);
}

/** node:http's (req, res); Pegasus's native req and res have the same three members used here. */
export function handle(_req, res) {
  work()
  res.statusCode = 200
  res.setHeader('Content-Type', TEXT)
  res.end(HELLO)
}

/** For Pegasus's CLI (`app.mjs:pegasus`): the same handler, marked for its native interface. */
export function pegasus(req, res) {
  handle(req, res)
}
pegasus[Symbol.for('pegasus.interface')] = 'native'

const TEXT_HEADERS = { 'Content-Type': TEXT }

/** The web-standard fetch handler (Bun.serve). */
export function fetch() {
  work()
  return new Response(HELLO, { headers: TEXT_HEADERS })
}
