// Koa 3 served through the node interface: @koa/router, @koa/bodyparser, ctx.ip, ctx.cookies
// (plain and signed), a stream body, and errors (ctx.throw, a thrown error), over real sockets.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Koa from 'koa'
import Router from '@koa/router'
import { bodyParser } from '@koa/bodyparser'
import { RawClient, get } from './helpers/raw.js'
import { httpRequest, startServer, watchEscapes } from './helpers/server.js'

const MiB = 1024 * 1024

const dir = mkdtempSync(join(tmpdir(), 'pegasus-koa-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const bigFile = join(dir, 'big.bin')
const bigData = randomBytes(3 * MiB + 123)
writeFileSync(bigFile, bigData)

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

const appErrors: Error[] = []
// Streams the app opened, to see them closed when their client leaves.
const opened: ReturnType<typeof createReadStream>[] = []

function buildApp(): Koa {
  const app = new Koa()
  app.keys = ['koa secret']
  // Koa reports errors of status >= 500 here (and prints them without a listener).
  app.on('error', (error: Error) => appErrors.push(error))
  const router = new Router()
  router.get('/hello/:name', (ctx) => {
    ctx.body = { hello: ctx.params.name, query: ctx.query }
  })
  router.post('/json', (ctx) => {
    ctx.status = 201
    ctx.body = { got: ctx.request.body, type: ctx.request.type }
  })
  router.get('/ip', (ctx) => {
    ctx.body = { ip: ctx.ip, ips: ctx.ips, host: ctx.host, protocol: ctx.protocol, secure: ctx.secure }
  })
  router.get('/cookies/set', (ctx) => {
    ctx.cookies.set('plain', 'value', { httpOnly: true, signed: false })
    ctx.cookies.set('visits', '3', { signed: true })
    ctx.body = 'set'
  })
  router.get('/cookies/get', (ctx) => {
    ctx.body = {
      plain: ctx.cookies.get('plain') ?? null,
      visits: ctx.cookies.get('visits', { signed: true }) ?? null,
    }
  })
  router.get('/file', (ctx) => {
    ctx.type = 'application/octet-stream'
    const stream = createReadStream(bigFile)
    opened.push(stream)
    ctx.body = stream
  })
  router.get('/forbidden', (ctx) => ctx.throw(403, 'not for you'))
  router.get('/teapot', (ctx) => ctx.throw(418, 'short and stout', { expose: true }))
  router.get('/throw', () => {
    throw new Error('a bug in a route')
  })
  router.get('/reject', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1))
    throw new Error('a bug after an await')
  })
  router.get('/redirect', (ctx) => ctx.redirect('/hello/there'))
  router.head('/head-only', (ctx) => {
    ctx.set('X-Head', 'yes')
    ctx.body = 'never sent'
  })
  app.use(async (ctx, next) => {
    const started = Date.now()
    await next()
    ctx.set('X-Response-Time', `${Date.now() - started}ms`)
  })
  app.use(bodyParser())
  app.use(router.routes())
  app.use(router.allowedMethods())
  return app
}

const escaped = watchEscapes(t)
const server = await startServer(t, buildApp(), { interface: 'auto' })
const origin = server.origin

t.test('auto recognises the Koa app', async (t) => {
  t.equal(server.server.app.interface, 'node')
  t.equal(server.server.app.label, 'Koa app')
})

t.test('@koa/router: params, query, middleware headers, 404 and 405', async (t) => {
  const hello = await fetch(`${origin}/hello/pegasus?x=1&y=two`)
  t.equal(hello.status, 200)
  t.match(hello.headers.get('x-response-time'), /^\d+ms$/)
  t.same(await hello.json(), { hello: 'pegasus', query: { x: '1', y: 'two' } })
  const missing = await fetch(`${origin}/nothing`)
  t.equal(missing.status, 404)
  t.equal(await missing.text(), 'Not Found')
  const wrongMethod = await fetch(`${origin}/hello/x`, { method: 'DELETE' })
  t.equal(wrongMethod.status, 405)
  t.match(wrongMethod.headers.get('allow'), /GET/)
  await wrongMethod.arrayBuffer()
  const redirect = await fetch(`${origin}/redirect`, { redirect: 'manual' })
  t.equal(redirect.status, 302)
  t.equal(redirect.headers.get('location'), '/hello/there')
  await redirect.arrayBuffer()
})

t.test('@koa/bodyparser: JSON in, JSON out', async (t) => {
  const payload = { list: [1, 'two', { three: 3 }], text: 'ünïcödé' }
  const response = await fetch(`${origin}/json`, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(payload),
  })
  t.equal(response.status, 201)
  t.same(await response.json(), { got: payload, type: 'application/json' })
  // A body larger than Pegasus reads whole before the app is called, sent in pieces.
  const large = { items: Array.from({ length: 20000 }, (_, i) => ({ i, name: `item ${i}` })) }
  const text = JSON.stringify(large)
  const pieces = [text.slice(0, 1000), text.slice(1000, 300000), text.slice(300000)]
  const streamed = await httpRequest(`${origin}/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: pieces })
  t.equal(streamed.status, 201)
  t.same(JSON.parse(streamed.body.toString()).got, large)
  const bad = await fetch(`${origin}/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"broken' })
  t.equal(bad.status, 400)
  await bad.arrayBuffer()
})

