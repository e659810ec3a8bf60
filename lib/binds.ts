// Where a server listens: `HOST:PORT`, `[IPv6]:PORT`, `unix:PATH` or `fd://N` (a socket passed
// in by systemd's socket activation), as gunicorn's --bind takes them.

export type Bind =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string }
  | { kind: 'fd'; fd: number }

export class BindError extends Error {}

const PORT = /^\d{1,5}$/

/** Parses one --bind value; throws BindError with a one-line reason. */
export function parseBind(text: string): Bind {
  if (text.startsWith('unix:')) {
    const path = text.slice(5)
    if (path.length === 0) throw new BindError(`no socket path in '${text}'`)
    return { kind: 'unix', path }
  }
  if (text.startsWith('fd://')) {
    const fd = text.slice(5)
    if (!/^\d+$/.test(fd)) throw new BindError(`not a file descriptor number in '${text}'`)
    return { kind: 'fd', fd: Number(fd) }
  }
  let host: string
  let port: string
  if (text.startsWith('[')) {
    const end = text.indexOf(']')
    if (end === -1) throw new BindError(`unclosed '[' in '${text}'`)
    host = text.slice(1, end)
    const rest = text.slice(end + 1)
    if (rest !== '' && !rest.startsWith(':')) throw new BindError(`expected ':PORT' after ']' in '${text}'`)
    port = rest === '' ? '8080' : rest.slice(1)
  } else {
    const colon = text.lastIndexOf(':')
    if (colon !== -1 && text.indexOf(':') !== colon) throw new BindError(`an IPv6 address needs brackets: '[${text}]'`)
    host = colon === -1 ? text : text.slice(0, colon)
    port = colon === -1 ? '8080' : text.slice(colon + 1)
  }
  if (!PORT.test(port) || Number(port) > 65535) throw new BindError(`port must be 0-65535 in '${text}'`)
  if (host === '') host = '0.0.0.0'
  return { kind: 'tcp', host, port: Number(port) }
}

/** How a bind is shown in log lines: `127.0.0.1:8080`, `[::1]:8080`, `unix:/run/p.sock`, `fd://3`. */
export function formatBind(bind: Bind): string {
  if (bind.kind === 'unix') return `unix:${bind.path}`
  if (bind.kind === 'fd') return `fd://${bind.fd}`
  return bind.host.includes(':') ? `[${bind.host}]:${bind.port}` : `${bind.host}:${bind.port}`
}
