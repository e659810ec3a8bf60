// fastify serving the benchmark app: its router, its body parser (bodies kept as text), its
// reply API; the stream is a Readable that fastify pipes out (pipe waits for 'drain').
import { Readable } from 'node:stream'
import Fastify from 'fastify'
import { address, echoJson, HELLO, JSON_TYPE, STREAM_BYTES, STREAM_CHUNK, STREAM_TYPE, TEXT } from './shared.mjs'

const app = Fastify({ logger: false })

app.removeAllContentTypeParsers()
app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body))

app.get('/', (_req, reply) => {
  reply.header('Content-Type', TEXT).send(HELLO)
})

const echo = (req, reply) => {
  const { a, b, c } = req.params
  const params = [a, b, c].filter((p) => p !== undefined)
  const query = Object.entries(req.query).map(([name, value]) => [name, Array.isArray(value) ? value[0] : value])
  reply.header('Content-Type', JSON_TYPE).send(echoJson(req.body ?? '', query, params))
}
for (const url of ['/echo', '/echo/:a', '/echo/:a/:b', '/echo/:a/:b/:c']) {
  app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], url, handler: echo })
}

app.get('/stream', (_req, reply) => {
  let sent = 0
  const body = new Readable({
    read() {
      if (sent >= STREAM_BYTES) return void this.push(null)
      sent += STREAM_CHUNK.byteLength
      this.push(STREAM_CHUNK)
    },
  })
  reply.header('Content-Type', STREAM_TYPE).send(body)
})

const { port, host } = address()
await app.listen({ port, host })
