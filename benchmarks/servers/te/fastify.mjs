// The TechEmpower tests as a fastify app: its router, its query parser, its JSON replies.
// GET / answers the benchmark's hello (the harness's start check).
import Fastify from 'fastify'
import { address, HELLO, TEXT } from '../shared.mjs'
import { fortunes, fortunesHtml, HTML, queryCount, randomWorld, randomWorlds, updateWorlds } from './data.mjs'

const app = Fastify({ logger: false })

app.get('/', (_req, reply) => {
  reply.header('Content-Type', TEXT).send(HELLO)
})

app.get('/db', () => randomWorld())

app.get('/queries', (req) => randomWorlds(queryCount(req.query.queries)))

app.get('/fortunes', async (_req, reply) => {
  reply.header('Content-Type', HTML)
  return fortunesHtml(await fortunes())
})

app.get('/updates', (req) => updateWorlds(queryCount(req.query.queries)))

const { port, host } = address()
await app.listen({ port, host })