t.test('ctx.ip and friends come from the socket', async (t) => {
  const response = await fetch(`${origin}/ip`)
  t.same(await response.json(), { ip: '127.0.0.1', ips: [], host: `127.0.0.1:${server.port}`, protocol: 'http', secure: false })
})

t.test('ctx.cookies: set (plain and signed) and get back', async (t) => {
  const set = await httpRequest(`${origin}/cookies/set`)
  const cookies = set.headers['set-cookie'] as string[]
  t.equal(cookies.length, 3, 'plain, visits and its signature')
  t.match(cookies[0], /^plain=value; path=\/; httponly$/)
  t.match(cookies[1], /^visits=3; path=\/; httponly$/)
  t.match(cookies[2], /^visits\.sig=[\w-]+; path=\/; httponly$/)
  const header = cookies.map((cookie) => cookie.split(';')[0]).join('; ')
  const back = await httpRequest(`${origin}/cookies/get`, { headers: { cookie: header } })
  t.same(JSON.parse(back.body.toString()), { plain: 'value', visits: '3' })
  const tampered = await httpRequest(`${origin}/cookies/get`, { headers: { cookie: header.replace('visits=3', 'visits=999') } })
  t.same(JSON.parse(tampered.body.toString()), { plain: 'value', visits: null }, 'a tampered signed cookie is not read')
})

t.test('a stream body: fs.createReadStream, whole and intact', async (t) => {
  const reply = await httpRequest(`${origin}/file`)
  t.equal(reply.status, 200)
  t.equal(reply.headers['content-type'], 'application/octet-stream')
  t.equal(reply.headers['transfer-encoding'], 'chunked', 'a stream of unknown length is chunked')
  t.equal(reply.body.length, bigData.length)
  t.equal(sha256(reply.body), sha256(bigData))

  // HEAD of the same route: Koa's stream, no body bytes, the connection still in step.
  const client = await RawClient.connect(server.port)
  t.teardown(() => client.destroy())
  await client.write('HEAD /file HTTP/1.1\r\nHost: localhost\r\n\r\n' + get('/hello/after'))
  const [head, after] = await client.waitForResponses(2, { head: [0] })
  t.equal(head.statusCode, 200)
  t.equal(head.body.length, 0)
  t.same(JSON.parse(after.body.toString()), { hello: 'after', query: {} })

  // A client that leaves in the middle: the stream Koa piped is closed (no descriptor leaks).
  const before = opened.length
  const quitter = await RawClient.connect(server.port)
  await quitter.write(get('/file'))
  await quitter.until(() => quitter.data.length > 64 * 1024, 20_000, 'some of the body')
  quitter.destroy()
  const stream = opened[before]
  await new Promise<void>((resolve) => (stream.closed ? resolve() : stream.once('close', () => resolve())))
  t.ok(stream.destroyed, 'the file stream is destroyed when its client leaves')
})

t.test('errors: ctx.throw answers its status, a thrown error is a 500 reported to app.on(error)', async (t) => {
  const forbidden = await fetch(`${origin}/forbidden`)
  t.equal(forbidden.status, 403)
  t.equal(await forbidden.text(), 'not for you')
  const teapot = await fetch(`${origin}/teapot`)
  t.equal(teapot.status, 418)
  t.equal(await teapot.text(), 'short and stout')
  appErrors.length = 0
  const thrown = await fetch(`${origin}/throw`)
  t.equal(thrown.status, 500)
  t.equal(await thrown.text(), 'Internal Server Error', 'the message of a 500 is not exposed')
  const rejected = await fetch(`${origin}/reject`)
  t.equal(rejected.status, 500)
  await rejected.arrayBuffer()
  t.same(
    appErrors.map((error) => error.message),
    ['a bug in a route', 'a bug after an await'],
  )
  // Koa answered these itself: nothing reached Pegasus's error log.
  t.equal(server.errText(), '')
})

t.test('HEAD on a HEAD route: headers, no body', async (t) => {
  const response = await fetch(`${origin}/head-only`, { method: 'HEAD' })
  t.equal(response.status, 200)
  t.equal(response.headers.get('x-head'), 'yes')
  t.equal(response.headers.get('content-length'), String('never sent'.length))
  t.equal(await response.text(), '')
})

t.test('keep-alive and pipelining through Koa', async (t) => {
  const client = await RawClient.connect(server.port)
  t.teardown(() => client.destroy())
  const body = '{"n":1}'
  let batch = ''
  for (let i = 0; i < 10; i++) {
    batch += i % 2 === 0 ? get(`/hello/${i}`) : `POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`
  }
  await client.write(batch)
  const responses = await client.waitForResponses(10)
  t.same(
    responses.map((r) => r.statusCode),
    [200, 201, 200, 201, 200, 201, 200, 201, 200, 201],
  )
  t.same(JSON.parse(responses[4].body.toString()).hello, '4')
  t.same(JSON.parse(responses[5].body.toString()).got, { n: 1 })
  t.notOk(client.closed)
})

t.test('nothing escaped to the process', async (t) => {
  t.same(escaped, [])
})
