// Support for test/parser.ts: a handler that records what the parser emits as plain data (so two
// parses can be compared with t.same), ways to cut a buffer into pieces, and a seeded PRNG.
import { DEFAULT_LIMITS, Parser } from '../../lib/http/parser.js'
import type { ParserHandler, ParserLimits, RequestHead } from '../../lib/http/parser.js'
import { HttpError } from '../../lib/http/errors.js'

/** One request as the handler saw it; the body is every onBody piece joined (latin1). */
export interface Message {
  method: string
  url: string
  versionMinor: number
  headers: [string, string][]
  contentLength: number
  chunked: boolean
  keepAlive: boolean
  expectContinue: boolean
  body: string
  complete: boolean
}

export interface Outcome {
  messages: Message[]
  error: { status: number; message: string } | null
  dead: boolean
  idle: boolean
}

/** The bytes of a latin1 string: every char code is one byte. */
export function bytes(text: string): Buffer {
  return Buffer.from(text, 'latin1')
}

export function describeHead(head: RequestHead): Omit<Message, 'body' | 'complete'> {
  const headers: [string, string][] = []
  for (let i = 0; i < head.fieldCount; i++) headers.push([head.name(i), head.value(i)])
  return {
    method: head.method,
    url: head.url,
    versionMinor: head.versionMinor,
    headers,
    contentLength: head.contentLength,
    chunked: head.chunked,
    keepAlive: head.keepAlive,
    expectContinue: head.expectContinue,
  }
}

/**
 * Records events and checks their order: onBody and onMessageComplete only inside a message,
 * no empty body piece, no onRequest before the previous message completed. A breach throws a
 * plain Error, which the parser passes on and `parse` does not swallow.
 */
export class Recorder implements ParserHandler {
  messages: Message[] = []
  heads: RequestHead[] = []
  chunks: Buffer[] = []
  current: Message | null = null

  onRequest(head: RequestHead): void {
    if (this.current !== null) throw new Error('onRequest before the previous message completed')
    this.heads.push(head)
    this.current = { ...describeHead(head), body: '', complete: false }
    this.messages.push(this.current)
  }

  onBody(chunk: Buffer): void {
    if (this.current === null) throw new Error('onBody outside a message')
    if (chunk.length === 0) throw new Error('empty body piece')
    this.chunks.push(chunk)
    this.current.body += chunk.toString('latin1')
  }

  onMessageComplete(): void {
    if (this.current === null) throw new Error('onMessageComplete outside a message')
    this.current.complete = true
    this.current = null
  }
}

export function limitsWith(limits?: Partial<ParserLimits>): ParserLimits | undefined {
  return limits === undefined ? undefined : { ...DEFAULT_LIMITS, ...limits }
}

/**
 * Feeds `pieces` in order to a new parser and returns what came out. An HttpError ends the feed
 * (and must leave the parser dead); any other error is a bug and is thrown. Every execute must
 * consume its whole piece, as nothing here pauses.
 */
export function parse(pieces: Buffer[], limits?: Partial<ParserLimits>): Outcome {
  const recorder = new Recorder()
  const parser = new Parser(recorder, limitsWith(limits))
  let error: Outcome['error'] = null
  for (const piece of pieces) {
    let consumed: number
    try {
      consumed = parser.execute(piece)
    } catch (err) {
      if (!(err instanceof HttpError)) throw err
      if (!parser.dead) throw new Error(`parser not dead after HttpError ${err.status}`)
      error = { status: err.status, message: err.message }
      break
    }
    if (consumed !== piece.length) throw new Error(`execute consumed ${consumed} of ${piece.length} bytes`)
  }
  return { messages: recorder.messages, error, dead: parser.dead, idle: parser.idle }
}

export function splitAt(buf: Buffer, at: number): Buffer[] {
  return [buf.subarray(0, at), buf.subarray(at)]
}

export function byteByByte(buf: Buffer): Buffer[] {
  const pieces: Buffer[] = []
  for (let i = 0; i < buf.length; i++) pieces.push(buf.subarray(i, i + 1))
  return pieces
}

/** Cuts `buf` at random places (empty pieces included now and then). */
export function randomPieces(buf: Buffer, random: () => number): Buffer[] {
  const pieces: Buffer[] = []
  let at = 0
  while (at < buf.length) {
    const n = Math.floor(random() * Math.min(24, buf.length - at + 1))
    pieces.push(buf.subarray(at, at + n))
    at += n
  }
  return pieces
}

/** mulberry32: a small seeded PRNG, so every fuzz run sees the same inputs. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
