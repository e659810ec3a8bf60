// A lighter global `Response` for fetch handlers. Most handlers answer `new Response(text,
// { status, headers })` and hand it straight back; undici's constructor then builds a web
// ReadableStream and a Headers list that nobody but the server reads: on Node.js 20 about 30 µs
// of CPU an exchange, twice what the rest of the fetch interface costs. While a server uses the
// fetch interface (and unless `lightResponse: false`), `globalThis.Response` is LightResponse:
//
// - It is a Response to everyone: `instanceof Response` holds (its prototype's prototype is
//   undici's), and so does `x instanceof Response` for undici's own Responses (fetch()'s,
//   Response.json()'s); Response.json, .error and .redirect are undici's own.
// - Made with a string body (or none) and plain `{ status, headers }` whose every field undici
//   would take as it is, it only records them (the fields copied, as undici copies them); the
//   server writes them as they are. Reading any member that needs more (headers, body, text(),
//   clone()...) makes the real undici Response from that record, once, and answers from it.
// - Anything else (a stream, bytes, a Headers, a field undici would trim or refuse, a status it
//   would refuse) makes the real one at once: its errors are undici's, thrown where they were.
//
// @hono/node-server replaces the global Response in the same spirit (its `overrideGlobalObjects`).
import { answerRecordSymbols, answerTheRest } from './stand-in.js'

/** undici's Response, whatever the global is now. */
export const RealResponse: typeof Response = globalThis.Response

const kBody = Symbol('pegasus.body')
const kStatus = Symbol('pegasus.status')
const kFields = Symbol('pegasus.fields')
const kReal = Symbol('pegasus.real')

/** A field name undici takes (a token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** A field value undici takes as it is: bytes, no CR, LF or NUL, nothing to trim at either end. */
const PLAIN_VALUE = /^(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?$/
/** Fields a record holds at most (more: the real Response). */
const MAX_FIELDS = 16

export class LightResponse {
  declare [kBody]: string | null
  declare [kStatus]: number
  /** Lower-case names and values, in turn; content-type added for a text body without one. */
  declare [kFields]: string[]
  declare [kReal]: Response | null

  constructor(body?: unknown, init?: unknown) {
    const fields = recordOf(body, init)
    if (fields === null) {
      this[kReal] = new RealResponse(body as ConstructorParameters<typeof Response>[0], init as ResponseInit)
      return
    }
    this[kBody] = body == null ? null : (body as string)
    this[kStatus] = init === undefined ? 200 : ((init as ResponseInit).status ?? 200)
    this[kFields] = fields
    this[kReal] = null
  }

  get status(): number {
    const real = this[kReal]
    return real === null ? this[kStatus] : real.status
  }

  get ok(): boolean {
    const status = this.status
    return status >= 200 && status <= 299
  }

  /** `x instanceof Response`: undici's Responses too; a subclass's own test as usual. */
  static [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this === LightResponse ? RealResponse : this, value)
  }
}

/**
 * The record of a Response made of `body` and `init` (its fields, in turn), or null when the
 * real Response is needed.
 */
function recordOf(body: unknown, init: unknown): string[] | null {
  if (body !== undefined && body !== null && typeof body !== 'string') return null
  const fields: string[] = []
  if (init !== undefined) {
    if (typeof init !== 'object' || init === null || Object.getPrototypeOf(init) !== Object.prototype) return null
    let headers: unknown
    for (const key in init) {
      const value = (init as Record<string, unknown>)[key]
      if (key === 'status') {
        if (value === undefined) continue
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 200 || value > 599) return null
        // 204, 205 and 304 may not have a body (undici throws).
        if (body != null && (value === 204 || value === 205 || value === 304)) return null
      } else if (key === 'headers') headers = value
      else if (value !== undefined) return null
    }
    if (headers !== undefined && !copyFields(headers, fields)) return null
  }
  if (typeof body === 'string' && !hasField(fields, 'content-type')) fields.push('content-type', 'text/plain;charset=UTF-8')
  return fields
}

/** Copies a plain object's fields into `fields`; false when undici would do more than copy. */
function copyFields(headers: unknown, fields: string[]): boolean {
  if (typeof headers !== 'object' || headers === null || Object.getPrototypeOf(headers) !== Object.prototype) return false
  for (const name in headers) {
    const value = (headers as Record<string, unknown>)[name]
    if (typeof value !== 'string' || !TOKEN.test(name) || !PLAIN_VALUE.test(value)) return false
    const lower = name.toLowerCase()
    // The same name twice in two cases: undici joins the values.
    if (fields.length === 2 * MAX_FIELDS || hasField(fields, lower)) return false
    fields.push(lower, value)
  }
  return true
}

function hasField(fields: string[], name: string): boolean {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return true
  return false
}

/** The real Response of `response`, made from its record the first time it is needed. */
export function realOf(response: LightResponse): Response {
  let real = response[kReal]
  if (real === null) {
    const fields = response[kFields]
    const pairs: [string, string][] = []
    for (let i = 0; i < fields.length; i += 2) pairs.push([fields[i], fields[i + 1]])
    real = response[kReal] = new RealResponse(response[kBody], { status: response[kStatus], headers: pairs })
  }
  return real
}

/**
 * The record of a LightResponse whose real Response was never made (so nothing could have
 * changed it): status, fields and body as the server writes them; else null.
 */
export function recordedOf(response: object): { status: number; fields: string[]; body: string | null } | null {
  if (Object.getPrototypeOf(response) !== LightResponse.prototype) return null
  const light = response as LightResponse
  if (light[kReal] !== null) return null
  return { status: light[kStatus], fields: light[kFields], body: light[kBody] }
}

// Every other member of undici's Response (headers, body, bodyUsed, statusText, type, url,
// redirected, text(), json(), clone()...) is answered by the real one.
answerTheRest(LightResponse, RealResponse, realOf)
// On Node.js 20 (undici 6) undici reads its own record of a Response through symbols: a
// LightResponse answers them with its real one. (From undici 7 the record is a private field.)
answerRecordSymbols(LightResponse, new RealResponse(''), realOf)
// Response.json(), .error() and .redirect(): undici's.
Object.setPrototypeOf(LightResponse, RealResponse)
Object.defineProperty(LightResponse, 'name', { value: 'Response' })

/** Makes LightResponse the global Response (once; not over a Response someone else installed). */
export function installLightResponse(): void {
  if (globalThis.Response === RealResponse) globalThis.Response = LightResponse as unknown as typeof Response
}
