// The native interface: an app is `(req, res) => void | Promise<void>`, node:http style.
import { Readable, Writable } from 'node:stream'
import type { Request } from '../request.js'
import type { Response } from '../response.js'

export type App = (req: Request, res: Response) => void | Promise<void>

/** Calls `app`; a throw or a rejection goes to `onError` (the server answers 500 or closes). */
export function invokeNative(
  app: App,
  req: Request,
  res: Response,
  onError: (res: Response, error: unknown) => void,
): void {
  let result: void | Promise<void>
  try {
    result = app(req, res)
  } catch (error) {
    onError(res, explain(error, req, res))
    return
  }
  if (result !== undefined && result !== null && typeof (result as Promise<void>).then === 'function') {
    ;(result as Promise<void>).then(undefined, (error: unknown) => onError(res, explain(error, req, res)))
  }
}

const HINT = "serve this app with --interface node (node:http's IncomingMessage and ServerResponse)"
// V8's words for a call of a missing method, `ctx.req.on is not a function`: the expression,
// the name of the object called on, and the member.
const NOT_A_FUNCTION_RE = /^((?:.*\.)?([\w$]+)\.([\w$]+)) is not a function$/
// Names an app gives node's request and response (req, request, res, response, rawReq, _res...):
// `items.push is not a function` is an app's own bug, though node's req has a push() too.
const RECEIVER_RE = /(?:^|[_$])(req|request|res|response)$|[a-z\d](Req|Request|Res|Response)$/
// ...and for a read through a missing object (`res.socket.remoteAddress`), which it does not name.
const READ_OF_UNDEFINED_RE = /^Cannot read properties of undefined \(reading '([^']*)'\)$/
// node:http members that are the connection's socket, which the native objects may lack.
const SOCKET_MEMBERS = [
  ['req', 'socket'],
  ['req', 'connection'],
  ['res', 'socket'],
  ['res', 'connection'],
] as const
// What apps read of those sockets (express reads `encrypted`): only names this particular, so
// that an app's own `list.push` on undefined is not taken for a socket read.
// node:http's request is a Readable and its response writes like a Writable; beyond those, the
// members of their own that apps call (only lib/interfaces/node/ may import node:http itself).
const REQUEST_MEMBERS = new Set(['setTimeout', 'socket', 'connection', 'headersDistinct', 'trailersDistinct', 'rawTrailers'])
const RESPONSE_MEMBERS = new Set([
  'flushHeaders', 'appendHeader', 'writeContinue', 'writeEarlyHints', 'writeProcessing', 'addTrailers',
  'setHeaders', 'setTimeout', 'assignSocket', 'detachSocket', 'socket', 'connection', 'sendDate',
])

function nodeRequestHas(member: string): boolean {
  return member in Readable.prototype || REQUEST_MEMBERS.has(member)
}

function nodeResponseHas(member: string): boolean {
  return member in Writable.prototype || RESPONSE_MEMBERS.has(member)
}

const SOCKET_READS = new Set([
  'remoteAddress', 'remotePort', 'remoteFamily', 'localAddress', 'localPort', 'localFamily', 'encrypted',
  'authorized', 'authorizationError', 'getPeerCertificate', 'getCipher', 'getProtocol', 'alpnProtocol',
  'servername', 'setTimeout', 'setNoDelay', 'setKeepAlive', 'bytesRead', 'bytesWritten', 'cork', 'uncork',
])

/**
 * An app written for node:http that reaches for a member of IncomingMessage or ServerResponse
 * that the native objects lack gets a TypeError that names it and `--interface node`; its cause
 * is the original error, its stack the original's frames. Any other error is passed on as it is.
 */
export function explain(error: unknown, req: Request, res: Response): unknown {
  if (!(error instanceof TypeError)) return error
  let message: string
  const call = NOT_A_FUNCTION_RE.exec(error.message)
  if (call !== null) {
    const receiver = RECEIVER_RE.exec(call[2])
    if (receiver === null) return error
    const member = call[3]
    const missing = (receiver[1] ?? receiver[2]).toLowerCase().startsWith('req')
      ? nodeRequestHas(member) && !(member in req)
      : nodeResponseHas(member) && !(member in res)
    if (!missing) return error
    message = `${call[1]} is not available in the native interface: ${HINT}`
  } else {
    const read = READ_OF_UNDEFINED_RE.exec(error.message)
    if (read === null) return error
    const absent = SOCKET_MEMBERS.filter(([object, member]) => !(member in (object === 'req' ? req : res)))
    if (absent.length === 0 || !SOCKET_READS.has(read[1])) return error
    const names = absent.map(([object, member]) => `${object}.${member}`).join(' or ')
    message = `${names} is not available in the native interface (${error.message}): ${HINT}`
  }
  const explained = new TypeError(message, { cause: error })
  const stack = String(error.stack)
  const frames = stack.indexOf('\n    at ')
  explained.stack = `TypeError: ${message}${frames === -1 ? '' : stack.slice(frames)}`
  return explained
}
