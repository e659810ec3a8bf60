// React Router 7 through the fetch interface: a small framework-mode app (test/apps/react-router)
// is built with `react-router build`, and its server build's `createRequestHandler(build)` (a
// `(request) => Promise<Response>` handler) is served by Pegasus, unchanged: a server-rendered
// page with a loader, a form POST to an action (status and a cookie), a data request, 404.
// The app has its own dependencies (React 19 would displace the React 18 that tap's reporter
// uses in the root project): `npm ci --prefix test/apps/react-router`, which CI runs. Without
// them this file says so and skips.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { httpRequest, startServer } from './helpers/server.js'

const app = join(fileURLToPath(import.meta.url), '..', 'apps', 'react-router')
const modules = join(app, 'node_modules')
const installed = existsSync(join(modules, 'react-router', 'package.json')) && existsSync(join(modules, '@react-router', 'dev', 'bin.js'))

type Handler = (request: Request) => Promise<Response>

t.test(
  "a React Router app, built, served by createRequestHandler on Pegasus's fetch interface",
  { skip: installed ? false : "the React Router app's dependencies are not installed (npm ci --prefix test/apps/react-router)" },
  async (t) => {
    // Built where it is (its build/ is ignored by git), with its own packages.
    const build = spawnSync(process.execPath, [join(modules, '@react-router', 'dev', 'bin.js'), 'build'], {
      cwd: app,
      encoding: 'utf8',
      timeout: 100_000,
    })
    if (build.status !== 0) t.fail(`react-router build failed:\n${build.stdout}\n${build.stderr}`)
    t.equal(build.status, 0, 'react-router build')

    const { handler } = (await import(pathToFileURL(join(app, 'handler.mjs')).href)) as { handler: Handler }
    const server = await startServer(t, ((request: Request) => handler(request)) as never, { interface: 'auto' })
    t.equal(server.server.app.interface, 'fetch', 'a one-parameter handler')

    const page = await httpRequest(`${server.origin}/?name=Tester`, { headers: { 'user-agent': 'pegasus-test' } })
    t.equal(page.status, 200)
    t.match(page.headers['content-type'], /^text\/html/)
    const html = page.body.toString().replace(/<!-- -->/g, '')
    t.match(html, /Hello Tester from React Router \(pegasus-test\)/, "server-rendered, its loader saw the request's query and headers")

    const post = await httpRequest(`${server.origin}/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'item=wings',
    })
    t.equal(post.status, 201, "the action's status")
    t.match(post.body.toString().replace(/<!-- -->/g, ''), /added wings/, 'the form reached the action')
    t.same(post.headers['set-cookie'], ['added=1; Path=/'])

    const data = await httpRequest(`${server.origin}/items.data`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'item=hooves',
    })
    t.equal(data.status, 201, 'a data request (what the client router sends)')
    t.match(data.body.toString(), /hooves/)

    t.equal((await httpRequest(`${server.origin}/no/such/route`)).status, 404)
    t.notMatch(server.errText(), /ERROR/, 'nothing logged as an error')
  },
)
