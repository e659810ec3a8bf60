// The benchmark app as a web-standard fetch handler, `(request) => Response`: served by Bun.serve
// (bun.mjs), by Pegasus's fetch interface (pegasus-fetch.mjs) and by srvx (srvx.mjs). One handler,
// so that those rows differ only in the server under it.
import { echoJson, echoParams, ECHO_METHODS, HELLO, JSON_TYPE, NOT_FOUND, pulledStream, STREAM_TYPE, TEXT } from './shared.mjs'

const TEXT_HEADERS = { 'Content-Type': TEXT }
const JSON_HEADERS = { 'Content-Type': JSON_TYPE }

export async function fetch(req) {
  const url = req.url
  // req.url is absolute: the path starts at the first '/' after "http://host".
  const start = url.indexOf('/', url.indexOf('//') + 2)
  const q = url.indexOf('?', start)
  const path = q === -1 ? url.slice(start) : url.slice(start, q)
  if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) return new Response(HELLO, { headers: TEXT_HEADERS })
  if (path === '/stream' && req.method === 'GET') return new Response(pulledStream(), { headers: { 'Content-Type': STREAM_TYPE } })
  const params = echoParams(path)
  if (params !== null && ECHO_METHODS.includes(req.method)) {
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1))
    return new Response(echoJson(await req.text(), query, params), { headers: JSON_HEADERS })
  }
  return new Response(NOT_FOUND, { status: 404, headers: TEXT_HEADERS })
}

