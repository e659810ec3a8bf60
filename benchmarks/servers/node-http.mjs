// node:http serving the benchmark app with a plain request handler.
import http from 'node:http'
import {
  address, echoJson, echoParams, ECHO_METHODS, HELLO, JSON_TYPE, NOT_FOUND, STREAM_BYTES, STREAM_CHUNK,
  STREAM_TYPE, TEXT,
} from './shared.mjs'

function handle(req, res) {
  const url = req.url
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
    res.setHeader('Content-Type', TEXT)
    res.end(HELLO)
    return
  }
  if (path === '/stream' && req.method === 'GET') return stream(res)
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

function stream(res) {
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

const { port, host } = address()
http.createServer(handle).listen(port, host)
