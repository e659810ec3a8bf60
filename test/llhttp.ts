// Replays llhttp's request test corpus (../shared/conformance/llhttp/*.md) against a running
// Pegasus over real TCP sockets, as a black box. Every case llhttp rejects must get a 4xx/5xx and
// a close; every case it accepts must reach the app with the same method, target and body, in
// order. Where Pegasus deliberately differs, test/helpers/llhttp-policy.ts says how and why.
//
// Each case is replayed as written (most corpus requests are HTTP/1.1 without Host: Pegasus
// must refuse those, RFC 9112 section 3.2) and with `Host: corpus.test` injected (then Pegasus
// must agree with llhttp), each whole and split at seeded random points.
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { setTimeout as delay } from 'node:timers/promises'
import type { Request, Response } from '../lib/server.js'
import { RawClient, parseResponses } from './helpers/raw.js'
import { startServer } from './helpers/server.js'
import { prng } from './helpers/parser-recorder.js'
import {
  describeEnd,
  describeOutcome,
  hostRequiredOutcome,
  injectHost,
  llhttpOutcome,
  loadCorpus,
  sameEnd,
  sameOutcome,
  sameServed,
  type CorpusCase,
  type End,
  type Outcome,
  type Served,
} from './helpers/llhttp-corpus.js'
import { POLICY, REASONS, policyFor, type PolicyEntry, type ReasonKey } from './helpers/llhttp-policy.js'

const CORPUS_DIR = fileURLToPath(new URL('../../shared/conformance/llhttp/', import.meta.url))
/** Split points come from this seed (set LLHTTP_SEED to explore others). */
const SEED = Number(process.env.LLHTTP_SEED ?? 0x11e7)
/** Replays split at random points, per variant, besides the whole one. */
const SPLITS = 3
/** Between the pieces of a split replay, so that they tend to arrive as separate reads. */
const PAUSE_MS = 5
/** Replays in flight at once (each on its own connection). */
const CONCURRENCY = 8
/** How long to wait for a close, or for responses that should come. */
const WAIT_MS = 2000
/** After the expected responses, how long nothing more must happen for "waits for more". */
const SETTLE_MS = 40
/** A refused request's bytes are followed by these, so that its head is complete (see plan). */
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1')

/**
 * Cases where Pegasus is believed wrong: the replay is marked todo with the bug, not excused by
 * the policy. Case id -> what is wrong.
 */
const KNOWN_BUGS: Record<string, string> = {}

interface Replay {
  variant: string
  label: string
  pieces: Buffer[]
  /** Half-close after sending (request-finish cases). */
  finish: boolean
  expected: Outcome
}

interface Observed {
  served: Served[]
  end: End
  /** Requests the app finished reading, as the app saw them. */
  records: Served[]
  /** Something no outcome allows: malformed responses, a response after an error... */
  problem: string | null
  received: string
}

interface Plan {
  c: CorpusCase
  llhttp: Outcome
  policy: PolicyEntry | undefined
  bug: string | undefined
  replays: Replay[]
  /** The as-written replay is refused for lack of Host where the Host-injected one is not. */
  hostDiffers: boolean
}

async function main(): Promise<void> {
  const cases = loadCorpus(CORPUS_DIR)
  const plans = cases.map((c, i) => plan(c, i))

  // The app answers 200 with the request it read in a header (a HEAD response has no body), and
  // records it per client port, so each replay can check what reached the app on its connection.
  const records = new Map<number, Served[]>()
  const app = async (req: Request, res: Response): Promise<void> => {
    let body: Buffer
    try {
      body = await req.body()
    } catch {
      return // the body never completed: the request never reached the app whole
    }
    const served: Served = { method: req.method, target: req.url, body: body.toString('latin1'), version: req.httpVersion }
    const port = req.remotePort ?? 0
    records.set(port, [...(records.get(port) ?? []), served])
    res.setHeader('X-Served', Buffer.from(JSON.stringify(served), 'utf8').toString('base64'))
    res.end()
  }
  const server = await startServer(t, app)

  t.comment(`llhttp corpus: ${CORPUS_DIR}; split seed ${SEED} (LLHTTP_SEED=${SEED} to repeat)`)
  const jobs = plans.flatMap((p) => p.replays.map((r) => ({ p, r })))
  const observed = new Map<Replay, Observed>()
  await pool(jobs, CONCURRENCY, async ({ r }) => {
    observed.set(r, await replay(server.port, r, records))
  })

  checkPolicyTable(cases)
  const counts = new Counts()
  for (const p of plans) {
    t.test(p.c.id, async (t) => {
      const failed = checkCase(t, p, observed)
      counts.add(p, failed)
    })
  }
  t.test('counts', async (t) => {
    for (const line of counts.lines()) t.comment(line)
    t.pass('counted')
  })
}

