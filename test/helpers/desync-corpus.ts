// Reads AWS's http-desync-guardian test cases (its tests/*.yaml, Apache-2.0) into requests a
// black-box test can send. A case names a method, a target, a version and header fields, and the
// tier the guardian puts the request in (Compliant, Acceptable, Ambiguous, Severe). The guardian
// judges parsed requests, so the bytes are ours to build: `METHOD SP target [SP version] CRLF`,
// one `name: value CRLF` line a field, CRLF. A string whose characters all fit a byte (YAML's
// `\x01`, `\xa0`) is sent as those bytes; one with wider characters as UTF-8.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'

export type Tier = 'Compliant' | 'Acceptable' | 'Ambiguous' | 'Severe'

export interface DesyncCase {
  /** `file > name` (a repeated name gets ` (2)`, ...). */
  id: string
  file: string
  name: string
  tier: Tier
  /** The guardian's reason (`MultipleContentLength`, `BadUri`...). */
  reason: string
  method: string
  uri: string
  version: string
  headers: [string, string][]
}

interface RawCase {
  name: string
  method: string
  uri: string
  version: string
  headers?: { name: string; value: string }[] | string
  expected: { tier: string; reason: string }
}

/** Every case of every `*.yaml` file in `dir`, files in name order. */
export function loadDesyncCases(dir: string): DesyncCase[] {
  const cases: DesyncCase[] = []
  const ids = new Set<string>()
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    // The failsafe schema keeps every scalar a string: `1000` and `0x10` stay as written.
    const list = (parse(readFileSync(path.join(dir, file), 'utf8'), { schema: 'failsafe' }) ?? []) as RawCase[]
    for (const raw of list) {
      let id = `${file} > ${raw.name}`
      for (let n = 2; ids.has(id); n++) id = `${file} > ${raw.name} (${n})`
      ids.add(id)
      const headers = Array.isArray(raw.headers) ? raw.headers : []
      cases.push({
        id,
        file,
        name: raw.name,
        tier: raw.expected.tier as Tier,
        reason: raw.expected.reason,
        method: raw.method ?? '',
        uri: raw.uri ?? '',
        version: raw.version ?? '',
        headers: headers.map((h) => [h.name ?? '', h.value ?? '']),
      })
    }
  }
  return cases
}

/** latin1 when every character fits a byte, else UTF-8. */
function bytesOf(text: string): Buffer {
  return Buffer.from(text, /^[\x00-\xff]*$/.test(text) ? 'latin1' : 'utf8')
}

export const HOST = 'desync.test'
/** Larger declared bodies are not sent (the cases that declare them are about the number). */
const MAX_BODY = 8 * 1024 * 1024

/**
 * The request's bytes, with `Host: desync.test` first when the case has no Host field, and a
 * body where its framing is plain: the bytes a single all-digit Content-Length asks for, or an
 * empty chunked body after a Transfer-Encoding that ends in `chunked` (so that a server that
 * takes the request has all of it), up to 8 MiB.
 */
export function requestOf(c: DesyncCase): Buffer {
  const headers = c.headers.some(([name]) => name.toLowerCase() === 'host') ? c.headers : [['Host', HOST] as [string, string], ...c.headers]
  const parts = [bytesOf(`${c.method} ${c.uri}${c.version === '' ? '' : ` ${c.version}`}\r\n`)]
  for (const [name, value] of headers) parts.push(bytesOf(`${name}: ${value}\r\n`))
  parts.push(Buffer.from('\r\n'))
  const lengths = c.headers.filter(([name]) => name.toLowerCase() === 'content-length')
  const codings = c.headers.filter(([name]) => name.toLowerCase() === 'transfer-encoding')
  if (codings.length > 0 && /chunked\s*$/i.test(codings[codings.length - 1][1])) parts.push(Buffer.from('0\r\n\r\n'))
  else if (lengths.length === 1 && /^\s*\d+\s*$/.test(lengths[0][1]) && Number(lengths[0][1]) <= MAX_BODY) {
    parts.push(Buffer.alloc(Number(lengths[0][1]), 'x'))
  }
  return Buffer.concat(parts)
}
