// Behind proxies: which peers are trusted (forwardedAllowIps), and what a trusted proxy's
// X-Forwarded-For / -Proto / -Host and RFC 7239 Forwarded fields say about the client.
import net from 'node:net'
import type { RequestHead } from './http/head.js'

/** The library's default, as gunicorn's: only a proxy on the same host is trusted. */
export const DEFAULT_FORWARDED_ALLOW_IPS: readonly string[] = ['127.0.0.1', '::1']

/** What a trusted proxy said about the client; a member it did not say (or said badly) is undefined. */
export interface Forwarded {
  /** The client's address (an IP address: `unknown` and obfuscated identifiers are left out). */
  readonly address: string | undefined
  /** The client's port, when the proxy gave one (Forwarded `for="[::1]:4711"`, `1.2.3.4:5678`). */
  readonly port: number | undefined
  /** `http` or `https`: the scheme the client used. */
  readonly proto: string | undefined
  /** The Host the client asked for. */
  readonly host: string | undefined
}

/**
 * A compiled forwardedAllowIps: exact addresses in a Set (the common case, one lookup), else the
 * address is parsed (IPv4 to a number, IPv6 to its eight groups) and matched against each rule,
 * IPv4-mapped IPv6 addresses as the IPv4 address they carry. (net.BlockList does the same at
 * about a microsecond a call; this is called for every address of a forwarded chain.)
 */
export class AllowList {
  /** `*`: every peer. */
  readonly all: boolean
  /** Nothing is trusted: no per-request work at all. */
  readonly none: boolean
  private readonly exact: Set<string>
  /** IPv4 rules: [base, mask] pairs, flattened. */
  private readonly v4: number[]
  /** IPv6 rules: eight groups and a prefix length each. */
  private readonly v6: { groups: number[]; prefix: number }[]

  constructor(entries: string | readonly string[] = DEFAULT_FORWARDED_ALLOW_IPS) {
    const list = typeof entries === 'string' ? entries.split(',') : entries
    this.exact = new Set()
    this.v4 = []
    this.v6 = []
    let all = false
    let count = 0
    for (const raw of list) {
      if (typeof raw !== 'string') throw new TypeError(`forwardedAllowIps: not an address: ${String(raw)}`)
      const entry = raw.trim()
      if (entry === '') continue
      count++
      if (entry === '*') {
        all = true
        continue
      }
      const slash = entry.indexOf('/')
      const address = slash === -1 ? entry : entry.slice(0, slash)
      const family = net.isIP(address)
      if (family === 0) throw new TypeError(`forwardedAllowIps: not an address or CIDR: '${entry}'`)
      let prefix = family === 4 ? 32 : 128
      if (slash !== -1) {
        const bits = entry.slice(slash + 1)
        if (!/^\d{1,3}$/.test(bits) || Number(bits) > prefix) throw new TypeError(`forwardedAllowIps: bad CIDR prefix: '${entry}'`)
        prefix = Number(bits)
      } else {
        this.exact.add(address)
        // What a dual-stack socket reports for an IPv4 client.
        if (family === 4) this.exact.add(`::ffff:${address}`)
      }
      if (family === 4) this.addV4(parseV4(address), prefix)
      else {
        const groups = parseV6(address) as number[]
        if (isMapped(groups) && prefix >= 96) this.addV4(mappedV4(groups), prefix - 96)
        else this.v6.push({ groups, prefix })
      }
    }
    this.all = all
    this.none = count === 0
  }

  private addV4(base: number, prefix: number): void {
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0
    this.v4.push((base & mask) >>> 0, mask)
  }

  /** True when `address` (an IP address as a socket or a proxy gives it) is trusted. */
  trusts(address: string | undefined): boolean {
    if (this.all) return true
    if (address === undefined || this.none) return false
    if (this.exact.has(address)) return true
    if (address.includes(':')) {
      const groups = parseV6(address)
      if (groups === null) return false
      return isMapped(groups) ? this.trustsV4(mappedV4(groups)) : this.trustsV6(groups)
    }
    const v4 = parseV4(address)
    return v4 !== -1 && this.trustsV4(v4)
  }

