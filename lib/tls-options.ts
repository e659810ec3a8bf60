// TLS for a server: the node:tls options Pegasus starts from (client certificate modes, ALPN
// http/1.1, the handshake timeout), and the same built from the CLI's certificate files.
import crypto from 'node:crypto'
import fs from 'node:fs'
import tls from 'node:tls'

/**
 * Client certificates: not asked for (`none`), asked for and reported (`optional`: the app reads
 * `socket.authorized`), or required (`required`: a client without a valid one, signed by `ca`
 * or else by a root Node.js trusts, fails its handshake).
 */
export type ClientCerts = 'none' | 'optional' | 'required'

/** ServerOptions.tls: node:tls's server options (cert, key, ca, ciphers, minVersion...), and: */
export interface TlsOptions extends tls.TlsOptions {
  /** Sets requestCert and rejectUnauthorized together; absent: those two as given. */
  clientCerts?: ClientCerts
}

const CLIENT_CERTS = new Set<string>(['none', 'optional', 'required'])
// The only protocol Pegasus speaks: a client offering h2 alone fails its handshake rather than
// sending HTTP/2 to an HTTP/1.1 parser.
const ALPN = ['http/1.1']

/**
 * The options of the node:tls server that wraps a Pegasus server's sockets. The handshake must
 * finish within `handshakeTimeout` ms (node's default, 120 s, for 0) unless `options` says.
 */
export function tlsServerOptions(options: TlsOptions, handshakeTimeout: number): tls.TlsOptions {
  const { clientCerts, ...rest } = options
  const result: tls.TlsOptions = { ALPNProtocols: ALPN, ...rest }
  if (clientCerts !== undefined) {
    if (!CLIENT_CERTS.has(clientCerts)) throw new TypeError(`tls.clientCerts must be none, optional or required: ${String(clientCerts)}`)
    result.requestCert = clientCerts !== 'none'
    result.rejectUnauthorized = clientCerts === 'required'
  }
  if (result.handshakeTimeout === undefined && handshakeTimeout > 0) result.handshakeTimeout = handshakeTimeout
  // Bad keys, certificates, ciphers or versions fail here, in createServer, not at the first
  // client.
  tls.createSecureContext(result)
  return result
}

/** Certificate files and settings as the CLI takes them (--certfile, --keyfile...). */
export interface TlsFiles {
  /** PEM certificate (chain); it may hold the private key too. */
  certfile: string
  /** PEM private key; null or absent: the key is in `certfile`. */
  keyfile?: string | null
  /** PEM bundle of the CAs that sign client certificates. */
  caCerts?: string | null
  certReqs?: ClientCerts
  /** OpenSSL cipher list (TLS 1.2 and below; TLS 1.3 suites are not configured by it). */
  ciphers?: string | null
  minVersion?: tls.SecureVersion
}

/** A certificate file that cannot be read or used; the message is one line. */
export class TlsConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TlsConfigError'
  }
}

/**
 * ServerOptions.tls from certificate files, each read and checked here so that an unreadable or
 * wrong file is named in a one-line TlsConfigError.
 */
export function tlsOptionsFromFiles(files: TlsFiles): TlsOptions {
  const cert = readPem('certfile', files.certfile)
  certificates('certfile', files.certfile, cert)
  const keyfile = files.keyfile ?? files.certfile
  const key = keyfile === files.certfile ? cert : readPem('keyfile', keyfile)
  try {
    crypto.createPrivateKey(key)
  } catch (error) {
    throw new TlsConfigError(`${files.keyfile == null ? 'certfile' : 'keyfile'} ${keyfile}: no usable private key (${reason(error)})`)
  }
  const options: TlsOptions = { cert, key, clientCerts: files.certReqs ?? 'none' }
  if (files.caCerts != null) {
    options.ca = readPem('ca-certs', files.caCerts)
    certificates('ca-certs', files.caCerts, options.ca)
  }
  if (files.ciphers != null) options.ciphers = files.ciphers
  if (files.minVersion !== undefined) options.minVersion = files.minVersion
  try {
    tlsServerOptions(options, 0)
  } catch (error) {
    // What no single file shows: a key that is not the certificate's, an unknown cipher list.
    throw new TlsConfigError(`TLS settings: ${reason(error)}`)
  }
  return options
}

function readPem(what: string, path: string): string {
  try {
    return fs.readFileSync(path, 'latin1')
  } catch (error) {
    throw new TlsConfigError(`${what} ${path}: ${reason(error)}`)
  }
}

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g

/** Checks that the PEM text holds certificates, all of them readable. */
function certificates(what: string, path: string, pem: string): void {
  const found = pem.match(CERTIFICATE)
  if (found === null) throw new TlsConfigError(`${what} ${path}: no PEM certificate in it`)
  for (const block of found) {
    try {
      new crypto.X509Certificate(block)
    } catch (error) {
      throw new TlsConfigError(`${what} ${path}: a certificate that cannot be read (${reason(error)})`)
    }
  }
}

/** An error's message on one line, without OpenSSL's `error:0480006C:PEM routines::` prefix. */
function reason(error: unknown): string {
  const message = (error as Error).message.split('\n')[0]
  return message.replace(/^error:[0-9A-F]+:[^:]*::/, '')
}
