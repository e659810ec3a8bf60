// LightResponse (lib/interfaces/light-response.ts): the global Response while the fetch interface
// serves. It must be a Response to everyone, answer every member as undici's does, throw where
// undici throws, and go out as undici's would: these compare it with undici's own Response.
import t from 'tap'
import { httpRequest, startServer } from './helpers/server.js'
import { RawClient } from './helpers/raw.js'
import { LightResponse, RealResponse } from '../lib/interfaces/light-response.js'

type Handler = (request: Request) => Response | Promise<Response>

function startFetch(t: Parameters<typeof startServer>[0], handler: Handler, options = {}): ReturnType<typeof startServer> {
  return startServer(t, handler as never, { interface: 'fetch', ...options })
}

t.test('lightResponse: false keeps undici’s Response; by default a fetch server installs LightResponse', async (t) => {
  await startFetch(t, () => new Response('undici'), { lightResponse: false })
  t.equal(globalThis.Response, RealResponse, 'undici’s, as asked')
  await startFetch(t, () => new Response('light'))
  t.equal(globalThis.Response, LightResponse as unknown, 'the light one')
  t.equal(Response.name, 'Response')
})

t.test('a Response to everyone: instanceof both ways, statics, subclasses, every member', async (t) => {
  const light = new Response('hello', { status: 201, headers: { 'X-One': '1' } })
  t.ok(light instanceof Response)
  t.ok(light instanceof RealResponse, 'undici’s own instanceof')
  t.ok(Response.json({ a: 1 }) instanceof Response, 'Response.json() is undici’s, and a Response')
  t.ok(Response.error() instanceof Response)
  t.equal(Response.redirect('http://localhost/', 302).status, 302)
  t.notOk({} instanceof Response)
  class Mine extends Response {
    mine(): string {
      return 'mine'
    }
  }
  const mine = new Mine('sub')
  t.ok(mine instanceof Mine && mine instanceof Response)
  t.equal(mine.mine(), 'mine')
  t.notOk(new Response('x') instanceof Mine, 'a subclass’s instanceof is its own')
  t.equal(await mine.text(), 'sub')
  t.equal(light.status, 201)
  t.equal(light.ok, true)
  t.equal(new Response('x', { status: 404 }).ok, false)
  t.equal(light.statusText, '')
  t.equal(light.type, 'default')
  t.equal(light.headers.get('x-one'), '1')
  t.equal(light.headers.get('content-type'), 'text/plain;charset=UTF-8')
  t.equal(light.bodyUsed, false)
  const copy = light.clone()
  t.equal(await copy.text(), 'hello')
  t.equal(await light.text(), 'hello')
  t.equal(light.bodyUsed, true)
  t.same(await new Response('{"a":[1]}').json(), { a: [1] })
  t.equal(new TextDecoder().decode(await new Response('bytes').arrayBuffer()), 'bytes')
  t.equal(new Response(null).body, null)
  t.equal(Object.prototype.toString.call(light), '[object Response]')
  // undici's record (Node.js 20 reaches it through symbols): answered by the real one.
  for (const symbol of Object.getOwnPropertySymbols(new RealResponse(''))) t.not((new Response('r') as unknown as Record<symbol, unknown>)[symbol], undefined)
  // undici's own methods called on it: on Node.js 20 they find undici's record through the
  // symbols above; from undici 7 (Node.js 22) the record is a private field no other object has.
  const text = RealResponse.prototype.text as (this: unknown) => Promise<string>
  if (Object.getOwnPropertySymbols(new RealResponse('')).length > 0) t.equal(await text.call(new Response('called')), 'called')
  else t.throws(() => text.call(new Response('called')), TypeError, 'undici 7: a TypeError, as for any object not made by undici')
})