// --- Planning ---------------------------------------------------------------------------------

function plan(c: CorpusCase, index: number): Plan {
  const llhttp = llhttpOutcome(c)
  const policy = policyFor(c.id)
  const injectedExpected = policy?.pegasus ?? llhttp
  const random = prng(SEED + index)
  const finish = c.meta.type === 'request-finish'
  // A parser that checks header fields once the head is complete (Pegasus) cannot refuse a head
  // that never ends. llhttp's verdict on a refused case is final at its error offset, so bytes
  // after the input cannot change it: the refused cases get an end of head appended.
  const tail = injectedExpected.end.kind === 'error' ? HEAD_END : Buffer.alloc(0)
  const variants: { name: string; input: Buffer; expected: Outcome }[] = []
  const injected = injectHost(c)
  const asWritten = hostRequiredOutcome(c, injectedExpected)
  variants.push({ name: 'as written', input: c.input, expected: injected === c.input ? injectedExpected : asWritten })
  if (injected !== c.input) variants.push({ name: 'Host injected', input: injected, expected: injectedExpected })
  const replays: Replay[] = []
  for (const v of variants) {
    const input = Buffer.concat([v.input, tail])
    replays.push({ variant: v.name, label: 'whole', pieces: [input], finish, expected: v.expected })
    for (let s = 0; s < SPLITS; s++) {
      const pieces = split(input, random)
      const label = `split at ${cutPoints(pieces).join(', ')}`
      replays.push({ variant: v.name, label, pieces, finish, expected: v.expected })
    }
  }
  const hostDiffers = injected !== c.input && !sameOutcome(asWritten, injectedExpected)
  return { c, llhttp, policy, bug: KNOWN_BUGS[c.id], replays, hostDiffers }
}

/** 2 to 4 pieces, cut at distinct random points. */
function split(input: Buffer, random: () => number): Buffer[] {
  const count = Math.min(input.length, 2 + Math.floor(random() * 3))
  const cuts = new Set<number>()
  while (cuts.size < count - 1) cuts.add(1 + Math.floor(random() * (input.length - 1)))
  const points = [0, ...[...cuts].sort((a, b) => a - b), input.length]
  return points.slice(1).map((end, i) => input.subarray(points[i], end))
}

function cutPoints(pieces: Buffer[]): number[] {
  const points: number[] = []
  let at = 0
  for (const piece of pieces.slice(0, -1)) points.push((at += piece.length))
  return points
}

// --- Replaying --------------------------------------------------------------------------------

async function replay(port: number, r: Replay, records: Map<number, Served[]>): Promise<Observed> {
  const client = await RawClient.connect(port)
  for (let i = 0; i < r.pieces.length; i++) {
    if (i > 0) await delay(PAUSE_MS)
    // The server may have refused and closed already: the rest is not needed.
    if (client.ended) break
    await client.write(r.pieces[i]).catch(() => undefined)
  }
  if (r.finish) client.end()
  const kind = r.expected.end.kind
  if (kind === 'open' || kind === 'upgrade') {
    await client.waitForResponses(r.expected.served.length, { timeout: WAIT_MS }).catch(() => undefined)
    await delay(SETTLE_MS)
  } else {
    await client.waitForEnd(WAIT_MS).catch(() => undefined)
  }
  // The app records a request before it answers, so its records are in by now.
  const observed = observe(client, records.get(client.localPort) ?? [])
  records.delete(client.localPort)
  client.destroy()
  return observed
}

