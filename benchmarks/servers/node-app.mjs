// The benchmark app as a node:http request handler, `(req, res)`: served by node:http
// (node-http.mjs), by Pegasus's node interface (pegasus-node.mjs), and for plain HTTP by the two
// WebSocket servers (ws.mjs, pegasus-ws.mjs). One handler, so that those rows differ only in
// the server under it.
import { echoJson, echoParams, ECHO_METHODS, HELLO, JSON_TYPE, NOT_FOUND, streamTo, TEXT } from './shared.mjs'

export function handle(req, res) {
  const url = req.url
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
    res.setHeader('Content-Type', TEXT)
    res.end(HELLO)
    return
  }
  if (path === '/stream' && req.method === 'GET') return streamTo(res)
  const params = echoParams(path)
  if (params !== null && ECHO_METHODS.includes(req.method)) return echo(req, res, params, q === -1 ? '' : url.slice(q + 1))
  res.statusCode = 404
  res.setHeader('Content-Type', TEXT)
  res.end(NOT_FOUND)
}

function echo(req, res, params, query) {
  const chunks = []
  req.on('data', (chunk) => chunks.push(chunk))
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8')
    res.setHeader('Content-Type', JSON_TYPE)
    res.end(echoJson(body, new URLSearchParams(query), params))
  })
}