t.test('it throws what undici throws, where undici throws it', async (t) => {
  const same = (make: (R: typeof Response) => unknown, what: string): void => {
    let real: unknown = null
    let light: unknown = null
    try {
      make(RealResponse)
    } catch (error) {
      real = error
    }
    try {
      make(Response)
    } catch (error) {
      light = error
    }
    t.not(real, null, `undici throws: ${what}`)
    t.equal((light as Error)?.constructor, (real as Error).constructor, `and so does LightResponse: ${what}`)
  }
  same((R) => new R('x', { status: 99 }), 'status 99')
  same((R) => new R('x', { status: 600 }), 'status 600')
  same((R) => new R('x', { status: 204 }), 'a body with 204')
  same((R) => new R('x', { status: 304 }), 'a body with 304')
  same((R) => new R('x', { headers: { 'bad name': 'x' } }), 'a field name that is no token')
  same((R) => new R('x', { headers: { 'x-a': 'a\r\nb' } }), 'CR LF in a value')
  same((R) => new R('x', { headers: { 'x-a': 'ā' } }), 'a value that is not bytes')
  same((R) => new R('x', { statusText: 'bad\n' }), 'a bad reason')
  same((R) => new R('x', 'init' as never), 'an init that is no object')
  t.equal(new Response(null, { status: 204 }).status, 204, 'no body with 204: fine')
})

t.test('what goes out is what undici’s Response would send', async (t) => {
  const shared: Record<string, string> = { 'Content-Type': 'text/html' }
  const cases: Record<string, (R: typeof Response) => Response> = {
    '/text': (R) => new R('text body'),
    '/typed': (R) => new R('<p>x</p>', { headers: shared }),
    '/status': (R) => new R('gone', { status: 410, headers: { 'X-A': '1', 'x-b': '2' } }),
    '/empty': (R) => new R(null, { status: 204 }),
    '/none': (R) => new R(),
    '/null-init': (R) => new R('null init', null as never),
    '/undefined-status': (R) => new R('u', { status: undefined, headers: undefined }),
    '/trimmed': (R) => new R('t', { headers: { 'x-space': '  padded  ' } }),
    '/twice': (R) => new R('t', { headers: { 'X-Dup': 'a', 'x-dup': 'b' } }),
    '/number': (R) => new R('n', { headers: { 'x-n': 5 as unknown as string } }),
    '/reason': (R) => new R('r', { status: 299, statusText: 'Fine' }),
    '/headers-object': (R) => new R('h', { headers: new Headers({ 'x-h': 'h' }) }),
    '/bytes': (R) => new R(new TextEncoder().encode('bytes')),
    '/stream': (R) =>
      new R(
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('a stream'))
            controller.close()
          },
        }),
      ),
    '/mutated': (R) => {
      const response = new R('m', { headers: { 'x-before': '1' } })
      response.headers.set('x-after', '2')
      return response
    },
    '/many': (R) => {
      const headers: Record<string, string> = {}
      for (let i = 0; i < 20; i++) headers[`x-${i}`] = String(i)
      return new R('many', { headers })
    },
  }
  let make: typeof Response = Response
  const server = await startFetch(t, (request) => {
    const path = new URL(request.url).pathname
    const response = cases[path](make)
    // The app changes its own init object afterwards: undici copied it.
    shared['Content-Type'] = 'text/changed'
    return response
  })
  for (const path of Object.keys(cases)) {
    for (const method of ['GET', 'HEAD']) {
      shared['Content-Type'] = 'text/html'
      make = RealResponse
      const real = await httpRequest(`${server.origin}${path}`, { method })
      shared['Content-Type'] = 'text/html'
      make = Response
      const light = await httpRequest(`${server.origin}${path}`, { method })
      const strip = (headers: Record<string, unknown>): Record<string, unknown> => {
        const { date: _date, ...rest } = headers
        return rest
      }
      t.equal(light.status, real.status, `${method} ${path}: status`)
      t.same(strip(light.headers), strip(real.headers), `${method} ${path}: fields`)
      t.equal(light.body.toString(), real.body.toString(), `${method} ${path}: body`)
    }
  }
  // A keep-alive connection goes on after a light HEAD answer with a body it did not send.
  const client = await RawClient.connect(server.port)
  t.teardown(() => client.destroy())
  await client.write('HEAD /text HTTP/1.1\r\nHost: x\r\n\r\nGET /text HTTP/1.1\r\nHost: x\r\n\r\n')
  const [head, get] = await client.waitForResponses(2, { head: [0] })
  t.equal(head.statusCode, 200)
  t.equal(get.body.toString(), 'text body')
})
