// The TechEmpower tests as a Hono app, exported as it is: served by @hono/node-server
// (serve-hono.mjs), Bun.serve (serve-bun.mjs) and Pegasus's CLI (`auto`: fetch interface).
// GET / answers the benchmark's hello (the harness's start check).
import { Hono } from 'hono'
import { HELLO, TEXT } from '../shared.mjs'
import { fortunes, fortunesHtml, HTML, queryCount, randomWorld, randomWorlds, updateWorlds } from './data.mjs'

const app = new Hono()

app.get('/', (c) => c.body(HELLO, 200, { 'Content-Type': TEXT }))

app.get('/db', async (c) => c.json(await randomWorld()))

app.get('/queries', async (c) => c.json(await randomWorlds(queryCount(c.req.query('queries')))))

app.get('/fortunes', async (c) => c.body(fortunesHtml(await fortunes()), 200, { 'Content-Type': HTML }))

app.get('/updates', async (c) => c.json(await updateWorlds(queryCount(c.req.query('queries')))))

export default app