function observe(client: RawClient, records: Served[]): Observed {
  const received = client.data.toString('latin1')
  const served: Served[] = []
  let problem: string | null = null
  let errorStatus = 0
  try {
    const parsed = parseResponses(client.data, { closed: client.ended })
    for (const res of parsed.responses) {
      if (errorStatus !== 0) problem = `a response after the ${errorStatus}`
      if (res.statusCode === 200) served.push(decodeServed(res.headers['x-served']))
      else if (res.statusCode >= 400 && res.statusCode <= 599) errorStatus = res.statusCode
      else problem = `unexpected status ${res.statusCode}`
    }
    if (parsed.rest.length > 0) problem = `an incomplete response: ${JSON.stringify(parsed.rest.toString('latin1'))}`
  } catch (error) {
    problem = `malformed response: ${(error as Error).message}`
  }
  let end: End
  if (errorStatus !== 0) {
    end = { kind: 'error', status: errorStatus }
    if (!client.ended) problem ??= `${errorStatus} but the connection stayed open`
  } else {
    end = client.ended ? { kind: 'close' } : { kind: 'open' }
  }
  return { served, end, records, problem, received }
}

function decodeServed(header: string | undefined): Served {
  if (header === undefined) return { method: '?', target: '?', body: '' }
  return JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as Served
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++])
  }
  await Promise.all(Array.from({ length: limit }, worker))
}

// --- Checking ---------------------------------------------------------------------------------

/** Why `observed` is not `expected`, or null when it is. */
function mismatch(observed: Observed, expected: Outcome): string | null {
  if (observed.problem !== null) return observed.problem
  if (!sameServed(observed.served, expected.served)) {
    return `served [${observed.served.map(show).join(', ')}], expected [${expected.served.map(show).join(', ')}]`
  }
  // What the app saw must be what it answered with (the records hold complete requests only).
  if (!sameServed(observed.records, observed.served)) return `the app recorded [${observed.records.map(show).join(', ')}]`
  const want = expected.end
  const got = observed.end
  const ok = want.kind === 'cut' ? got.kind === 'close' || got.kind === 'error' : sameEnd(got, want)
  return ok ? null : `ended with ${describeEnd(got)}, expected ${describeEnd(want)}`
}

function show(m: Served): string {
  return `${m.method} ${JSON.stringify(m.target)}${m.body === '' ? '' : ` body=${JSON.stringify(m.body)}`}`
}

/** Asserts every replay of a case; returns whether any failed (todo ones included). */
function checkCase(t: Test, p: Plan, observed: Map<Replay, Observed>): boolean {
  let failed = false
  if (p.policy !== undefined) {
    // The entry must still be needed: Pegasus's outcome differs from llhttp's.
    t.notOk(sameOutcome(p.policy.pegasus, p.llhttp), 'policy entry differs from llhttp', {
      llhttp: describeOutcome(p.llhttp),
      policy: describeOutcome(p.policy.pegasus),
    })
  }
  for (const r of p.replays) {
    const o = observed.get(r) as Observed
    const why = mismatch(o, r.expected)
    if (why !== null) failed = true
    const name = `${r.variant}, ${r.label}: ${describeOutcome(r.expected)}`
    const extra = {
      input: r.pieces.map((piece) => piece.toString('latin1')),
      expected: describeOutcome(r.expected),
      problem: why,
      received: o.received,
      ...(p.bug === undefined ? {} : { todo: p.bug }),
    }
    t.ok(why === null, name, extra)
  }
  return failed
}

/** Every policy entry names a case that exists, once. */
function checkPolicyTable(cases: CorpusCase[]): void {
  const ids = new Set(cases.map((c) => c.id))
  t.test('policy table', async (t) => {
    const seen = new Set<string>()
    for (const entry of POLICY) {
      const id = `${entry.file} > ${entry.name}`
      t.ok(ids.has(id), `policy entry names a corpus case: ${id}`)
      t.notOk(seen.has(id), `policy entry is not repeated: ${id}`)
      seen.add(id)
    }
  })
}

