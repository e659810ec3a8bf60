// A Fastify 5 instance served through Pegasus's node interface (auto recognises it and waits for
// its ready()): routes, plugins, hooks, JSON bodies and schemas, reply headers and codes, errors,
// 404, streams and HEAD, over real sockets.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { RawClient, get } from './helpers/raw.js'
import { eventually, httpRequest, startServer, watchEscapes } from './helpers/server.js'

const hooks: string[] = []
const abortedRequests: string[] = []
const streamed = randomBytes(2 * 1024 * 1024)

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

function buildApp(): FastifyInstance {
  const app = Fastify({ logger: false })
  app.addHook('onRequest', async (request) => {
    hooks.push(`onRequest ${request.url}`)
  })
  app.addHook('onResponse', async (request, reply) => {
    hooks.push(`onResponse ${request.url} ${reply.statusCode}`)
  })
  app.get('/hello', async () => ({ hello: 'world' }))
  app.get('/users/:id', async (request) => {
    const { id } = request.params as { id: string }
    const query = request.query as Record<string, string>
    return { id, query, ip: request.ip, hostname: request.hostname, method: request.method }
  })
  app.post(
    '/items',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' }, count: { type: 'integer' }, notes: { type: 'string' } },
        },
      },
    },
    async (request, reply) => {
      const body = request.body as { name: string; count?: number; notes?: string }
      reply.code(201).header('Location', `/items/${body.name}`).header('X-Count', String(body.count ?? 0))
      return { created: body }
    },
  )
  app.get('/text', async (request, reply) => {
    reply.type('text/plain; charset=utf-8').header('Cache-Control', 'no-store').header('X-Multi', ['a', 'b'])
    return 'plain text'
  })
  app.get('/stream', async (request, reply) => {
    reply.type('application/octet-stream')
    const pieces: Buffer[] = []
    for (let i = 0; i < streamed.length; i += 256 * 1024) pieces.push(streamed.subarray(i, i + 256 * 1024))
    return reply.send(Readable.from(pieces))
  })
  app.get('/fail', async () => {
    throw new Error('a bug in a handler')
  })
  app.get('/conflict', async (request, reply) => {
    reply.code(409)
    throw Object.assign(new Error('already there'), { statusCode: 409 })
  })
  app.get(
    '/wait',
    {
      onRequestAbort: async (request) => {
        abortedRequests.push(request.url)
      },
    },
    async (request) => {
      // Answers once its client has gone (an app that notices, as node:http tells it).
      await new Promise((resolve) => request.raw.once('close', resolve))
      return { late: true }
    },
  )
  app.delete('/items/:id', async (request, reply) => {
    reply.code(204).send()
  })
  app.register(
    async (plugin) => {
      plugin.decorate('greeting', 'from a plugin')
      plugin.get('/info', async function () {
        return { greeting: (this as unknown as { greeting: string }).greeting }
      })
    },
    { prefix: '/plugin' },
  )
  app.setNotFoundHandler((request, reply) => {
    if (request.url.startsWith('/custom-404')) reply.code(404).send({ custom: true, url: request.url })
    else reply.code(404).send({ message: `Route ${request.method}:${request.url} not found`, error: 'Not Found', statusCode: 404 })
  })
  return app
}

const escaped = watchEscapes(t)
const fastify = buildApp()
t.teardown(() => fastify.close())
const server = await startServer(t, fastify as unknown as Parameters<typeof startServer>[1], { interface: 'auto' })
const origin = server.origin

t.test('auto recognises the Fastify instance; listen waited for ready()', async (t) => {
  t.equal(server.server.app.interface, 'node')
  t.equal(server.server.app.label, 'Fastify app')
  t.ok(fastify.printRoutes().includes('hello'))
})

t.test('routes with params and query; request.ip', async (t) => {
  const hello = await fetch(`${origin}/hello`)
  t.equal(hello.status, 200)
  t.match(hello.headers.get('content-type'), /^application\/json/)
  t.same(await hello.json(), { hello: 'world' })
  const user = await fetch(`${origin}/users/42?sort=desc&page=2`)
  t.same(await user.json(), { id: '42', query: { sort: 'desc', page: '2' }, ip: '127.0.0.1', hostname: '127.0.0.1', method: 'GET' })
  const plugin = await fetch(`${origin}/plugin/info`)
  t.same(await plugin.json(), { greeting: 'from a plugin' })
})