  private trustsV4(address: number): boolean {
    const rules = this.v4
    for (let i = 0; i < rules.length; i += 2) if (((address & rules[i + 1]) >>> 0) === rules[i]) return true
    return false
  }

  private trustsV6(groups: number[]): boolean {
    outer: for (const rule of this.v6) {
      let bits = rule.prefix
      for (let i = 0; bits > 0; i++, bits -= 16) {
        const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff
        if ((groups[i] & mask) !== (rule.groups[i] & mask)) continue outer
      }
      return true
    }
    return false
  }
}

const V4_PART_RE = /^(?:0|[1-9]\d{0,2})$/

/** `a.b.c.d` as an unsigned 32-bit number, or -1 when it is not one. */
function parseV4(text: string): number {
  const parts = text.split('.')
  if (parts.length !== 4) return -1
  let value = 0
  for (let i = 0; i < 4; i++) {
    const part = parts[i]
    if (!V4_PART_RE.test(part)) return -1
    const n = Number(part)
    if (n > 255) return -1
    value = value * 256 + n
  }
  return value
}

const V6_GROUP_RE = /^[0-9A-Fa-f]{1,4}$/

/** An IPv6 address as its eight 16-bit groups (a zone `%eth0` is left out), or null. */
function parseV6(text: string): number[] | null {
  const zone = text.indexOf('%')
  if (zone !== -1) text = text.slice(0, zone)
  const gap = text.indexOf('::')
  if (gap !== -1 && text.indexOf('::', gap + 1) !== -1) return null
  const head = gap === -1 ? text : text.slice(0, gap)
  const tail = gap === -1 ? '' : text.slice(gap + 2)
  const left = head === '' ? [] : head.split(':')
  const right = tail === '' ? [] : tail.split(':')
  const last = gap === -1 ? left : right
  const groups: number[] = []
  // An IPv4 tail (`::ffff:1.2.3.4`) stands for two groups.
  let v4 = -1
  if (last.length > 0 && last[last.length - 1].includes('.')) {
    v4 = parseV4(last.pop() as string)
    if (v4 === -1) return null
  }
  const given = left.length + right.length + (v4 === -1 ? 0 : 2)
  if (gap === -1 ? given !== 8 : given > 7) return null
  for (const group of left) {
    if (!V6_GROUP_RE.test(group)) return null
    groups.push(parseInt(group, 16))
  }
  for (let i = given; i < 8; i++) groups.push(0)
  for (const group of right) {
    if (!V6_GROUP_RE.test(group)) return null
    groups.push(parseInt(group, 16))
  }
  if (v4 !== -1) groups.push(Math.floor(v4 / 65536), v4 & 0xffff)
  return groups
}

function isMapped(groups: number[]): boolean {
  return groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff
}

function mappedV4(groups: number[]): number {
  return groups[6] * 65536 + groups[7]
}

// The fields looked for, as lower-case names.
const XFF = 'x-forwarded-for'
const XFP = 'x-forwarded-proto'
const XFH = 'x-forwarded-host'
const FORWARDED = 'forwarded'

/**
 * What the forwarding fields of a request from a trusted peer say, or null when they say
 * nothing usable. X-Forwarded-* win over Forwarded field by field (what nginx, HAProxy, AWS and
 * Traefik set; a client's own Forwarded passes through them untouched). In a chain the client
 * is the first address, from the right, that `list` does not trust (the leftmost when all are).
 */
