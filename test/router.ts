import t, { type Test } from 'tap'
import { connect } from 'node:net'
import { createServer } from '../lib/server.js'
import { app } from '../fixtures/router.js'
import defaultApp from '../fixtures/router.js'

// Expected bodies were checked against the seed's Flask app (Flask 3.1, Werkzeug 3.1).

// The echo routes' handling of malformed %-escapes (as Werkzeug's) is checked below: fetch sends
// `%zz` as written, which Pegasus refuses unless permissiveTarget (test/rfc9112.ts).
const server = createServer(app, { permissiveTarget: true })
await server.listen(0, '127.0.0.1')
t.teardown(() => server.close())
const base = `http://127.0.0.1:${server.address().port}`

const ECHO_ALLOW = 'DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT'
const TEXT = 'text/plain; charset=utf-8'

interface Answer {
  status: number
  type: string | null
  allow: string | null
  body: string
}

/** One request on its own connection, as latin1 text both ways (bytes fetch would encode). */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let response = ''
    const socket = connect(server.address().port, '127.0.0.1', () => socket.end(Buffer.from(request, 'latin1')))
    socket.setEncoding('latin1')
    socket.on('data', (text: string) => (response += text))
    socket.on('end', () => resolve(response))
    socket.on('error', reject)
  })
}

async function request(method: string, target: string, body?: string | Uint8Array<ArrayBuffer>): Promise<Answer> {
  const res = await fetch(base + target, { method, body })
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    allow: res.headers.get('allow'),
    body: await res.text(),
  }
}

/** The JSON body an echo route answers with, checked for status and type on the way. */
async function echo(t: Test, method: string, target: string, body?: string | Uint8Array<ArrayBuffer>): Promise<string> {
  const answer = await request(method, target, body)
  t.equal(answer.status, 200, `${method} ${target}: 200`)
  t.equal(answer.type, 'application/json', `${method} ${target}: JSON`)
  return answer.body
}

t.equal(defaultApp, app, 'the default export is the app')

t.test('GET / greets', async (t) => {
  t.same(await request('GET', '/'), { status: 200, type: TEXT, allow: null, body: 'Blazingly Fast!\n' })
  t.same(await request('GET', '/?x=1'), { status: 200, type: TEXT, allow: null, body: 'Blazingly Fast!\n' }, 'a query changes nothing')
})

t.test('the README example', async (t) => {
  t.equal(
    await echo(t, 'POST', '/echo/a/b/c?foo=echo&bar=69', 'Some data'),
    '{"body":"Some data","query_params":{"bar":"69","foo":"echo"},"url_params":["a","b","c"]}\n',
  )
})

t.test('every echo route and method', async (t) => {
  const routes: [string, string][] = [
    ['/echo', '[]'],
    ['/echo/a', '["a"]'],
    ['/echo/a/b', '["a","b"]'],
    ['/echo/a/b/c', '["a","b","c"]'],
  ]
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
    for (const [path, params] of routes) {
      const body = method === 'GET' ? undefined : `${method} body`
      const expected = `{"body":${JSON.stringify(body ?? '')},"query_params":{},"url_params":${params}}\n`
      t.equal(await echo(t, method, path, body), expected)
    }
  }
})

t.test('query values are decoded like werkzeug', async (t) => {
  t.equal(
    await echo(t, 'GET', '/echo?x=1&x=2&y'),
    '{"body":"","query_params":{"x":"1","y":""},"url_params":[]}\n',
    'the first value wins; a key without = gets ""',
  )
  t.equal(
    await echo(t, 'GET', '/echo/a/b?a+b=c+d&%2B=%2b&z=%zz&w=%4&v=%&u=%%41'),
    '{"body":"","query_params":{"+":"+","a b":"c d","u":"%A","v":"%","w":"%4","z":"%zz"},"url_params":["a","b"]}\n',
    '+ is a space, %2B a plus, malformed escapes stay',
  )
  t.equal(
    await echo(t, 'GET', '/echo?%=1&a=%G1&b=%1G&c=%%&d=100%'),
    '{"body":"","query_params":{"%":"1","a":"%G1","b":"%1G","c":"%%","d":"100%"},"url_params":[]}\n',
  )
  t.equal(
    await echo(t, 'GET', '/echo?=empty&&k&=&q=%FF%fe&r=%C3%A9&s=%E2%82&t=%F0%9F%98%80&%EF%BC%A1=fw&%F0%9F%98%80=emoji&%EF%BF%BD=rep'),
    '{"body":"","query_params":{"":"empty","k":"","q":"%FF%FE","r":"\\u00e9","s":"%E2%82","t":"\\ud83d\\ude00",' +
      '"\\uff21":"fw","\\ufffd":"rep","\\ud83d\\ude00":"emoji"},"url_params":[]}\n',
    'empty pieces skipped, bytes that are no UTF-8 re-quoted, keys in code point order',
  )
  t.equal(
    await echo(t, 'GET', '/echo?x=%ED%A0%80&y=%F4%90%80%80&z=%C0%AF&w=%E0%80%AF&v=%F0%80%80%80'),
    '{"body":"","query_params":{"v":"%F0%80%80%80","w":"%E0%80%AF","x":"%ED%A0%80","y":"%F4%90%80%80","z":"%C0%AF"},"url_params":[]}\n',
    'surrogates, overlongs and code points past U+10FFFF are no UTF-8',
  )
  t.equal(
    await echo(t, 'GET', '/echo?m=a%C3%A9%FF%E2%82A%F0%9F%98%80%ED%9F%BF%EF%BF%BD%F4%8F%BF%BF%E0%A0%80'),
    '{"body":"","query_params":{"m":"a\\u00e9%FF%E2%82A\\ud83d\\ude00\\ud7ff\\ufffd\\udbff\\udfff\\u0800"},"url_params":[]}\n',
    'UTF-8 and stray bytes side by side; a real U+FFFD stays',
  )
  t.equal(
    await echo(t, 'GET', '/echo?a=b=c&;=semi&a;b=c'),
    '{"body":"","query_params":{";":"semi","a":"b=c","a;b":"c"},"url_params":[]}\n',
    'only & separates, only the first = splits',
  )
})

