// fastify serving the overload app's GET / (app.mjs's work, then the small 200).
import Fastify from 'fastify'
import { address, HELLO, TEXT } from '../shared.mjs'
import { work } from './app.mjs'

const app = Fastify({ logger: false })
app.get('/', (_req, reply) => {
  work()
  reply.header('Content-Type', TEXT).send(HELLO)
})

const { port, host } = address()
await app.listen({ port, host })
