// Reads gunicorn's request corpus (its tests/requests/{valid,invalid}/*.http and *.py pairs) into
// cases a black-box test can replay. The `.http` file is the request, written as gunicorn's
// tests/treq.py reads it: line breaks in the file are not part of it, and `\r`, `\n`, `\t`,
// `\0` and `\xHH` stand for those bytes. The `.py` file says what the request parses to (a dict,
// or a list of them for pipelined requests) or which gunicorn error it raises; it may also set
// gunicorn config (`cfg.set(name, value)`). It is read by test/helpers/python-literal.ts.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { PyObject, runPython, type PyDict, type PyValue } from './python-literal.js'

/** What gunicorn's `uri()` helper makes of a target (the fields the replay checks). */
export interface Uri {
  raw: string
  path: string
  query: string
  fragment: string
}

/** One request as gunicorn must parse it. */
export interface Expected {
  method: string
  uri: Uri
  /** `1.1`, `1.0`. */
  version: string
  /** `[NAME, value]` as gunicorn gives them: names upper-cased, values as sent, in order. */
  headers: [string, string][]
  /** latin1. */
  body: string
  trailers: [string, string][]
}

export interface GunicornCase {
  /** `valid/001`, `invalid/chunked_04`. */
  id: string
  kind: 'valid' | 'invalid'
  input: Buffer
  /** valid: the requests it parses to. */
  requests: Expected[]
  /** invalid: the gunicorn error class raised (`InvalidHeader`, `LimitRequestLine`...). */
  error: string | null
  /** `cfg.set` calls: name and value, in order (empty for the default config). */
  config: [string, PyValue][]
}

/** The corpus's `.http` escapes, after its line breaks are dropped. */
export function decodeHttp(file: Buffer): Buffer {
  const text = file.toString('latin1').replace(/\n/g, '')
  const out: number[] = []
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    const e = text[i + 1]
    if (c !== 92) out.push(c)
    else if (e === 'x') {
      out.push(parseInt(text.slice(i + 2, i + 4), 16))
      i += 3
    } else {
      const byte = { r: 13, n: 10, t: 9, '0': 0 }[e as 'r']
      if (byte === undefined) throw new Error(`unknown escape \\${e}`)
      out.push(byte)
      i++
    }
  }
  return Buffer.from(out)
}

/** gunicorn's tests/treq.py `uri()`: urllib's urlparse of the target. */
export function uriOf(raw: string): Uri {
  let rest = raw
  let fragment = ''
  const hash = rest.indexOf('#')
  if (hash !== -1) {
    fragment = rest.slice(hash + 1)
    rest = rest.slice(0, hash)
  }
  let query = ''
  const q = rest.indexOf('?')
  if (q !== -1) {
    query = rest.slice(q + 1)
    rest = rest.slice(0, q)
  }
  // scheme://netloc/path: the path starts at the first `/` after the authority.
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(rest)
  if (scheme !== null) {
    const slash = rest.indexOf('/', scheme[0].length)
    rest = slash === -1 ? '' : rest.slice(slash)
  }
  return { raw, path: rest, query, fragment }
}

function expectedOf(value: PyValue, where: string): Expected {
  const d = value as PyDict
  const pairs = (v: PyValue | undefined): [string, string][] => ((v ?? []) as PyValue[]).map((p) => [String((p as PyValue[])[0]), String((p as PyValue[])[1])])
  const version = d.version as number[]
  if (typeof d.method !== 'string' || d.uri === undefined || !Array.isArray(version)) throw new Error(`${where}: not a request dict`)
  return {
    method: d.method,
    uri: d.uri as unknown as Uri,
    version: `${version[0]}.${version[1]}`,
    headers: pairs(d.headers),
    body: String(d.body),
    trailers: pairs(d.trailers),
  }
}

