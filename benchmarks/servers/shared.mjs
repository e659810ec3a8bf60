// What every JavaScript server in the benchmark answers, so that they all serve the same app: the
// seed's Flask app (`/` and `/echo[/a[/b[/c]]]`) plus `/stream` for the streaming scenario.

export const HELLO = 'Blazingly Fast!\n'
export const TEXT = 'text/plain; charset=utf-8'
export const JSON_TYPE = 'application/json'
export const NOT_FOUND = 'Not Found\n'
export const ECHO_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']

/** The streamed body: 100 MiB in 64 KiB pieces (one shared buffer: its bytes never change). */
export const STREAM_BYTES = 100 * 1024 * 1024
export const STREAM_CHUNK = new Uint8Array(64 * 1024).fill(120)
export const STREAM_TYPE = 'application/octet-stream'

/** Port and host from the command line: `server.mjs PORT [HOST]`. */
export function address() {
  const port = Number(process.argv[2])
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`usage: ${process.argv[1]} PORT [HOST]`)
  return { port, host: process.argv[3] ?? '127.0.0.1' }
}

/**
 * The default export of the module named third on the command line (`server.mjs PORT HOST
 * MODULE`), MODULE relative to this folder: the runners that serve another file's app.
 */
export async function appModule() {
  const name = process.argv[4]
  if (name === undefined) throw new Error(`usage: ${process.argv[1]} PORT HOST MODULE`)
  return (await import(new URL(name, import.meta.url).href)).default
}

/**
 * The path params of an echo route (`/echo`, `/echo/a`, ... up to three non-empty segments),
 * or null when `path` is no echo route. Segments are percent-decoded, as Flask does.
 */
export function echoParams(path) {
  if (path === '/echo') return []
  if (!path.startsWith('/echo/')) return null
  const segments = path.slice(6).split('/')
  if (segments.length > 3 || segments.includes('')) return null
  try {
    return segments.map(decodeURIComponent)
  } catch {
    return null
  }
}

/**
 * Flask's `jsonify({"body", "query_params", "url_params"})` with sorted keys, compact separators,
 * ASCII-only output and its trailing newline. `query` yields [name, value] pairs; the first value
 * of a repeated name wins (`request.args.to_dict()`).
 */
export function echoJson(body, query, params) {
  const first = new Map()
  for (const [name, value] of query) if (!first.has(name)) first.set(name, value)
  const names = [...first.keys()].sort(byCodeUnits)
  const pairs = names.map((name) => jsonString(name) + ':' + jsonString(first.get(name)))
  return (
    '{"body":' + jsonString(body) +
    ',"query_params":{' + pairs.join(',') + '}' +
    ',"url_params":[' + params.map(jsonString).join(',') + ']}\n'
  )
}

// Python sorts str keys by code point; for the BMP that is code-unit order.
function byCodeUnits(a, b) {
  return a < b ? -1 : a > b ? 1 : 0
}

const HAS_NON_ASCII = /[\u0080-\uffff]/
const NON_ASCII = /[\u0080-\uffff]/g

// json.dumps with ensure_ascii: everything past 0x7f as \uXXXX.
function jsonString(text) {
  const json = JSON.stringify(text)
  return HAS_NON_ASCII.test(json) ? json.replace(NON_ASCII, escapeUnit) : json
}

function escapeUnit(char) {
  return '\\u' + char.charCodeAt(0).toString(16).padStart(4, '0')
}

/** Sends STREAM_BYTES through a node-style response, honouring write() and 'drain'. */
export function streamTo(res) {
  res.setHeader('Content-Type', STREAM_TYPE)
  let sent = 0
  let closed = false
  res.on('close', () => { closed = true })
  const pump = () => {
    while (!closed && sent < STREAM_BYTES) {
      sent += STREAM_CHUNK.byteLength
      if (!res.write(STREAM_CHUNK)) return void res.once('drain', pump)
    }
    if (!closed) res.end()
  }
  pump()
}

/** STREAM_BYTES as a web ReadableStream, produced as the reader pulls. */
export function pulledStream() {
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent >= STREAM_BYTES) return controller.close()
      sent += STREAM_CHUNK.byteLength
      controller.enqueue(STREAM_CHUNK)
    },
  })
}
