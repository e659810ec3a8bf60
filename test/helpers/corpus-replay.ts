// Replays a request corpus case against a running server over one TCP connection, whole or split
// into pieces, and reports what came back: the responses, and whether the server closed. Used by
// test/gunicorn.ts and test/desync-guardian.ts (test/llhttp.ts has its own, with llhttp's
// pause-and-upgrade outcomes).
import { setTimeout as delay } from 'node:timers/promises'
import { RawClient, parseResponses, type RawResponse } from './raw.js'

/** Between the pieces of a split replay, so that they tend to arrive as separate reads. */
const PAUSE_MS = 5
/** After the responses awaited, how long nothing more must happen. */
const SETTLE_MS = 40

export interface Reply {
  responses: RawResponse[]
  /** The server closed the connection. */
  closed: boolean
  /** The reply could not be parsed, or ended in a partial response: why. */
  problem: string | null
  /** The bytes received, for diagnostics. */
  received: string
}

/**
 * Sends `pieces` (then half-closes when `finish`) and waits for `responses` responses (then a little more), or for the close
 * when `responses` is 0 or the server closes first, within `timeout` ms.
 */
export async function replay(port: number, pieces: Buffer[], responses: number, timeout: number, finish = false): Promise<Reply> {
  const client = await RawClient.connect(port)
  for (let i = 0; i < pieces.length; i++) {
    if (i > 0) await delay(PAUSE_MS)
    // The server may have refused and closed already: the rest is not needed.
    if (client.ended) break
    await client.write(pieces[i]).catch(() => undefined)
  }
  // A half-close: the bytes sent are all there is.
  if (finish && !client.ended) client.end()
  const count = (): number => {
    try {
      return parseResponses(client.data, { closed: client.ended }).responses.length
    } catch {
      return Infinity
    }
  }
  await client.until(() => client.ended || (responses > 0 && count() >= responses), timeout).catch(() => undefined)
  if (!client.ended) await delay(SETTLE_MS)
  const reply = read(client)
  client.destroy()
  return reply
}

function read(client: RawClient): Reply {
  const received = client.data.toString('latin1')
  try {
    const parsed = parseResponses(client.data, { closed: client.ended })
    const problem = parsed.rest.length > 0 ? `an incomplete response: ${JSON.stringify(parsed.rest.toString('latin1'))}` : null
    return { responses: parsed.responses, closed: client.ended, problem, received }
  } catch (error) {
    return { responses: [], closed: client.ended, problem: `malformed response: ${(error as Error).message}`, received }
  }
}

/** `input` whole, then `splits` times cut into 2 to 4 pieces at distinct random points. */
export function variants(input: Buffer, random: () => number, splits: number): { label: string; pieces: Buffer[] }[] {
  const out = [{ label: 'whole', pieces: [input] }]
  for (let s = 0; s < splits && input.length > 1; s++) {
    const count = Math.min(input.length, 2 + Math.floor(random() * 3))
    const cuts = new Set<number>()
    while (cuts.size < count - 1) cuts.add(1 + Math.floor(random() * (input.length - 1)))
    const points = [0, ...[...cuts].sort((a, b) => a - b), input.length]
    out.push({ label: `split at ${points.slice(1, -1).join(', ')}`, pieces: points.slice(1).map((end, i) => input.subarray(points[i], end)) })
  }
  return out
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++])
  }
  await Promise.all(Array.from({ length: limit }, worker))
}
