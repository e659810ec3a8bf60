// Replays gunicorn's request corpus (../shared/conformance/gunicorn/{valid,invalid}: gunicorn's
// tests/requests, MIT) against a running Pegasus over real TCP sockets, as a black box, each case
// whole and split at seeded random points. A valid case must reach the app as its `.py` file
// says gunicorn parses it: method, target, path, query, version, header fields (names compared
// upper-cased, as gunicorn gives them), body. An invalid case must get the status that names its
// problem (test/helpers/gunicorn-policy.ts's ERROR_STATUS) and a close, the app never called.
// Where Pegasus deliberately differs, the policy file says how and why. Trailers are read and
// skipped by Pegasus, not shown to apps: a case's expected trailers are not compared.
//
// HTTP/1.1 requests without Host (most of the corpus) are replayed as written (Pegasus must
// refuse them, RFC 9112 section 3.2) and with `Host: gunicorn.test` added. The server uses
// gunicorn's default limits; a case that sets gunicorn config is run with the Pegasus options
// that match it, or skipped with the reason.
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Request, Response, ServerOptions } from '../lib/server.js'
import { startServer } from './helpers/server.js'
import { prng } from './helpers/parser-recorder.js'
import { pool, replay, variants, type Reply } from './helpers/corpus-replay.js'
import { injectHost, loadGunicorn, type Expected, type GunicornCase } from './helpers/gunicorn-corpus.js'
import {
  DIFFERENCES,
  ERROR_STATUS,
  GUNICORN_LIMITS,
  MAPPED_CONFIG,
  REASONS,
  SKIPPED_CONFIG,
  type Difference,
  type Outcome,
} from './helpers/gunicorn-policy.js'

const CORPUS_DIR = fileURLToPath(new URL('../../shared/conformance/gunicorn/', import.meta.url))
/** Split points come from this seed (set GUNICORN_SEED to explore others). */
const SEED = Number(process.env.GUNICORN_SEED ?? 0x9c0)
const SPLITS = 3
const CONCURRENCY = 8
const WAIT_MS = 2000

/** What the app saw of a request, sent back in the response's X-Seen header. */
interface Seen {
  method: string
  url: string
  path: string
  query: string
  version: string
  headers: [string, string][]
  body: string
}

interface Replay {
  variant: string
  label: string
  pieces: Buffer[]
  /** Half-close after sending: an invalid case's bytes are all gunicorn reads. */
  finish: boolean
  expected: Expectation
}

/**
 * These requests reach the app; then, unless `refused` is null, an answer with one of its
 * statuses (0: none, a bare close) and the close.
 */
interface Expectation {
  requests: Expected[]
  refused: number[] | null
}

interface Plan {
  c: GunicornCase
  options: ServerOptions
  skip: string | null
  difference: Difference | undefined
  replays: Replay[]
  /** Refused as written only for lack of Host. */
  hostDiffers: boolean
}

async function main(): Promise<void> {
  const cases = loadGunicorn(CORPUS_DIR)
  const plans = cases.map((c, i) => plan(c, i))
  const app = async (req: Request, res: Response): Promise<void> => {
    let body: Buffer
    try {
      body = await req.body()
    } catch {
      return
    }
    const raw = req.rawHeaders
    const headers: [string, string][] = []
    for (let i = 0; i < raw.length; i += 2) headers.push([raw[i].toUpperCase(), raw[i + 1]])
    const seen: Seen = { method: req.method, url: req.url, path: req.path, query: req.query, version: req.httpVersion, headers, body: body.toString('latin1') }
    res.setHeader('X-Seen', Buffer.from(JSON.stringify(seen), 'utf8').toString('base64'))
    res.end()
  }
  // One server per set of options.
  const servers = new Map<string, number>()
  for (const p of plans) {
    const key = JSON.stringify(p.options)
    if (p.skip === null && !servers.has(key)) servers.set(key, (await startServer(t, app, p.options)).port)
  }
  t.comment(`gunicorn corpus: ${CORPUS_DIR}; split seed ${SEED} (GUNICORN_SEED=${SEED} to repeat)`)
  const jobs = plans.filter((p) => p.skip === null).flatMap((p) => p.replays.map((r) => ({ p, r })))
  const replies = new Map<Replay, Reply>()
  await pool(jobs, CONCURRENCY, async ({ p, r }) => {
    const port = servers.get(JSON.stringify(p.options)) as number
    const waitFor = r.expected.refused === null ? r.expected.requests.length : 0
    replies.set(r, await replay(port, r.pieces, waitFor, WAIT_MS, r.finish))
  })

  checkPolicyTable(cases)
  const counts = new Counts()
  for (const p of plans) {
    t.test(p.c.id, async (t) => {
      if (p.skip !== null) {
        counts.skip(p)
        t.pass(`skipped: ${p.skip}`)
        return
      }
      counts.add(p, checkCase(t, p, replies))
    })
  }
  t.test('counts', async (t) => {
    for (const line of counts.lines()) t.comment(line)
    t.pass('counted')
  })
}

