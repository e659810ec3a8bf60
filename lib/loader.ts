// MODULE:APP -> the app (a function, or an app object such as Koa's or Fastify's) and the
// module's `upgrade` export, if any. MODULE is a file path (extension optional), ESM or
// CommonJS; APP names an export (the default export when left out). Which interface the app
// speaks is lib/interfaces/auto.ts's business.
import { stat } from 'node:fs/promises'
import type { Socket } from 'node:net'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

/** Why an app could not be loaded, in one line fit to show a user (no stack). */
export class LoadError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LoadError'
  }
}

// Tried in this order after the path as given, as node would for a bare script name.
const EXTENSIONS = ['.js', '.mjs', '.cjs']

export interface LoadedApp {
  app: unknown
  /** The module's export `upgrade`: `(req, socket, head)` for protocol upgrades (WebSocket). */
  upgrade: ((req: never, socket: Socket, head: Buffer) => void) | null
}

/** Imports MODULE (relative to `cwd`) and returns its export APP. */
export async function loadApp(spec: string, cwd: string): Promise<LoadedApp> {
  // The last colon: app names have none, paths may.
  const colon = spec.lastIndexOf(':')
  const modulePath = colon === -1 ? spec : spec.slice(0, colon)
  const name = colon === -1 || colon === spec.length - 1 ? 'default' : spec.slice(colon + 1)
  if (modulePath === '') throw new LoadError(`No module in '${spec}': expected MODULE:APP`)

  const file = await findModule(resolve(cwd, modulePath))
  let exports: Record<string, unknown>
  try {
    exports = await import(pathToFileURL(file).href)
  } catch (error) {
    throw new LoadError(`Cannot load module ${file}: ${firstLine(error)}`)
  }
  const app = exportOf(exports, name)
  if (app === undefined) {
    const names = functionExports(exports)
    const available = names.length === 0 ? 'it exports no functions' : `its function exports: ${names.join(', ')}`
    throw new LoadError(`Module ${file} has no export '${name}'; ${available}`)
  }
  if (typeof app !== 'function' && (!isObject(app) || Array.isArray(app))) {
    throw new LoadError(`Export '${name}' of ${file} is not a function or an app object but ${describe(app)}`)
  }
  const upgrade = name === 'upgrade' ? undefined : exportOf(exports, 'upgrade')
  return { app, upgrade: typeof upgrade === 'function' ? (upgrade as LoadedApp['upgrade']) : null }
}

async function findModule(path: string): Promise<string> {
  for (const candidate of [path, ...EXTENSIONS.map((extension) => path + extension)]) {
    if (await isFile(candidate)) return candidate
  }
  throw new LoadError(`Cannot find module ${path} (nor with ${EXTENSIONS.join(', ')})`)
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

/**
 * The export `name`. A CommonJS module's namespace holds only the names node's static analysis
 * found, so a miss falls back to the properties of `module.exports` (the default export).
 */
function exportOf(exports: Record<string, unknown>, name: string): unknown {
  const value = exports[name]
  if (typeof value === 'function') return value
  const moduleExports = exports.default
  if (isObject(moduleExports) && Object.hasOwn(moduleExports, name)) return moduleExports[name]
  return value
}

function functionExports(exports: Record<string, unknown>): string[] {
  const names = new Set<string>()
  for (const [name, value] of Object.entries(exports)) if (typeof value === 'function') names.add(name)
  const moduleExports = exports.default
  if (isObject(moduleExports)) {
    for (const [name, value] of Object.entries(moduleExports)) if (typeof value === 'function') names.add(name)
  }
  return [...names].sort()
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

/** What a non-function export is, in a few words: `a number (8080)`, `an object`, `null`. */
function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  // (Objects other than arrays are app objects: they do not come here.)
  if (typeof value === 'string') return `a string (${JSON.stringify(value)})`
  return `a ${typeof value} (${String(value)})`
}

/** The first line of a thrown thing's message, so a load error stays one line. */
function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.split('\n', 1)[0]
}
