// Next.js through the node interface: a small App Router app (test/apps/next) is built with
// `next build`, then Next's own request handler (`next({ dev: false })` and
// `getRequestHandler()`, as in Next's custom-server guide) is served by Pegasus, unchanged: a
// server-rendered page, a route handler (GET and POST with a cookie), static assets, 404.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type http from 'node:http'
import { httpRequest, startServer } from './helpers/server.js'

const root = join(fileURLToPath(import.meta.url), '..', '..')

t.test("a Next.js app, built, served by Next's request handler on Pegasus", async (t) => {
  // Built where it is (its .next/ is ignored by git): Turbopack compiles nothing outside the
  // project's root, so a copy elsewhere could not reach node_modules.
  const dir = join(root, 'test', 'apps', 'next')
  const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' }
  const build = spawnSync(process.execPath, [join(root, 'node_modules', 'next', 'dist', 'bin', 'next'), 'build', dir], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 100_000,
  })
  if (build.status !== 0) t.fail(`next build failed:\n${build.stdout}\n${build.stderr}`)
  t.equal(build.status, 0, 'next build')

  const { default: next } = await import('next')
  const app = (next as unknown as (options: object) => { prepare(): Promise<void>; getRequestHandler(): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>; close(): Promise<void> })({
    dev: false,
    dir,
    quiet: true,
  })
  await app.prepare()
  t.teardown(() => app.close())
  const handle = app.getRequestHandler()
  const server = await startServer(t, ((req: http.IncomingMessage, res: http.ServerResponse) => handle(req, res)) as never, { interface: 'node' })

  const page = await httpRequest(`${server.origin}/?name=Tester`)
  t.equal(page.status, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.body.toString(), /Hello <!-- -->Tester<!-- --> from Next.js|Hello Tester from Next.js/, 'server-rendered')
  const script = /src="(\/_next\/static\/[^"]+\.js)"/.exec(page.body.toString())
  t.ok(script, 'the page links its scripts')
  if (script !== null) {
    const asset = await httpRequest(`${server.origin}${script[1]}`)
    t.equal(asset.status, 200, 'a static asset')
    t.match(asset.headers['content-type'], /javascript/)
    t.ok(asset.body.length > 0)
  }

  const get = await httpRequest(`${server.origin}/api/hello?who=pegasus`)
  t.equal(get.status, 200)
  t.same(JSON.parse(get.body.toString()), { hello: 'pegasus' }, 'a route handler')

  const post = await httpRequest(`${server.origin}/api/hello`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ a: 1 }),
  })
  t.equal(post.status, 201)
  t.same(JSON.parse(post.body.toString()), { got: { a: 1 } }, 'a POST body read by the route handler')
  t.same(post.headers['set-cookie'], ['seen=1; Path=/'])

  const missing = await httpRequest(`${server.origin}/no/such/page`)
  t.equal(missing.status, 404, "Next's 404 page")
  t.notMatch(server.errText(), /ERROR/, 'nothing logged as an error')
})
