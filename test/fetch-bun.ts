// The fetch interface against Bun.serve on the same handler (test/apps/fetch-table.mjs): the same
// raw requests to both, and the same status, headers (but Date and Server) and body back, except
// for the differences docs/apps.md lists. Bun is the `bun` dev dependency (its binary); where it
// cannot run, this file says so and skips.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RawClient, type RawResponse } from './helpers/raw.js'
import { startServer } from './helpers/server.js'
import { fetch as handler } from './apps/fetch-table.mjs'

const root = join(fileURLToPath(import.meta.url), '..', '..')
const candidates = [join(root, 'node_modules', '.bin', 'bun'), join(root, 'benchmarks', 'node_modules', '.bin', 'bun')]
const bun = candidates.find((path) => existsSync(path) && spawnSync(path, ['--version']).status === 0)

// Each request, as raw bytes, and whether it is a HEAD (its response has no body).
const table: [string, string][] = [
  ['a string body', 'GET /text HTTP/1.1\r\nHost: h\r\n\r\n'],
  ['Response.json', 'GET /json HTTP/1.1\r\nHost: h\r\n\r\n'],
  ['status and status text', 'GET /status HTTP/1.1\r\nHost: h\r\n\r\n'],
  ['two Set-Cookie and a custom header', 'GET /cookies HTTP/1.1\r\nHost: h\r\n\r\n'],
  ['a POST body echoed', 'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello'],
  ['a chunked POST body echoed', 'PUT /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n'],
  ['request headers and the query', 'GET /headers?q=x%20y HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n'],
  ['bytes', 'GET /bytes HTTP/1.1\r\nHost: h\r\n\r\n'],
  ['204', 'GET /empty HTTP/1.1\r\nHost: h\r\n\r\n'],
  ['a redirect', 'GET /redirect HTTP/1.1\r\nHost: h\r\n\r\n'],
  ['a 404', 'GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n'],
  ['a stream of two pieces, 20 ms apart', 'GET /stream HTTP/1.1\r\nHost: h\r\n\r\n'],
  ['HEAD of a string body', 'HEAD /text HTTP/1.1\r\nHost: h\r\n\r\n'],
]

/** What is compared: status, headers (lower-case names, sorted; not Date, Server), body. */
function comparable(response: RawResponse): Record<string, unknown> {
  const headers = response.rawHeaders
    .map(([name, value]) => [name.toLowerCase(), value])
    // The default Content-Type of a body is the runtime's Response class's, not the server's:
    // undici writes `text/plain;charset=UTF-8` and `application/json`, Bun
    // `text/plain;charset=utf-8` and `application/json;charset=utf-8`.
    .map(([name, value]) => [name, name === 'content-type' ? value.toLowerCase().replace(/;charset=utf-8$/, '') : value])
    .filter(([name]) => name !== 'date' && name !== 'server')
    .sort((a, b) => (a[0] === b[0] ? 0 : a[0] < b[0] ? -1 : 1))
  // (The reason phrase is not compared: Bun sends the standard one whatever statusText the
  // Response has; Pegasus sends the Response's, as node:http does. Checked in test/fetch.ts.)
  return { status: response.statusCode, headers, body: response.body.toString('latin1') }
}

async function ask(port: number, bytes: string, head: boolean): Promise<RawResponse> {
  const client = await RawClient.connect(port)
  await client.write(bytes)
  const [response] = await client.waitForResponses(1, head ? { head: [0] } : {})
  client.destroy()
  return response
}

t.test('the same fetch handler on Pegasus and on Bun.serve answers alike', { skip: bun === undefined ? 'no runnable bun binary (the bun dev dependency is not installed)' : false }, async (t) => {
  const child = spawn(bun as string, [join(root, 'test', 'apps', 'bun-serve.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => void child.kill())
  const bunPort = await new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (text: string) => {
      const match = /listening (\d+)/.exec(text)
      if (match !== null) resolve(Number(match[1]))
    })
    child.on('exit', (code) => reject(new Error(`bun exited with ${code}`)))
  })
  const pegasus = await startServer(t, handler as never, { interface: 'fetch' })
  for (const [name, bytes] of table) {
    const head = bytes.startsWith('HEAD')
    const ours = comparable(await ask(pegasus.port, bytes, head))
    const theirs = comparable(await ask(bunPort, bytes, head))
    if (head) {
      // Deliberate: Bun reads the body to give HEAD its Content-Length and sends no other field
      // of the Response; Pegasus cancels the body stream, sends the Response's fields (RFC 9110
      // §9.3.2: those a GET would get) and no length it does not know.
      t.same([ours.status, ours.body], [theirs.status, theirs.body], name)
      t.same(ours.headers, [['content-type', 'text/plain']], `${name}: the Response's fields, no length`)
      continue
    }
    t.same(ours, theirs, name)
  }
})
