// The TechEmpower tests as an Express 5 app, exported as it is: served by node:http
// (serve-node-http.mjs) and by Pegasus's CLI (`auto`: an Express app, the node interface).
// GET / answers the benchmark's hello (the harness's start check).
import express from 'express'
import { HELLO, TEXT } from '../shared.mjs'
import { fortunes, fortunesHtml, HTML, queryCount, randomWorld, randomWorlds, updateWorlds } from './data.mjs'

const app = express()

app.get('/', (_req, res) => {
  res.set('Content-Type', TEXT)
  res.send(HELLO)
})

app.get('/db', async (_req, res) => {
  res.json(await randomWorld())
})

app.get('/queries', async (req, res) => {
  res.json(await randomWorlds(queryCount(req.query.queries)))
})

app.get('/fortunes', async (_req, res) => {
  res.set('Content-Type', HTML)
  res.send(fortunesHtml(await fortunes()))
})

app.get('/updates', async (req, res) => {
  res.json(await updateWorlds(queryCount(req.query.queries)))
})

export default app