// --- Planning ---------------------------------------------------------------------------------

function plan(c: GunicornCase, index: number): Plan {
  let options: ServerOptions = { ...GUNICORN_LIMITS }
  let skip: string | null = null
  for (const [name, value] of c.config) {
    const mapped = MAPPED_CONFIG[name]?.(value) ?? null
    if (mapped !== null) options = { ...options, ...mapped }
    else skip ??= `sets ${name}=${JSON.stringify(value)}: ${SKIPPED_CONFIG[name] ?? 'no Pegasus counterpart'}`
  }
  const difference = DIFFERENCES.find((d) => d.id === c.id)
  const random = prng(SEED + index)
  const injected = injectHost(c)
  const base: Expectation = expectationOf(c, injected.requests, difference?.pegasus)
  const replays: Replay[] = []
  const inputs: [string, Buffer, Expectation][] = []
  let hostDiffers = false
  if (injected.input.equals(c.input)) inputs.push(['as written', c.input, base])
  else {
    // As written, the requests before the first one that lacks Host are served, that one is not.
    const first = injected.requests.findIndex((r) => r.headers[0]?.[1] === 'gunicorn.test')
    const cut = first === -1 ? base.requests.length : Math.min(first, base.requests.length)
    hostDiffers = base.refused === null || base.refused.includes(0)
    // A refused case may be refused for its own fault or for the missing Host, whichever is
    // found first.
    const refused = hostDiffers ? [400] : [...new Set([...(base.refused as number[]), 400])]
    inputs.push(['as written', c.input, { requests: base.requests.slice(0, cut), refused }])
    inputs.push(['Host injected', injected.input, base])
  }
  for (const [variant, input, expected] of inputs) {
    // A case refused is sent as all there is (as gunicorn's tests read to EOF): a half-close.
    const finish = expected.refused !== null
    for (const v of variants(input, random, SPLITS)) replays.push({ variant, label: v.label, pieces: v.pieces, finish, expected })
  }
  return { c, options, skip, difference, replays, hostDiffers }
}

function expectationOf(c: GunicornCase, requests: Expected[], pegasus: Outcome | undefined): Expectation {
  if (pegasus !== undefined) {
    if (pegasus.kind === 'refused') return { requests: [], refused: [pegasus.status] }
    const served = requests.slice(0, pegasus.requests).map((r, i) => (pegasus.headers?.[i] === undefined ? r : { ...r, headers: pegasus.headers[i] }))
    return { requests: served, refused: null }
  }
  if (c.kind === 'valid') return { requests, refused: null }
  return { requests: [], refused: ERROR_STATUS[c.error as string] ?? [400] }
}

// --- Checking ---------------------------------------------------------------------------------

function seenOf(header: string | undefined): Seen | null {
  return header === undefined ? null : (JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as Seen)
}

/** Why `reply` is not `expected`, or null when it is. */
function mismatch(reply: Reply, expected: Expectation): string | null {
  if (reply.problem !== null) return reply.problem
  const served = reply.responses.filter((r) => r.statusCode === 200)
  const errors = reply.responses.filter((r) => r.statusCode !== 200)
  const want = expected.requests.length
  if (served.length < want) {
    const error = errors[0]
    return `${served.length} of ${want} requests served${error === undefined ? '' : `, then ${error.statusCode}: ${error.body.toString('latin1').trim()}`}`
  }
  if (expected.refused !== null) {
    if (served.length > want) return `the app was called: ${JSON.stringify(seenOf(served[want].headers['x-seen']))}`
    const status = errors[0]?.statusCode ?? 0
    if (!expected.refused.includes(status)) return `${status === 0 ? 'closed without a response' : status}, expected ${expected.refused.join(' or ')}`
    if (!reply.closed) return `the connection stayed open after ${status}`
  }
  for (let i = 0; i < want; i++) {
    const why = differs(seenOf(served[i].headers['x-seen']) as Seen, expected.requests[i])
    if (why !== null) return `request ${i + 1}: ${why}`
  }
  return null
}