/** Every case of `dir`/valid and `dir`/invalid, in name order. */
export function loadGunicorn(dir: string): GunicornCase[] {
  const cases: GunicornCase[] = []
  for (const kind of ['valid', 'invalid'] as const) {
    const sub = path.join(dir, kind)
    for (const file of readdirSync(sub).filter((f) => f.endsWith('.http')).sort()) {
      const name = file.slice(0, -'.http'.length)
      const id = `${kind}/${name}`
      const config: [string, PyValue][] = []
      const cfg = new PyObject('cfg', {
        set: (key, value) => {
          config.push([String(key), value])
          return null
        },
      })
      const names = runPython(readFileSync(path.join(sub, `${name}.py`), 'utf8'), {
        uri: (raw) => uriOf(String(raw)) as unknown as PyValue,
        cfg,
        Config: () => cfg,
      })
      const request = names.request
      const input = decodeHttp(readFileSync(path.join(sub, file)))
      if (kind === 'invalid') {
        if (!(request instanceof PyObject)) throw new Error(`${id}: request is not an error class`)
        cases.push({ id, kind, input, requests: [], error: request.label.replace(/^.*\./, ''), config })
      } else {
        const list = Array.isArray(request) ? request : [request]
        cases.push({ id, kind, input, requests: list.map((r) => expectedOf(r, id)), error: null, config })
      }
    }
  }
  return cases
}

const HOST_FIELD = Buffer.from('Host: gunicorn.test\r\n', 'latin1')

/**
 * `input` with `Host: gunicorn.test` after the request line of each HTTP/1.1 request that has
 * no Host (RFC 9112 section 3.2 requires one; most of the corpus's requests lack it), and the
 * requests it parses to with that field first. A valid case's requests are found by walking
 * their framing (Content-Length or chunked); an invalid case gets it in its first request only.
 */
export function injectHost(c: GunicornCase): { input: Buffer; requests: Expected[] } {
  const input = c.input
  const pieces: Buffer[] = []
  const requests: Expected[] = []
  let from = 0
  let at = proxyHeaderLength(input)
  const heads = c.kind === 'valid' ? c.requests : [null]
  for (const expected of heads) {
    const lineEnd = input.indexOf('\r\n', at)
    const headEnd = input.indexOf('\r\n\r\n', at)
    if (lineEnd === -1) break
    const head = input.toString('latin1', at, headEnd === -1 ? input.length : headEnd)
    const lines = head.split('\r\n')
    const needs = / HTTP\/1\.1$/.test(lines[0]) && !lines.slice(1).some((line) => /^host\s*:/i.test(line))
    if (needs) {
      pieces.push(input.subarray(from, lineEnd + 2), HOST_FIELD)
      from = lineEnd + 2
    }
    if (expected === null) break
    requests.push(needs ? { ...expected, headers: [['HOST', 'gunicorn.test'], ...expected.headers] } : expected)
    at = bodyEnd(input, headEnd + 4, expected)
  }
  pieces.push(input.subarray(from))
  return { input: Buffer.concat(pieces), requests: c.kind === 'valid' ? requests : [] }
}

/** Where the body that starts at `at` ends, framed as `expected`'s fields say. */
function bodyEnd(input: Buffer, at: number, expected: Expected): number {
  const field = (name: string): string | undefined => expected.headers.filter(([n]) => n === name).pop()?.[1]
  if (/chunked\s*$/i.test(field('TRANSFER-ENCODING') ?? '')) {
    for (;;) {
      const lineEnd = input.indexOf('\r\n', at)
      const size = parseInt(input.toString('latin1', at, lineEnd), 16)
      at = lineEnd + 2
      if (size === 0) break
      at += size + 2
    }
    // Trailer fields, then the empty line.
    while (input.indexOf('\r\n', at) !== at) at = input.indexOf('\r\n', at) + 2
    return at + 2
  }
  return at + Number(field('CONTENT-LENGTH') ?? 0)
}

const PROXY_V2 = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1')

/** The length of the PROXY protocol header `input` starts with (v1 or v2), or 0. */
function proxyHeaderLength(input: Buffer): number {
  if (input.subarray(0, 12).equals(PROXY_V2)) return 16 + input.readUInt16BE(14)
  if (input.toString('latin1', 0, 6) === 'PROXY ') return input.indexOf('\r\n') + 2
  return 0
}