// --- Counting ---------------------------------------------------------------------------------

class Counts {
  private readonly byType = new Map<string, number>()
  private readonly byReason = new Map<string, number>()
  private acceptedBoth = 0
  private waitingBoth = 0
  private rejectedBoth = 0
  private cutBoth = 0
  private bugs = 0
  /** Known bugs whose replays all pass now: KNOWN_BUGS should lose them. */
  private fixed: string[] = []
  private failed = 0
  private wholeReplays = 0
  private splitReplays = 0
  private hostOnly = 0

  add(p: Plan, failed: boolean): void {
    const type = p.c.meta.type
    this.byType.set(type, (this.byType.get(type) ?? 0) + 1)
    for (const r of p.replays) {
      if (r.label === 'whole') this.wholeReplays++
      else this.splitReplays++
    }
    if (p.hostDiffers) this.hostOnly++
    if (p.bug !== undefined) {
      this.bugs++
      if (!failed) this.fixed.push(p.c.id)
    } else if (failed) this.failed++
    else if (p.policy !== undefined) this.bump(this.byReason, p.policy.reason)
    else if (p.llhttp.end.kind === 'error') this.rejectedBoth++
    else if (p.llhttp.end.kind === 'cut') this.cutBoth++
    else {
      this.acceptedBoth++
      if (p.llhttp.end.kind === 'open' && p.llhttp.served.length < p.c.messages.length) this.waitingBoth++
    }
  }

  private bump(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1)
  }

  /** `request 134, request-finish 3, request-lenient-* 29 (headers 11, ...)`. */
  private typeSummary(): string {
    const types = [...this.byType].sort((a, b) => a[0].localeCompare(b[0]))
    const lenient = types.filter(([type]) => type.startsWith('request-lenient-'))
    const plain = types.filter(([type]) => !type.startsWith('request-lenient-')).map(([type, n]) => `${type} ${n}`)
    const total = lenient.reduce((sum, [, n]) => sum + n, 0)
    const parts = lenient.sort((a, b) => b[1] - a[1]).map(([type, n]) => `${type.slice('request-lenient-'.length)} ${n}`)
    return [...plain, `request-lenient-* ${total} (${parts.join(', ')})`].join(', ')
  }

  lines(): string[] {
    const cases = [...this.byType.values()].reduce((a, b) => a + b, 0)
    const lines = [
      `cases replayed: ${cases} (${this.typeSummary()})`,
      `accepted by both: ${this.acceptedBoth} (of which ${this.waitingBoth} end waiting for more bytes)`,
      `rejected by both: ${this.rejectedBoth}`,
      `cut short by EOF (request-finish), both drop the request and close: ${this.cutBoth}`,
      `differing by policy: ${[...this.byReason.values()].reduce((a, b) => a + b, 0)}`,
    ]
    for (const [reason, n] of [...this.byReason].sort((a, b) => b[1] - a[1])) {
      lines.push(`  ${REASONS[reason as ReasonKey].title} (${REASONS[reason as ReasonKey].rfc}): ${n}`)
    }
    lines.push(`as written, refused for lack of Host (400) where the Host-injected replay is not: ${this.hostOnly} (${REASONS.host.rfc})`)
    lines.push(`known Pegasus bugs (todo): ${this.bugs}`)
    if (this.fixed.length > 0) lines.push(`known bugs that pass now (take them out of KNOWN_BUGS): ${this.fixed.join('; ')}`)
    if (this.failed > 0) lines.push(`FAILED: ${this.failed}`)
    lines.push(`replays: ${this.wholeReplays + this.splitReplays} (${this.wholeReplays} whole, ${this.splitReplays} split)`)
    return lines
  }
}

// --- Running ----------------------------------------------------------------------------------

if (!existsSync(CORPUS_DIR)) {
  t.plan(0, `llhttp corpus not found at ${CORPUS_DIR}: ../shared is absent, so the llhttp conformance replay is skipped`)
} else {
  await main()
}
