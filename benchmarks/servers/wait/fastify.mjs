// fastify with the waiting route, as a fastify user writes it: an async handler returning the body.
import Fastify from 'fastify'
import { address, HELLO, TEXT } from '../shared.mjs'
import { wait, WAIT_PATH, WAITED } from './app.mjs'

const app = Fastify({ logger: false })

app.get('/', (_req, reply) => {
  reply.header('Content-Type', TEXT).send(HELLO)
})

app.get(WAIT_PATH, async (_req, reply) => {
  await wait()
  reply.header('Content-Type', TEXT)
  return WAITED
})

const { port, host } = address()
await app.listen({ port, host })
