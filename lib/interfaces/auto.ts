// Which interface an app speaks, by the documented `auto` rules, and the handler the server
// calls for it. Nothing here imports node:http: the rules only look at the app's shape.

/** The interfaces: `auto` picks one of the others by the app's shape. */
export type InterfaceName = 'auto' | 'native' | 'node' | 'fetch'

export const INTERFACES: readonly InterfaceName[] = ['auto', 'native', 'node', 'fetch']

/**
 * The marker of an app written for Pegasus's own (native) request and response: a function
 * carrying `[Symbol.for('pegasus.interface')]: 'native'`, as `native(app)` makes it.
 */
export const INTERFACE_MARK = Symbol.for('pegasus.interface')

/** Marks `app` as a native app, so that `auto` serves it with Pegasus's own objects. */
export function native<T extends (...args: never[]) => unknown>(app: T): T {
  Object.defineProperty(app, INTERFACE_MARK, { value: 'native', configurable: true })
  return app
}

/** An app with its interface chosen: what the server calls, and why that interface. */
export interface ResolvedApp {
  interface: 'native' | 'node' | 'fetch'
  /**
   * native: `(req, res)` with Pegasus's objects; node: node:http's `(req, res)`; fetch:
   * `(request, info) => Response`.
   */
  handler: (...args: never[]) => unknown
  /** How `auto` recognised it, for the startup line (`Express app`). */
  label: string
  /** Resolves once the app is ready to serve (a Fastify instance's ready()); null: at once. */
  ready: Promise<unknown> | null
}

/** Why an app cannot be served with the interface asked for: one line for the user. */
export class InterfaceError extends TypeError {
  constructor(message: string) {
    super(message)
    this.name = 'InterfaceError'
  }
}

type Shape = Record<string | symbol, unknown>

function isFunction(value: unknown): value is (...args: never[]) => unknown {
  return typeof value === 'function'
}

function has(app: unknown, ...names: string[]): boolean {
  return names.every((name) => isFunction((app as Shape)[name]))
}

/** Chooses the interface of `app` (by `auto`'s rules unless one is named) and its handler. */
export function resolveApp(app: unknown, name: InterfaceName = 'auto'): ResolvedApp {
  if ((typeof app !== 'object' || app === null) && !isFunction(app)) {
    throw new InterfaceError(`The app must be a function or an app object, not ${app === null ? 'null' : typeof app}`)
  }
  const marked = (app as Shape)[INTERFACE_MARK]
  if (name === 'native') {
    if (!isFunction(app)) throw new InterfaceError('--interface native: the app must be a function (req, res)')
    return { interface: 'native', handler: app, label: marked === 'native' ? 'native app' : 'as asked', ready: null }
  }
  if (name === 'auto' && isFunction(app) && marked === 'native') {
    return { interface: 'native', handler: app, label: 'native app', ready: null }
  }
  // An object with fetch() is a fetch app whatever else it seems to have (Proxy routers answer
  // every name).
  if ((name === 'auto' || name === 'fetch') && has(app, 'fetch')) {
    const fetchApp = app as { fetch(request: unknown, info: unknown): unknown }
    // (Named by its class: Proxy routers answer every name, route and basePath included.)
    const label = (app as { constructor?: { name?: unknown } }).constructor?.name === 'Hono' ? 'Hono app' : 'an object with fetch()'
    return { interface: 'fetch', handler: (request: unknown, info: unknown) => fetchApp.fetch(request, info), label, ready: null }
  }
  if (name === 'fetch') {
    if (!isFunction(app)) throw new InterfaceError('--interface fetch: the app must be a function (request) => Response or an object with fetch()')
    return { interface: 'fetch', handler: app, label: 'as asked', ready: null }
  }
  return resolveNode(app, name)
}

function resolveNode(app: unknown, name: InterfaceName): ResolvedApp {
  // Fastify: its router is ready once ready() has resolved.
  if (has(app, 'ready', 'routing', 'register')) {
    const fastify = app as { ready(): Promise<unknown>; routing: (...args: never[]) => unknown }
    const ready = fastify.ready()
    return { interface: 'node', handler: (...args: never[]) => fastify.routing(...args), label: 'Fastify app', ready }
  }
  // Koa (and what is built like it): callback() makes the node:http handler.
  if (!isFunction(app) && has(app, 'callback')) {
    const handler = (app as { callback(): unknown }).callback()
    if (!isFunction(handler)) throw new InterfaceError('The app\'s callback() did not return a function (req, res)')
    return { interface: 'node', handler, label: 'Koa app', ready: null }
  }
  if (!isFunction(app)) {
    throw new InterfaceError('The app is an object with neither callback() (Koa), ready() and routing (Fastify), nor fetch()')
  }
  if (has(app, 'handle', 'use', 'set')) return { interface: 'node', handler: app, label: 'Express app', ready: null }
  if (has(app, 'handle', 'use')) return { interface: 'node', handler: app, label: 'Connect app', ready: null }
  if (name === 'auto' && app.length === 1) return { interface: 'fetch', handler: app, label: 'fetch handler: one parameter', ready: null }
  return { interface: 'node', handler: app, label: name === 'node' ? 'as asked' : 'node:http handler', ready: null }
}
