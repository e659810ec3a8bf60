// A raw-socket HTTP/1.1 client for exact framing checks and malformed bytes: it sends bytes as
// given and collects the reply until the server closes or until N complete responses arrived,
// and a strict response parser (status line, fields, Content-Length / chunked / close-delimited).
import net from 'node:net'

export interface RawResponse {
  version: string
  statusCode: number
  statusMessage: string
  /** Lower-case names; repeated fields joined with `, `. */
  headers: Record<string, string>
  /** `[name, value]` pairs as received. */
  rawHeaders: [string, string][]
  body: Buffer
  /** How the body was delimited. */
  framing: 'none' | 'length' | 'chunked' | 'close'
  /** The response's bytes as received, head and body. */
  raw: Buffer
}

export interface ParseOptions {
  /** Responses (by index among final ones) that answer a HEAD request: no body follows. */
  head?: number[]
  /** The connection has closed: a response without length ends at the last byte. */
  closed?: boolean
}

export interface ParseResult {
  responses: RawResponse[]
  /** Bytes after the last complete response. */
  rest: Buffer
}

const CRLF = Buffer.from('\r\n')
/** How long a wait for the server's bytes or its close lasts by default before it fails. */
const WAIT = 20_000
const HEAD_END = Buffer.from('\r\n\r\n')

/**
 * Parses as many complete responses as `data` holds. Throws on anything malformed, so a test
 * that parses a reply also checks its framing.
 */
export function parseResponses(data: Buffer, options: ParseOptions = {}): ParseResult {
  const responses: RawResponse[] = []
  let pos = 0
  let finals = 0
  while (pos < data.length) {
    const headEnd = data.indexOf(HEAD_END, pos)
    if (headEnd === -1) break
    const lines = data.toString('latin1', pos, headEnd).split('\r\n')
    const status = /^(HTTP\/1\.[01]) (\d{3}) ([^\r\n]*)$/.exec(lines[0])
    if (status === null) throw new Error(`Malformed status line: ${JSON.stringify(lines[0])}`)
    const headers: Record<string, string> = {}
    const rawHeaders: [string, string][] = []
    for (const line of lines.slice(1)) {
      const field = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+): ?(.*?)[ \t]*$/.exec(line)
      if (field === null) throw new Error(`Malformed header line: ${JSON.stringify(line)}`)
      const name = field[1].toLowerCase()
      if (/[\0\r\n]/.test(field[2])) throw new Error(`Control character in ${name}`)
      rawHeaders.push([field[1], field[2]])
      headers[name] = headers[name] === undefined ? field[2] : `${headers[name]}, ${field[2]}`
    }
    const statusCode = Number(status[2])
    let p = headEnd + 4
    let body: Buffer
    let framing: RawResponse['framing']
    const informational = statusCode < 200
    if (informational || statusCode === 204 || statusCode === 304 || options.head?.includes(finals) === true) {
      framing = 'none'
      body = Buffer.alloc(0)
    } else if (headers['transfer-encoding'] !== undefined) {
      if (headers['transfer-encoding'] !== 'chunked') throw new Error(`Unexpected Transfer-Encoding ${headers['transfer-encoding']}`)
      if (headers['content-length'] !== undefined) throw new Error('Both Content-Length and Transfer-Encoding')
      framing = 'chunked'
      const pieces: Buffer[] = []
      let done = false
      for (;;) {
        const lineEnd = data.indexOf(CRLF, p)
        if (lineEnd === -1) break
        const sizeText = data.toString('latin1', p, lineEnd)
        if (!/^[0-9a-f]+$/.test(sizeText)) throw new Error(`Malformed chunk size ${JSON.stringify(sizeText)}`)
        const size = parseInt(sizeText, 16)
        if (size === 0) {
          if (data.length < lineEnd + 4) break
          if (!data.subarray(lineEnd + 2, lineEnd + 4).equals(CRLF)) throw new Error('Trailers or bad last chunk')
          p = lineEnd + 4
          done = true
          break
        }
        if (data.length < lineEnd + 2 + size + 2) break
        pieces.push(data.subarray(lineEnd + 2, lineEnd + 2 + size))
        if (!data.subarray(lineEnd + 2 + size, lineEnd + 4 + size).equals(CRLF)) throw new Error('Missing CRLF after chunk')
        p = lineEnd + 4 + size
      }
      if (!done) break
      body = Buffer.concat(pieces)
    } else if (headers['content-length'] !== undefined) {
      if (!/^\d+$/.test(headers['content-length'])) throw new Error(`Bad Content-Length ${headers['content-length']}`)
      framing = 'length'
      const length = Number(headers['content-length'])
      if (data.length < p + length) break
      body = data.subarray(p, p + length)
      p += length
    } else {
      framing = 'close'
      if (options.closed !== true) break
      body = data.subarray(p)
      p = data.length
    }
    responses.push({
      version: status[1],
      statusCode,
      statusMessage: status[3],
      headers,
      rawHeaders,
      body,
      framing,
      raw: data.subarray(pos, p),
    })
    if (!informational) finals++
    pos = p
  }
  return { responses, rest: data.subarray(pos) }
}

/** One raw connection: write bytes, then wait for responses or for the server to close. */
export class RawClient {
  readonly socket: net.Socket
  /** Our side's port, kept after the socket closes. */
  readonly localPort: number
  /** Each 'data' event's bytes, to see what arrived together. */
  readonly chunks: Buffer[]
  /** The chunks joined so far: `joinedLength` bytes of a buffer grown by doubling. */
  private joined: Buffer
  private joinedLength: number
  private joinedChunks: number
  /** The server ended its side (or the socket closed). */
  ended: boolean
  closed: boolean
  error: Error | null
  private waiters: (() => void)[]

