// One Express 5 app, as a user would write it (Express's defaults: ETag, X-Powered-By), served by
// node:http (express.mjs) and by Pegasus's node interface (pegasus-express.mjs): `GET /` answers
// the benchmark's hello; `POST /json` parses a JSON body with express.json() and answers JSON.
import express from 'express'
import { HELLO, TEXT } from './shared.mjs'

export const app = express()

app.get('/', (_req, res) => {
  res.set('Content-Type', TEXT)
  res.send(HELLO)
})

app.post('/json', express.json(), (req, res) => {
  res.json({ ok: true, echo: req.body })
})