t.test('keys are sorted and everything outside printable ASCII is escaped', async (t) => {
  t.equal(
    await echo(t, 'POST', '/echo?B=1&a=2&_=3&%C3%A9=4&Z=5', '\u0001\u001f"\\\n\t\r\b\f\u007f\u0080\u00ff\u2028\ud83d\ude00'),
    '{"body":"\\u0001\\u001f\\"\\\\\\n\\t\\r\\b\\f\\u007f\\u0080\\u00ff\\u2028\\ud83d\\ude00",' +
      '"query_params":{"B":"1","Z":"5","_":"3","a":"2","\\u00e9":"4"},"url_params":[]}\n',
  )
  t.equal(
    await echo(t, 'POST', '/echo', new Uint8Array([0xff, 0xfe, 0xc3])),
    '{"body":"\\ufffd\\ufffd\\ufffd","query_params":{},"url_params":[]}\n',
    'a body that is no UTF-8 gets replacement chars',
  )
})

t.test('path params are decoded, and decoded before routing', async (t) => {
  t.equal(
    await echo(t, 'POST', '/echo/a%20b/%C3%A9/a+b'),
    '{"body":"","query_params":{},"url_params":["a b","\\u00e9","a+b"]}\n',
    '+ stays a plus in a path',
  )
  t.equal(await echo(t, 'GET', '/echo/a%2Fb'), '{"body":"","query_params":{},"url_params":["a","b"]}\n', '%2F splits')
  t.equal(
    await echo(t, 'GET', '/echo/%zz/%FF/%E2%82'),
    '{"body":"","query_params":{},"url_params":["%zz","\\ufffd","\\ufffd"]}\n',
    'malformed escapes stay; bytes that are no UTF-8 become U+FFFD',
  )
  t.equal(await echo(t, 'GET', '/%65cho/x'), '{"body":"","query_params":{},"url_params":["x"]}\n')
})

t.test('raw UTF-8 in the target reads as UTF-8 (as behind gunicorn)', async (t) => {
  const target = Buffer.from('/echo/caf\u00e9?k\u00e9=%\u00e9', 'utf8').toString('latin1')
  const response = await raw(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
  t.match(response, /^HTTP\/1\.1 200 OK\r\n/)
  t.ok(
    response.endsWith('\r\n\r\n{"body":"","query_params":{"k\\u00e9":"%\\u00e9"},"url_params":["caf\\u00e9"]}\n'),
    'a % before a non-ASCII char stays',
  )
})

t.test('unknown paths are 404', async (t) => {
  for (const path of ['/nope', '/echo/a/b/c/d', '/echo/', '/echo/a/', '/echo//a', '/echox', '/echo%2F']) {
    t.same(await request('GET', path), { status: 404, type: TEXT, allow: null, body: 'Not Found\n' }, path)
  }
  t.same(await request('POST', '/nope', 'x'), { status: 404, type: TEXT, allow: null, body: 'Not Found\n' })
})

t.test('other methods are 405 with Allow', async (t) => {
  const notAllowed = (allow: string) => ({ status: 405, type: TEXT, allow, body: 'Method Not Allowed\n' })
  t.same(await request('POST', '/', 'x'), notAllowed('GET, HEAD, OPTIONS'))
  t.same(await request('DELETE', '/'), notAllowed('GET, HEAD, OPTIONS'))
  t.same(await request('PURGE', '/echo'), notAllowed(ECHO_ALLOW))
  t.same(await request('PROPFIND', '/echo/a/b/c'), notAllowed(ECHO_ALLOW))
})

t.test('HEAD is allowed wherever GET is', async (t) => {
  const index = await fetch(base + '/', { method: 'HEAD' })
  t.equal(index.status, 200)
  t.equal(index.headers.get('content-type'), TEXT)
  t.equal(index.headers.get('content-length'), '16', 'the length GET would have')
  t.equal(await index.text(), '')
  const echoed = await request('HEAD', '/echo/a?x=1')
  t.same(echoed, { status: 200, type: 'application/json', allow: null, body: '' })
})

t.test('OPTIONS answers with Allow', async (t) => {
  t.same(await request('OPTIONS', '/'), { status: 200, type: null, allow: 'GET, HEAD, OPTIONS', body: '' })
  t.same(await request('OPTIONS', '/echo/a'), { status: 200, type: null, allow: ECHO_ALLOW, body: '' })
  t.equal((await request('OPTIONS', '/nope')).status, 404)
})
