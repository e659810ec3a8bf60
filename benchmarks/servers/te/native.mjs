// The TechEmpower tests on Pegasus's own request and response (marked native, so that the CLI's
// `auto` serves it so). GET / answers the benchmark's hello (the harness's start check).
import { native } from '../../../dist/lib/server.js'
import { HELLO, JSON_TYPE, NOT_FOUND, TEXT } from '../shared.mjs'
import { fortunes, fortunesHtml, HTML, queryCount, randomWorld, randomWorlds, updateWorlds } from './data.mjs'

export default native(async (req, res) => {
  const path = req.path
  const queries = () => queryCount(new URLSearchParams(req.query).get('queries'))
  if (path === '/db') return send(res, JSON_TYPE, JSON.stringify(await randomWorld()))
  if (path === '/queries') return send(res, JSON_TYPE, JSON.stringify(await randomWorlds(queries())))
  if (path === '/fortunes') return send(res, HTML, fortunesHtml(await fortunes()))
  if (path === '/updates') return send(res, JSON_TYPE, JSON.stringify(await updateWorlds(queries())))
  if (path === '/') return send(res, TEXT, HELLO)
  res.statusCode = 404
  send(res, TEXT, NOT_FOUND)
})

function send(res, type, body) {
  res.setHeader('Content-Type', type)
  res.end(body)
}