/** How what the app saw differs from gunicorn's parse, or null. */
function differs(seen: Seen, e: Expected): string | null {
  const pairs: [string, unknown, unknown][] = [
    ['method', seen.method, e.method],
    ['target', seen.url, e.uri.raw],
    ['path', seen.path, e.uri.path],
    ['query', seen.query, e.uri.query],
    ['version', seen.version, e.version],
    ['headers', JSON.stringify(seen.headers), JSON.stringify(e.headers)],
    ['body', seen.body, e.body],
  ]
  for (const [what, got, want] of pairs) {
    if (got !== want) return `${what} ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`
  }
  return null
}

/** Asserts every replay of a case; returns whether any failed. */
function checkCase(t: Test, p: Plan, replies: Map<Replay, Reply>): boolean {
  let failed = false
  if (p.difference !== undefined) {
    // The entry must still be needed: Pegasus's outcome differs from gunicorn's.
    const gunicorn = expectationOf(p.c, injectHost(p.c).requests, undefined)
    t.notSame(expectationOf(p.c, injectHost(p.c).requests, p.difference.pegasus), gunicorn, 'policy entry differs from gunicorn')
  }
  for (const r of p.replays) {
    const reply = replies.get(r) as Reply
    const why = mismatch(reply, r.expected)
    if (why !== null) failed = true
    const n = r.expected.requests.length
    const want = `${n} served${r.expected.refused === null ? '' : `, then ${r.expected.refused.map((s) => (s === 0 ? 'a close' : s)).join(' or ')}`}`
    t.ok(why === null, `${r.variant}, ${r.label}: ${want}`, { problem: why, input: r.pieces.map((piece) => piece.toString('latin1')), received: reply.received })
  }
  return failed
}

function checkPolicyTable(cases: GunicornCase[]): void {
  const ids = new Set(cases.map((c) => c.id))
  t.test('policy table', async (t) => {
    const seen = new Set<string>()
    for (const d of DIFFERENCES) {
      t.ok(ids.has(d.id), `policy entry names a corpus case: ${d.id}`)
      t.notOk(seen.has(d.id), `policy entry is not repeated: ${d.id}`)
      seen.add(d.id)
    }
  })
}

// --- Counting ---------------------------------------------------------------------------------

class Counts {
  private readonly run = { valid: 0, invalid: 0 }
  private readonly skipped = { valid: 0, invalid: 0 }
  private readonly skips: string[] = []
  private readonly byReason = new Map<string, number>()
  private agree = { valid: 0, invalid: 0 }
  private failed: string[] = []
  private replays = 0
  private hostOnly = 0

  skip(p: Plan): void {
    this.skipped[p.c.kind]++
    this.skips.push(`${p.c.id} (${p.skip})`)
  }

  add(p: Plan, failed: boolean): void {
    this.run[p.c.kind]++
    this.replays += p.replays.length
    if (p.hostDiffers) this.hostOnly++
    if (failed) this.failed.push(p.c.id)
    else if (p.difference !== undefined) this.byReason.set(p.difference.reason, (this.byReason.get(p.difference.reason) ?? 0) + 1)
    else this.agree[p.c.kind]++
  }

  lines(): string[] {
    const lines = [
      `valid cases: ${this.run.valid} run, ${this.skipped.valid} skipped; invalid cases: ${this.run.invalid} run, ${this.skipped.invalid} skipped`,
      `valid, served as gunicorn parses them: ${this.agree.valid}`,
      `invalid, refused with the status that names the problem: ${this.agree.invalid}`,
      `differing by policy: ${[...this.byReason.values()].reduce((a, b) => a + b, 0)}`,
    ]
    for (const [reason, n] of [...this.byReason].sort((a, b) => b[1] - a[1])) {
      const r = REASONS[reason as keyof typeof REASONS]
      lines.push(`  ${r.title} (${r.rfc}): ${n}`)
    }
    lines.push(`as written, refused for lack of Host (400) where the Host-injected replay is served: ${this.hostOnly} (${REASONS.host.rfc})`)
    lines.push(`skipped: ${this.skips.join('; ')}`)
    if (this.failed.length > 0) lines.push(`FAILED: ${this.failed.join(', ')}`)
    lines.push(`replays: ${this.replays}`)
    return lines
  }
}

// --- Running ----------------------------------------------------------------------------------

if (!existsSync(CORPUS_DIR)) {
  t.plan(0, `gunicorn corpus not found at ${CORPUS_DIR}: ../shared is absent, so the gunicorn conformance replay is skipped`)
} else {
  await main()
}
