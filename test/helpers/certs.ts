// Certificates made with openssl at test time, in a temporary directory: a CA, a server
// certificate it signs (localhost, 127.0.0.1, ::1), a client certificate it signs, and a client
// certificate of another CA. null, with the reason, where openssl is missing.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export interface Certs {
  dir: string
  caCert: string
  serverCert: string
  serverKey: string
  clientCert: string
  clientKey: string
  /** A client certificate signed by a CA the server does not trust. */
  rogueCert: string
  rogueKey: string
  /** Paths of the same, for curl and the file helper. */
  files: Record<'caCert' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey' | 'rogueCert' | 'rogueKey', string>
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

/** Makes the certificates; returns the reason instead when openssl cannot be run. */
export function makeCerts(): Certs | string {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
  } catch {
    return 'openssl is not installed: the certificates cannot be made'
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pegasus-tls-'))
  const key = (name: string): void => openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`])
  const ca = (name: string, cn: string): void => {
    key(name)
    openssl(dir, ['req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`])
  }
  const signed = (name: string, by: string, cn: string, ext: string): void => {
    key(name)
    openssl(dir, ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`])
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext)
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${by}.crt`, '-CAkey', `${by}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`])
  }
  ca('ca', 'Pegasus Test CA')
  ca('rogue-ca', 'Rogue CA')
  signed('server', 'ca', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n')
  signed('client', 'ca', 'client one', 'extendedKeyUsage=clientAuth\n')
  signed('rogue', 'rogue-ca', 'rogue client', 'extendedKeyUsage=clientAuth\n')
  const files = {
    caCert: path.join(dir, 'ca.crt'),
    serverCert: path.join(dir, 'server.crt'),
    serverKey: path.join(dir, 'server.key'),
    clientCert: path.join(dir, 'client.crt'),
    clientKey: path.join(dir, 'client.key'),
    rogueCert: path.join(dir, 'rogue.crt'),
    rogueKey: path.join(dir, 'rogue.key'),
  }
  const read = (file: string): string => fs.readFileSync(file, 'latin1')
  return {
    dir,
    caCert: read(files.caCert),
    serverCert: read(files.serverCert),
    serverKey: read(files.serverKey),
    clientCert: read(files.clientCert),
    clientKey: read(files.clientKey),
    rogueCert: read(files.rogueCert),
    rogueKey: read(files.rogueKey),
    files,
  }
}