t.test('JSON bodies: parsed, validated by a schema, answered with reply code and headers', async (t) => {
  const created = await fetch(`${origin}/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'widget', count: 3 }),
  })
  t.equal(created.status, 201)
  t.equal(created.headers.get('location'), '/items/widget')
  t.equal(created.headers.get('x-count'), '3')
  t.same(await created.json(), { created: { name: 'widget', count: 3 } })

  const invalid = await fetch(`${origin}/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ count: 'many' }),
  })
  t.equal(invalid.status, 400)
  const error = (await invalid.json()) as { code: string; message: string }
  t.equal(error.code, 'FST_ERR_VALIDATION')

  const malformed = await fetch(`${origin}/items`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' })
  t.equal(malformed.status, 400)
  await malformed.arrayBuffer()

  const unsupported = await fetch(`${origin}/items`, { method: 'POST', headers: { 'content-type': 'application/x-nothing' }, body: 'x' })
  t.equal(unsupported.status, 415)
  await unsupported.arrayBuffer()

  // A body in chunks, larger than Pegasus reads whole before calling the app.
  const big = { name: 'big', count: 1, notes: 'x'.repeat(200000) }
  const text = JSON.stringify(big)
  const chunked = await httpRequest(`${origin}/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: [text.slice(0, 70000), text.slice(70000, 140000), text.slice(140000)],
  })
  t.equal(chunked.status, 201)
  t.same(JSON.parse(chunked.body.toString()).created, big)
})

t.test('reply headers: type, several values of one header, 204', async (t) => {
  const reply = await httpRequest(`${origin}/text`)
  t.equal(reply.status, 200)
  t.equal(reply.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(reply.headers['cache-control'], 'no-store')
  t.equal(reply.headers['x-multi'], 'a, b')
  t.same(
    reply.rawHeaders.filter((_, i, all) => i % 2 === 1 && all[i - 1] === 'x-multi'),
    ['a', 'b'],
    'two X-Multi fields',
  )
  t.equal(reply.headers['content-length'], '10')
  t.equal(reply.body.toString(), 'plain text')
  const deleted = await httpRequest(`${origin}/items/9`, { method: 'DELETE' })
  t.equal(deleted.status, 204)
  t.equal(deleted.body.length, 0)
})

t.test('404: the default shape, and a custom not-found handler', async (t) => {
  const missing = await fetch(`${origin}/nowhere`)
  t.equal(missing.status, 404)
  t.same(await missing.json(), { message: 'Route GET:/nowhere not found', error: 'Not Found', statusCode: 404 })
  const custom = await fetch(`${origin}/custom-404/x`)
  t.equal(custom.status, 404)
  t.same(await custom.json(), { custom: true, url: '/custom-404/x' })
  const wrongMethod = await fetch(`${origin}/hello`, { method: 'PUT' })
  t.equal(wrongMethod.status, 404)
  await wrongMethod.arrayBuffer()
})

t.test("errors: a thrown error is Fastify's 500 JSON, a statusCode error keeps its status", async (t) => {
  const failed = await fetch(`${origin}/fail`)
  t.equal(failed.status, 500)
  t.same(await failed.json(), { statusCode: 500, error: 'Internal Server Error', message: 'a bug in a handler' })
  const conflict = await fetch(`${origin}/conflict`)
  t.equal(conflict.status, 409)
  t.match(await conflict.json(), { statusCode: 409, message: 'already there' })
  t.equal(server.errText(), '', 'Fastify answered these itself')
})

t.test('a stream reply arrives whole; HEAD has headers and no body', async (t) => {
  const reply = await httpRequest(`${origin}/stream`)
  t.equal(reply.status, 200)
  t.equal(reply.headers['content-type'], 'application/octet-stream')
  t.equal(reply.body.length, streamed.length)
  t.equal(sha256(reply.body), sha256(streamed))

  const client = await RawClient.connect(server.port)
  t.teardown(() => client.destroy())
  await client.write('HEAD /hello HTTP/1.1\r\nHost: localhost\r\n\r\n' + get('/hello'))
  const [head, after] = await client.waitForResponses(2, { head: [0] })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['content-length'], String(JSON.stringify({ hello: 'world' }).length))
  t.equal(head.body.length, 0)
  t.equal(after.body.toString(), '{"hello":"world"}')
})

t.test('hooks run for each request; keep-alive and pipelining', async (t) => {
  hooks.length = 0
  const client = await RawClient.connect(server.port)
  t.teardown(() => client.destroy())
  await client.write(get('/hello') + get('/users/1') + get('/nowhere') + get('/text'))
  const responses = await client.waitForResponses(4)
  t.same(
    responses.map((r) => r.statusCode),
    [200, 200, 404, 200],
  )
  t.equal(responses[3].body.toString(), 'plain text')
  t.notOk(client.closed, 'the connection stays open')
  // onResponse runs once the response has finished: the last one may come after its bytes.
  t.ok(await eventually(() => hooks.filter((h) => h.startsWith('onResponse ')).length === 4), 'four onResponse hooks')
  // Pipelined requests run side by side: their hooks may interleave, each pair in order.
  t.same([...hooks].sort(), [
    'onRequest /hello',
    'onRequest /nowhere',
    'onRequest /text',
    'onRequest /users/1',
    'onResponse /hello 200',
    'onResponse /nowhere 404',
    'onResponse /text 200',
    'onResponse /users/1 200',
  ])
  for (const url of ['/hello', '/users/1', '/nowhere', '/text']) {
    t.ok(hooks.findIndex((h) => h.startsWith(`onRequest ${url}`)) < hooks.findIndex((h) => h.startsWith(`onResponse ${url} `)), `${url}: onRequest, then onResponse`)
  }
})

t.test('onRequestAbort runs when the client leaves before the answer', async (t) => {
  for (const leave of ['destroy', 'reset'] as const) {
    const client = await RawClient.connect(server.port)
    await client.write(get(`/wait?${leave}`))
    await new Promise((resolve) => setTimeout(resolve, 50))
    if (leave === 'reset') client.socket.resetAndDestroy()
    else client.destroy()
  }
  const deadline = Date.now() + 3000
  while (abortedRequests.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(abortedRequests.sort(), ['/wait?destroy', '/wait?reset'])
  t.equal((await fetch(`${origin}/hello`)).status, 200, 'still serving')
})

t.test('nothing escaped to the process', async (t) => {
  t.same(escaped, [])
})
