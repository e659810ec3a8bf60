// More web-standard frameworks through the fetch interface, unchanged, over real sockets:
// itty-router (a Proxy that answers every property name) and h3 v2.
import t from 'tap'
import { AutoRouter, error } from 'itty-router'
import { H3, HTTPError, getCookie, readBody, setCookie } from 'h3'
import { httpRequest, startServer } from './helpers/server.js'

t.test('itty-router: AutoRouter, params, JSON in and out, errors, 404', async (t) => {
  const router = AutoRouter()
  router.get('/hello/:name', ({ name }) => ({ hello: name }))
  router.post('/echo', async (request) => ({ got: await request.json() }))
  router.get('/teapot', () => error(418, 'short and stout'))
  router.get('/throws', () => {
    throw new Error('route broke')
  })
  const server = await startServer(t, router as never, { interface: 'auto' })
  t.same([server.server.app.interface, server.server.app.label], ['fetch', 'an object with fetch()'], 'a Proxy router is a fetch app')

  const hello = await httpRequest(`${server.origin}/hello/pegasus`)
  t.equal(hello.status, 200)
  t.match(hello.headers['content-type'], /^application\/json/)
  t.same(JSON.parse(hello.body.toString()), { hello: 'pegasus' })

  const echo = await httpRequest(`${server.origin}/echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ list: [1, 2, 3] }),
  })
  t.same(JSON.parse(echo.body.toString()), { got: { list: [1, 2, 3] } })

  const teapot = await httpRequest(`${server.origin}/teapot`)
  t.equal(teapot.status, 418)
  t.same(JSON.parse(teapot.body.toString()), { status: 418, error: 'short and stout' })

  t.equal((await httpRequest(`${server.origin}/throws`)).status, 500, "the router's own 500")
  t.equal((await httpRequest(`${server.origin}/nowhere`)).status, 404)
  t.equal(server.errText(), '', 'nothing reached Pegasus as an error: the router answered')
})

t.test('h3 v2: routes, readBody, cookies, HTTPError, 404', async (t) => {
  const app = new H3()
  app.get('/', () => 'hello h3')
  app.post('/json', async (event) => ({ got: await readBody(event) }))
  app.get('/cookies', (event) => {
    setCookie(event, 'a', '1')
    setCookie(event, 'b', '2')
    return `you sent ${getCookie(event, 'sent') ?? 'none'}`
  })
  app.get('/forbidden', () => {
    throw new HTTPError({ status: 403, message: 'not for you' })
  })
  app.get('/ip', (event) => event.req.headers.get('host'))
  const server = await startServer(t, app as never, { interface: 'auto' })
  t.same([server.server.app.interface, server.server.app.label], ['fetch', 'an object with fetch()'])

  const root = await httpRequest(`${server.origin}/`)
  t.equal(root.body.toString(), 'hello h3')
  t.match(root.headers['content-type'], /^text\/plain/)

  const json = await httpRequest(`${server.origin}/json`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ a: 1 }),
  })
  t.same(JSON.parse(json.body.toString()), { got: { a: 1 } })

  const cookies = await httpRequest(`${server.origin}/cookies`, { headers: { cookie: 'sent=yes' } })
  t.equal(cookies.body.toString(), 'you sent yes')
  t.equal(cookies.headers['set-cookie']?.length, 2, 'two Set-Cookie lines')

  const forbidden = await httpRequest(`${server.origin}/forbidden`)
  t.equal(forbidden.status, 403)
  t.match(forbidden.body.toString(), /not for you/)
  t.equal((await httpRequest(`${server.origin}/nowhere`)).status, 404)
  t.equal((await httpRequest(`${server.origin}/ip`)).body.toString(), `127.0.0.1:${server.port}`)
})
