// The wait scenario's app: GET /wait awaits a 50 ms timer (standing for a database call) and then
// answers a small body; GET / answers the benchmark's hello at once (the harness's start check).
// The handlers below, one per interface, are what every server of that interface runs.
import { HELLO, TEXT } from '../shared.mjs'

export const WAIT_MS = 50
export const WAIT_PATH = '/wait'
export const WAITED = `Waited ${WAIT_MS} ms\n`

/** The app's "database call": nothing but time. */
export function wait() {
  return new Promise((resolve) => setTimeout(resolve, WAIT_MS))
}

/** node:http's `(req, res)`: node:http, and Pegasus's node interface through its CLI. */
export async function handle(req, res) {
  res.setHeader('Content-Type', TEXT)
  if (req.url === WAIT_PATH) {
    await wait()
    res.end(WAITED)
  } else if (req.url === '/') {
    res.end(HELLO)
  } else {
    res.statusCode = 404
    res.end('Not Found\n')
  }
}

const TEXT_HEADERS = { 'Content-Type': TEXT }

/** A web fetch handler: Pegasus's fetch interface, @hono/node-server and Bun.serve. */
export async function fetch(request) {
  const url = request.url
  const path = url.slice(url.indexOf('/', url.indexOf('//') + 2))
  if (path === WAIT_PATH) {
    await wait()
    return new Response(WAITED, { headers: TEXT_HEADERS })
  }
  if (path === '/') return new Response(HELLO, { headers: TEXT_HEADERS })
  return new Response('Not Found\n', { status: 404, headers: TEXT_HEADERS })
}