export function readForwarded(head: RequestHead, list: AllowList): Forwarded | null {
  if (!mayForward(head)) return null
  const xff = joined(head, XFF)
  const xfp = joined(head, XFP)
  const xfh = joined(head, XFH)
  const fwd = joined(head, FORWARDED)
  if (xff === undefined && xfp === undefined && xfh === undefined && fwd === undefined) return null
  let address: string | undefined
  let port: number | undefined
  let proto: string | undefined
  let host: string | undefined
  // How many trusted hops the walk went past: X-Forwarded-Proto/-Host lists are read at the same hop.
  let hops = 0
  if (xff !== undefined) {
    const entries = xff.split(',')
    let i = entries.length - 1
    let node: Node | null = null
    for (; i >= 0; i--) {
      node = nodeOf(entries[i].trim())
      if (node === null || node.address === undefined || !list.trusts(node.address) || i === 0) break
    }
    hops = entries.length - 1 - i
    if (node !== null) {
      address = node.address
      if (address !== undefined) port = node.port
    }
  }
  if (xfp !== undefined) proto = protoOf(atHop(xfp, hops))
  if (xfh !== undefined) host = hostOf(atHop(xfh, hops))
  if (fwd !== undefined && (xff === undefined || xfp === undefined || xfh === undefined)) {
    const elements = parseForwarded(fwd)
    if (elements !== null) {
      const chosen = walk(elements, list)
      if (xff === undefined && chosen.address !== undefined) {
        address = chosen.address
        port = chosen.port
      }
      if (xfp === undefined) proto = chosen.proto
      if (xfh === undefined) host = chosen.host
    }
  }
  if (address === undefined && proto === undefined && host === undefined) return null
  return { address, port, proto, host }
}

/**
 * One pass over the field names' lengths and first letters: most requests, even through a
 * proxy, are told apart from those with forwarding fields without comparing a name.
 */
function mayForward(head: RequestHead): boolean {
  const f = head.fields
  const data = head.data
  for (let i = 0; i < f.length; i += 4) {
    const length = f[i + 1] - f[i]
    // `forwarded` (9), `x-forwarded-for` (15), `-host` (16), `-proto` (17).
    if (length !== 9 && (length < 15 || length > 17)) continue
    const c = data[f[i]] | 0x20
    if (c === 0x66 /* f */ || c === 0x78 /* x */) return true
  }
  return false
}

/** All lines of a field joined into one list, or undefined when there is none. */
function joined(head: RequestHead, name: string): string | undefined {
  let i = head.find(name)
  if (i === -1) return undefined
  let value = head.value(i)
  while ((i = head.find(name, i + 1)) !== -1) value += `,${head.value(i)}`
  return value
}

/** The entry of a list at `hops` from the right, or its leftmost when it is shorter. */
function atHop(list: string, hops: number): string {
  const entries = list.split(',')
  return entries[Math.max(entries.length - 1 - hops, 0)].trim()
}

function protoOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const lower = value.toLowerCase()
  return lower === 'http' || lower === 'https' ? lower : undefined
}

// A host as the Host field carries it: reg-name or IPv4, or an IPv6 literal, then a port.
const HOST_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+;=%-]+)(?::\d{1,5})?$/

function hostOf(value: string | undefined): string | undefined {
  return value !== undefined && value.length <= 255 && HOST_RE.test(value) ? value : undefined
}

/** A node (RFC 7239's name for a `for=` value, and an X-Forwarded-For entry). */
interface Node {
  /** undefined: `unknown` or an obfuscated identifier (`_hidden`). */
  readonly address: string | undefined
  readonly port: number | undefined
}

const UNKNOWN: Node = { address: undefined, port: undefined }
const OBFUSCATED_RE = /^_[A-Za-z0-9._-]+$/

/**
 * `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`, `unknown`,
 * `_hidden`, `_hidden:_port`; null when it is none of these.
 */
