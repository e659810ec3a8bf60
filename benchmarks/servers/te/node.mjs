// The TechEmpower tests as a raw node:http handler (no framework): served by node:http
// (serve-node-http.mjs). GET / answers the benchmark's hello (the harness's start check).
import { HELLO, JSON_TYPE, NOT_FOUND, TEXT } from '../shared.mjs'
import { fortunes, fortunesHtml, HTML, queryCount, randomWorld, randomWorlds, updateWorlds } from './data.mjs'

export default async function handle(req, res) {
  const url = req.url
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const queries = () => queryCount(new URLSearchParams(url.slice(q + 1)).get('queries'))
  try {
    if (path === '/db') return send(res, JSON_TYPE, JSON.stringify(await randomWorld()))
    if (path === '/queries') return send(res, JSON_TYPE, JSON.stringify(await randomWorlds(queries())))
    if (path === '/fortunes') return send(res, HTML, fortunesHtml(await fortunes()))
    if (path === '/updates') return send(res, JSON_TYPE, JSON.stringify(await updateWorlds(queries())))
    if (path === '/') return send(res, TEXT, HELLO)
    res.statusCode = 404
    send(res, TEXT, NOT_FOUND)
  } catch (error) {
    console.error('ERROR:', error)
    res.statusCode = 500
    send(res, TEXT, 'Internal Server Error\n')
  }
}

function send(res, type, body) {
  res.setHeader('Content-Type', type)
  res.end(body)
}
