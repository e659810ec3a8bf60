// The `auto` rules (lib/interfaces/auto.ts): which interface an app speaks, judged on real apps
// of the frameworks docs/apps.md names, and what is refused with which reason.
import t from 'tap'
import express from 'express'
import connect from 'connect'
import Koa from 'koa'
import fastify from 'fastify'
import { Hono } from 'hono'
import { INTERFACE_MARK, InterfaceError, native, resolveApp } from '../lib/interfaces/auto.js'
import { LOCAL, run, start } from './helpers/cli.js'

t.test('auto recognises Express, Connect, Koa, Fastify, node:http handlers and native apps', async (t) => {
  const fast = fastify()
  t.teardown(() => fast.close())
  const cases: [string, unknown, string, string][] = [
    ['Express', express(), 'node', 'Express app'],
    ['Connect', connect(), 'node', 'Connect app'],
    ['Koa', new Koa(), 'node', 'Koa app'],
    ['Fastify', fast, 'node', 'Fastify app'],
    ['a plain (req, res) function', (_req: unknown, _res: unknown) => {}, 'node', 'node:http handler'],
    ['a function of no declared parameters', (...args: unknown[]) => args, 'node', 'node:http handler'],
    ['a native() app', native((_req: unknown, _res: unknown) => {}), 'native', 'native app'],
    ['an object with fetch()', { fetch: () => new Response('hi') }, 'fetch', 'an object with fetch()'],
    ['a Hono app', new Hono(), 'fetch', 'Hono app'],
    ['a one-parameter function', (_request: unknown) => {}, 'fetch', 'fetch handler: one parameter'],
    // A Proxy-based router (itty-router) answers every name, callback and handle included.
    ['a router that answers every name', new Proxy({}, { get: () => () => undefined }), 'fetch', 'an object with fetch()'],
  ]
  for (const [name, app, iface, label] of cases) {
    const resolved = resolveApp(app)
    t.same([resolved.interface, resolved.label], [iface, label], name)
  }
  const fastifyApp = resolveApp(fast)
  t.ok(fastifyApp.ready instanceof Promise, "Fastify's ready() is awaited before listening")
  await fastifyApp.ready
  t.equal(resolveApp(express()).ready, null)
})

t.test('the marker is a documented symbol: no import needed', async (t) => {
  const app = (_req: unknown, _res: unknown) => {}
  ;(app as unknown as Record<symbol, string>)[Symbol.for('pegasus.interface')] = 'native'
  t.equal(INTERFACE_MARK, Symbol.for('pegasus.interface'))
  t.equal(resolveApp(app).interface, 'native')
  t.equal(resolveApp(app, 'node').interface, 'node', '--interface node wins over the marker')
})

t.test('an interface named explicitly is used as asked', async (t) => {
  const plain = (_req: unknown, _res: unknown) => {}
  t.same([resolveApp(plain, 'native').interface, resolveApp(plain, 'native').label], ['native', 'as asked'])
  t.same([resolveApp(plain, 'node').interface, resolveApp(plain, 'node').label], ['node', 'as asked'])
  t.equal(resolveApp(express(), 'node').label, 'Express app')
  t.equal(resolveApp(native(plain), 'native').label, 'native app', 'a marked app, named native too')
  t.equal(resolveApp((_request: unknown) => {}, 'node').interface, 'node', 'one parameter, but node was asked for')
  const twoParameters = resolveApp((_request: unknown, _info: unknown) => {}, 'fetch')
  t.same([twoParameters.interface, twoParameters.label], ['fetch', 'as asked'], 'a handler taking (request, info)')
  const object = resolveApp({ fetch: () => new Response('hi') }, 'fetch')
  t.same([object.interface, object.label], ['fetch', 'an object with fetch()'])
})

t.test("an object's fetch() is called as a method (this is the app)", async (t) => {
  const app = {
    greeting: 'hi',
    fetch(this: { greeting: string }, _request: unknown) {
      return this.greeting
    },
  }
  const resolved = resolveApp(app)
  t.equal((resolved.handler as unknown as (request: unknown) => unknown)({}), 'hi')
})

t.test('what auto refuses, and why', async (t) => {
  const refusals: [string, () => unknown, RegExp][] = [
    ['--interface fetch for an object without fetch()', () => resolveApp(new Koa(), 'fetch'), /^--interface fetch: the app must be a function \(request\) => Response or an object with fetch\(\)$/],
    ['a number', () => resolveApp(42), /must be a function or an app object, not number/],
    ['null', () => resolveApp(null), /not null/],
    ['an object of no known kind', () => resolveApp({ port: 8080 }), /neither callback\(\) \(Koa\)/],
    ['an object with --interface native', () => resolveApp(new Koa(), 'native'), /--interface native: the app must be a function/],
    ['a callback() that returns no function', () => resolveApp({ callback: () => 42 }), /callback\(\) did not return a function/],
  ]
  for (const [name, resolve, message] of refusals) {
    t.throws(resolve, { name: 'InterfaceError', message }, name)
  }
  t.ok(new InterfaceError('x') instanceof TypeError)
})

t.test('the CLI prints its choice, and refuses a bad --interface', async (t) => {
  const { cli, base } = await start(t, [...LOCAL, '--interface', 'native', 'test/apps/esm.mjs:app'])
  t.ok(await cli.waitFor(/^INFO: Interface: native \(as asked\)$/m), "the choice is printed")
  t.equal(await (await fetch(base)).text(), 'esm app\n')
  t.same(await run([...LOCAL, '--interface', 'nope']), {
    status: 2,
    stdout: '',
    stderr: "pegasus: error: argument --interface: invalid choice: 'nope' (choose from 'auto', 'native', 'node', 'fetch')\n",
  })
  const fetchRun = await run([...LOCAL, '--interface', 'fetch', 'test/apps/esm.mjs:config'])
  t.equal(fetchRun.status, 1)
  t.match(fetchRun.stderr, /^ERROR: --interface fetch: the app must be a function \(request\) => Response or an object with fetch\(\)/)
  const byDefault = await start(t, [...LOCAL, 'test/apps/fetch.mjs'])
  t.ok(await byDefault.cli.waitFor(/^INFO: Interface: fetch \(an object with fetch\(\)\)$/m), '`export default { fetch }`')
  t.equal(await (await fetch(`${byDefault.base}/there`)).text(), 'default fetch /there\n')
  const named = await start(t, [...LOCAL, 'test/apps/fetch.mjs:handler'])
  t.ok(await named.cli.waitFor(/^INFO: Interface: fetch \(fetch handler: one parameter\)$/m), 'a one-parameter function')
  t.same(await (await fetch(`${named.base}/x?y=1`, { method: 'DELETE' })).json(), { method: 'DELETE', url: `${named.base}/x?y=1` })
  const plain = await start(t, [...LOCAL, 'test/apps/esm.mjs:app'])
  t.ok(await plain.cli.waitFor(/^INFO: Interface: node \(node:http handler\)$/m), "the choice is printed")
  t.equal(await (await fetch(plain.base)).text(), 'esm app\n', 'a plain handler through the node interface')
})