export function nodeOf(text: string): Node | null {
  if (text === '') return null
  // `unknown` and obfuscated names, with or without a (real or obfuscated) port.
  const first = text.charCodeAt(0)
  if (first === 95 /* _ */ || first === 117 /* u */ || first === 85 /* U */) {
    const colon = text.indexOf(':')
    const name = colon === -1 ? text : text.slice(0, colon)
    if (name.toLowerCase() === 'unknown' || OBFUSCATED_RE.test(name)) return UNKNOWN
  }
  let address = text
  let port: string | undefined
  if (text.charCodeAt(0) === 91 /* [ */) {
    const close = text.indexOf(']')
    if (close === -1) return null
    address = text.slice(1, close)
    if (net.isIP(address) !== 6) return null
    const rest = text.slice(close + 1)
    if (rest !== '') {
      if (rest.charCodeAt(0) !== 58 /* : */) return null
      port = rest.slice(1)
    }
  } else if (net.isIP(text) === 0) {
    // IPv4 with a port (a bare IPv6 literal was recognised above).
    const colon = text.lastIndexOf(':')
    if (colon === -1) return null
    address = text.slice(0, colon)
    if (net.isIP(address) !== 4) return null
    port = text.slice(colon + 1)
  }
  if (port === undefined) return { address, port: undefined }
  if (OBFUSCATED_RE.test(port)) return { address, port: undefined }
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return null
  return { address, port: Number(port) }
}

interface Element {
  for: string | undefined
  proto: string | undefined
  host: string | undefined
}

/**
 * Walks Forwarded's elements from the right past trusted proxies: the client is the first
 * `for=` not trusted; `unknown`, obfuscated or missing stops the walk without an address.
 * proto and host come from the last element visited that has them.
 */
function walk(elements: Element[], list: AllowList): Forwarded {
  let node: Node | null = null
  let proto: string | undefined
  let host: string | undefined
  for (let i = elements.length - 1; i >= 0; i--) {
    const element = elements[i]
    const p = protoOf(element.proto)
    if (p !== undefined) proto = p
    const h = hostOf(element.host)
    if (h !== undefined) host = h
    node = element.for === undefined ? null : nodeOf(element.for)
    if (node === null || node.address === undefined || !list.trusts(node.address)) break
  }
  return {
    address: node === null ? undefined : node.address,
    port: node === null ? undefined : node.port,
    proto,
    host,
  }
}

// RFC 9110's tchar, as a lookup table.
const TCHAR = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1
for (let c = 48; c <= 57; c++) TCHAR[c] = 1
for (let c = 65; c <= 90; c++) TCHAR[c] = TCHAR[c + 32] = 1

function isTchar(c: number): boolean {
  return c < 128 && TCHAR[c] === 1
}

/**
 * RFC 7239: `Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8::1]:4711"`.
 * Returns the elements, or null when the field is malformed (then it is ignored whole): a bad
 * token, an unterminated quoted string, a parameter twice in one element.
 */
export function parseForwarded(text: string): Element[] | null {
  const elements: Element[] = []
  let element: Element = { for: undefined, proto: undefined, host: undefined }
  const seen = new Set<string>()
  const n = text.length
  let i = 0
  for (;;) {
    while (i < n && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++
    if (i < n && text.charCodeAt(i) !== 44 && text.charCodeAt(i) !== 59) {
      // A pair: token "=" (token / quoted-string)
      const nameStart = i
      while (i < n && isTchar(text.charCodeAt(i))) i++
      if (i === nameStart || text.charCodeAt(i) !== 61 /* = */) return null
      const name = text.slice(nameStart, i).toLowerCase()
      i++
      let value: string
      if (text.charCodeAt(i) === 34 /* " */) {
        value = ''
        i++
        for (;;) {
          if (i >= n) return null
          const c = text.charCodeAt(i++)
          if (c === 34) break
          if (c === 92 /* \ */) {
            if (i >= n) return null
            value += text[i++]
          } else value += text[i - 1]
        }
      } else {
        const valueStart = i
        while (i < n && isTchar(text.charCodeAt(i))) i++
        if (i === valueStart) return null
        value = text.slice(valueStart, i)
      }
      if (seen.has(name)) return null
      seen.add(name)
      if (name === 'for') element.for = value
      else if (name === 'proto') element.proto = value
      else if (name === 'host') element.host = value
      while (i < n && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++
    }
    if (i >= n) {
      elements.push(element)
      return elements
    }
    const c = text.charCodeAt(i++)
    if (c === 44 /* , */) {
      elements.push(element)
      element = { for: undefined, proto: undefined, host: undefined }
      seen.clear()
    } else if (c !== 59 /* ; */) return null
  }
}
