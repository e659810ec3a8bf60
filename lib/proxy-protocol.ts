// The PROXY protocol (HAProxy's, versions 1 and 2): the header a load balancer sends first on a
// connection to say whose connection it is. Pure: bytes in, the header or "need more" out.
import net from 'node:net'

/** A header that was read whole. */
export interface ProxyHeader {
  /** Bytes it took: what follows is the HTTP stream. */
  readonly length: number
  /**
   * The client's address and port; null when the header says to keep the connection's own
   * (v2 LOCAL, a health check of the balancer itself; v1 UNKNOWN; v2 UNSPEC or unix families).
   */
  readonly source: { readonly address: string; readonly port: number } | null
}

export class ProxyProtocolError extends Error {
  override name = 'ProxyProtocolError'
}

/** `PROXY TCP6 ffff:...:ffff ffff:...:ffff 65535 65535\r\n` is 104 bytes; the spec allows 107. */
const V1_MAX = 107
const V1_PREFIX = Buffer.from('PROXY ', 'latin1')
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V2_FIXED = 16

/**
 * Reads a PROXY header at the start of `data` (all bytes received so far). Returns the header,
 * or null when it is not whole yet; throws ProxyProtocolError as soon as the bytes cannot be one
 * (so a client speaking plain HTTP is turned away at its first packet).
 */
export function readProxyHeader(data: Buffer): ProxyHeader | null {
  const v1 = data[0] === 0x50
  const prefix = v1 ? V1_PREFIX : V2_SIGNATURE
  const known = Math.min(data.length, prefix.length)
  if (data.compare(prefix, 0, known, 0, known) !== 0) throw new ProxyProtocolError('Not a PROXY protocol header')
  return v1 ? readV1(data) : readV2(data)
}

function readV1(data: Buffer): ProxyHeader | null {
  const end = data.indexOf('\r\n', 0, 'latin1')
  if (end === -1) {
    if (data.length >= V1_MAX) throw new ProxyProtocolError('PROXY v1 header too long')
    return null
  }
  if (end + 2 > V1_MAX) throw new ProxyProtocolError('PROXY v1 header too long')
  const parts = data.toString('latin1', V1_PREFIX.length, end).split(' ')
  const length = end + 2
  // UNKNOWN: the balancer could not tell; whatever follows it on the line is ignored.
  if (parts[0] === 'UNKNOWN') return { length, source: null }
  const family = parts[0] === 'TCP4' ? 4 : parts[0] === 'TCP6' ? 6 : 0
  if (family === 0) throw new ProxyProtocolError(`PROXY v1: unknown protocol '${parts[0]}'`)
  if (parts.length !== 5 || net.isIP(parts[1]) !== family || net.isIP(parts[2]) !== family) {
    throw new ProxyProtocolError('PROXY v1: bad addresses')
  }
  const port = portOf(parts[3])
  if (port < 0 || portOf(parts[4]) < 0) throw new ProxyProtocolError('PROXY v1: bad ports')
  return { length, source: { address: family === 6 ? canonicalV6(parts[1]) : parts[1], port } }
}

function portOf(text: string): number {
  return /^(?:0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 65535 ? Number(text) : -1
}

function readV2(data: Buffer): ProxyHeader | null {
  if (data.length < V2_FIXED) return null
  const versionCommand = data[12]
  if (versionCommand >> 4 !== 2) throw new ProxyProtocolError('PROXY v2: unknown version')
  const command = versionCommand & 0x0f
  if (command > 1) throw new ProxyProtocolError('PROXY v2: unknown command')
  const family = data[13] >> 4
  const length = V2_FIXED + data.readUInt16BE(14)
  if (data.length < length) return null
  // LOCAL: the balancer's own connection (a health check); UNSPEC and unix: no IP addresses.
  if (command === 0 || family === 0 || family === 3) {
    if (family > 3) throw new ProxyProtocolError('PROXY v2: unknown address family')
    return { length, source: null }
  }
  if (family === 1) {
    // Source and destination addresses, then their ports; TLVs after them are skipped.
    if (length < V2_FIXED + 12) throw new ProxyProtocolError('PROXY v2: address block too short')
    const address = `${data[16]}.${data[17]}.${data[18]}.${data[19]}`
    return { length, source: { address, port: data.readUInt16BE(24) } }
  }
  if (family === 2) {
    if (length < V2_FIXED + 36) throw new ProxyProtocolError('PROXY v2: address block too short')
    return { length, source: { address: formatV6(data, 16), port: data.readUInt16BE(48) } }
  }
  throw new ProxyProtocolError('PROXY v2: unknown address family')
}

/** 16 bytes as an IPv6 address in the form sockets report them. */
function formatV6(data: Buffer, at: number): string {
  let text = data.readUInt16BE(at).toString(16)
  for (let i = 1; i < 8; i++) text += `:${data.readUInt16BE(at + i * 2).toString(16)}`
  return canonicalV6(text)
}

const MAPPED_RE = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/

/**
 * An IPv6 address text as sockets report it (RFC 5952: `2001:DB8:0:0::1` -> `2001:db8::1`,
 * which the URL parser's serialisation is), IPv4-mapped ones with their IPv4 part dotted.
 */
function canonicalV6(text: string): string {
  const host = new URL(`http://[${text}]/`).hostname.slice(1, -1)
  const mapped = MAPPED_RE.exec(host)
  if (mapped === null) return host
  const high = parseInt(mapped[1], 16)
  const low = parseInt(mapped[2], 16)
  return `::ffff:${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
}