  private constructor(socket: net.Socket) {
    this.socket = socket
    this.localPort = socket.localPort ?? 0
    this.chunks = []
    this.joined = Buffer.alloc(0)
    this.joinedLength = 0
    this.joinedChunks = 0
    this.ended = false
    this.closed = false
    this.error = null
    this.waiters = []
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk)
      this.wake()
    })
    socket.on('end', () => {
      this.ended = true
      this.wake()
    })
    socket.on('error', (error) => {
      this.error = error
      this.wake()
    })
    socket.on('close', () => {
      this.ended = true
      this.closed = true
      this.wake()
    })
  }

  /**
   * Every byte received so far. Joined as they come, into a buffer that grows by doubling: a
   * check of the data at each 'data' event stays linear in the bytes received, not quadratic.
   * (Bytes once returned never change: new ones go after them, or into a new buffer.)
   */
  get data(): Buffer {
    const chunks = this.chunks
    if (this.joinedChunks !== chunks.length) {
      let length = this.joinedLength
      for (let i = this.joinedChunks; i < chunks.length; i++) length += chunks[i].length
      if (length > this.joined.length) {
        const grown = Buffer.allocUnsafe(Math.max(length, 2 * this.joined.length))
        this.joined.copy(grown, 0, 0, this.joinedLength)
        this.joined = grown
      }
      for (let i = this.joinedChunks; i < chunks.length; i++) this.joinedLength += chunks[i].copy(this.joined, this.joinedLength)
      this.joinedChunks = chunks.length
    }
    return this.joined.subarray(0, this.joinedLength)
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host })
      socket.setNoDelay(true)
      socket.once('error', reject)
      socket.once('connect', () => {
        socket.off('error', reject)
        resolve(new RawClient(socket))
      })
    })
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, (error) =>
        error ? reject(error) : resolve(),
      ),
    )
  }

  /** Half-closes our side (the server may still answer). */
  end(): void {
    this.socket.end()
  }

  destroy(): void {
    this.socket.destroy()
  }

  /** The responses received so far (complete ones only). */
  responses(options: Omit<ParseOptions, 'closed'> = {}): RawResponse[] {
    return parseResponses(this.data, { ...options, closed: this.ended }).responses
  }

  /**
   * Resolves once `check` holds; rejects after `timeout` ms with what was received. (The default
   * only bounds a wait that failed: generous, for a busy machine.)
   */
  until(check: () => boolean, timeout = WAIT, what = 'condition'): Promise<void> {
    return new Promise((resolve, reject) => {
      const test = (): boolean => {
        let ok: boolean
        try {
          ok = check()
        } catch (error) {
          clearTimeout(timer)
          reject(error)
          return true
        }
        if (ok) {
          clearTimeout(timer)
          resolve()
        }
        return ok
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        reject(new Error(`Timed out waiting for ${what}; received ${JSON.stringify(this.data.toString('latin1', 0, 2000))}`))
      }, timeout)
      const waiter = (): void => {
        if (!test()) this.waiters.push(waiter)
      }
      waiter()
    })
  }

  /** Waits for `n` complete responses (1xx included) and returns all received so far. */
  async waitForResponses(n: number, options: Omit<ParseOptions, 'closed'> & { timeout?: number } = {}): Promise<RawResponse[]> {
    await this.until(() => this.responses(options).length >= n || this.closed, options.timeout, `${n} responses`)
    return this.responses(options)
  }

  /** Waits until the server closed the connection. */
  waitForClose(timeout = WAIT): Promise<void> {
    return this.until(() => this.closed, timeout, 'close')
  }

  /** Waits until the server ended its side (FIN), even if the socket is still open. */
  waitForEnd(timeout = WAIT): Promise<void> {
    return this.until(() => this.ended, timeout, 'end')
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const waiter of waiters) waiter()
  }
}

export interface RawResult {
  responses: RawResponse[]
  data: Buffer
  closed: boolean
  client: RawClient
}

/**
 * Sends `data` on a new connection and collects the reply: until `responses` complete responses
 * arrived (when given) or until the server closes.
 */
export async function rawRequest(
  port: number,
  data: string | Buffer | (string | Buffer)[],
  options: { responses?: number; head?: number[]; timeout?: number; end?: boolean } = {},
): Promise<RawResult> {
  const client = await RawClient.connect(port)
  for (const piece of Array.isArray(data) ? data : [data]) await client.write(piece)
  if (options.end === true) client.end()
  if (options.responses !== undefined) await client.waitForResponses(options.responses, options)
  else await client.waitForClose(options.timeout)
  return { responses: client.responses(options), data: client.data, closed: client.closed, client }
}

/** A minimal valid HTTP/1.1 GET. */
export function get(path = '/', headers = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${headers}\r\n`
}

/**
 * A new connection sending `GET /` (Connection: close): true when a `200` status line arrives
 * within `ms`. A probe of whether a server is still answering new clients.
 */
export function probe(port: number, ms = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    let data = ''
    const socket = net.connect(port, '127.0.0.1', () => socket.write(get('/', 'Connection: close\r\n')))
    const timer = setTimeout(() => done(false), ms)
    const done = (answered: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(answered)
    }
    socket.setEncoding('latin1')
    socket.on('data', (text: string) => {
      data += text
      if (data.includes('\r\n')) done(data.startsWith('HTTP/1.1 200 '))
    })
    socket.on('error', () => done(false))
  })
}
