// Replays AWS's http-desync-guardian cases (../shared/conformance/desync-guardian/*.yaml,
// Apache-2.0) against a running Pegasus over real TCP sockets, as a black box, each request whole
// and split at seeded random points. Each case is held to the tier the guardian gives it:
// - Severe: refused: a 4xx/5xx, `Connection: close` and the close; the app is never called;
// - Ambiguous: refused, or served with the connection closed after it;
// - Compliant: served (the app sees the method and target);
// - Acceptable: either.
// A case without a Host field gets `Host: desync.test`. Where Pegasus deliberately differs,
// test/helpers/desync-policy.ts says how and why.
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Request, Response } from '../lib/server.js'
import { startServer } from './helpers/server.js'
import { prng } from './helpers/parser-recorder.js'
import { pool, replay, variants, type Reply } from './helpers/corpus-replay.js'
import { loadDesyncCases, requestOf, type DesyncCase, type Tier } from './helpers/desync-corpus.js'
import { DIFFERENCES, REASONS, type Difference, type Outcome } from './helpers/desync-policy.js'

const CORPUS_DIR = fileURLToPath(new URL('../../shared/conformance/desync-guardian/', import.meta.url))
/** Split points come from this seed (set DESYNC_SEED to explore others). */
const SEED = Number(process.env.DESYNC_SEED ?? 0xde5c)
const SPLITS = 3
const CONCURRENCY = 8
const WAIT_MS = 2000

interface Replay {
  label: string
  pieces: Buffer[]
}

interface Plan {
  c: DesyncCase
  difference: Difference | undefined
  replays: Replay[]
}

/** What a replay came to. */
type Observed = { kind: 'served'; closed: boolean; method: string; url: string } | { kind: 'refused'; status: number } | { kind: 'other'; problem: string }

async function main(): Promise<void> {
  const cases = loadDesyncCases(CORPUS_DIR)
  const plans: Plan[] = cases.map((c, i) => ({
    c,
    difference: DIFFERENCES.find((d) => d.id === c.id),
    replays: variants(requestOf(c), prng(SEED + i), SPLITS),
  }))
  const app = async (req: Request, res: Response): Promise<void> => {
    try {
      await req.body()
    } catch {
      return
    }
    res.setHeader('X-Seen', Buffer.from(JSON.stringify([req.method, req.url]), 'utf8').toString('base64'))
    res.end()
  }
  const server = await startServer(t, app)
  t.comment(`desync-guardian cases: ${CORPUS_DIR}; split seed ${SEED} (DESYNC_SEED=${SEED} to repeat)`)
  const observed = new Map<Replay, Observed>()
  const jobs = plans.flatMap((p) => p.replays)
  await pool(jobs, CONCURRENCY, async (r) => {
    observed.set(r, observe(await replay(server.port, r.pieces, 1, WAIT_MS)))
  })

  t.test('policy table', async (t) => {
    const ids = new Set(cases.map((c) => c.id))
    for (const d of DIFFERENCES) t.ok(ids.has(d.id), `policy entry names a case: ${d.id}`)
    t.equal(new Set(DIFFERENCES.map((d) => d.id)).size, DIFFERENCES.length, 'no entry is repeated')
  })
  const counts = new Map<string, { run: number; asTier: number; byPolicy: number; failed: string[] }>()
  for (const p of plans) {
    t.test(p.c.id, async (t) => {
      const failed = checkCase(t, p, observed)
      const tally = counts.get(p.c.tier) ?? { run: 0, asTier: 0, byPolicy: 0, failed: [] }
      tally.run++
      if (failed) tally.failed.push(p.c.id)
      else if (p.difference !== undefined) tally.byPolicy++
      else tally.asTier++
      counts.set(p.c.tier, tally)
    })
  }
  t.test('counts', async (t) => {
    for (const tier of ['Severe', 'Ambiguous', 'Acceptable', 'Compliant']) {
      const c = counts.get(tier) ?? { run: 0, asTier: 0, byPolicy: 0, failed: [] }
      t.comment(`${tier}: ${c.run} cases, ${c.asTier} answered as the tier asks, ${c.byPolicy} differing by policy${c.failed.length > 0 ? `, FAILED: ${c.failed.join('; ')}` : ''}`)
    }
    const byReason = new Map<string, number>()
    for (const d of DIFFERENCES) byReason.set(d.reason, (byReason.get(d.reason) ?? 0) + 1)
    for (const [reason, n] of byReason) t.comment(`  ${REASONS[reason as keyof typeof REASONS].title} (${REASONS[reason as keyof typeof REASONS].rfc}): ${n}`)
    t.comment(`replays: ${jobs.length}`)
    t.pass('counted')
  })
}

function observe(reply: Reply): Observed {
  if (reply.problem !== null) return { kind: 'other', problem: reply.problem }
  const res = reply.responses[0]
  if (res === undefined) return { kind: 'other', problem: reply.closed ? 'closed without a response' : 'no response' }
  if (res.statusCode === 200) {
    const [method, url] = JSON.parse(Buffer.from(res.headers['x-seen'] ?? '', 'base64').toString('utf8')) as [string, string]
    return { kind: 'served', closed: reply.closed, method, url }
  }
  if (res.statusCode < 400 || res.headers.connection !== 'close' || !reply.closed || reply.responses.length > 1) {
    return { kind: 'other', problem: `${res.statusCode} with ${reply.closed ? 'the close' : 'the connection open'}, ${reply.responses.length} responses` }
  }
  return { kind: 'refused', status: res.statusCode }
}

/** Whether `o` is what `tier` allows. */
function allowed(tier: Tier, o: Observed): boolean {
  if (o.kind === 'other') return false
  if (tier === 'Severe') return o.kind === 'refused'
  if (tier === 'Ambiguous') return o.kind === 'refused' || o.closed
  if (tier === 'Compliant') return o.kind === 'served'
  return true
}

function matches(outcome: Outcome, o: Observed): boolean {
  return outcome.kind === 'served' ? o.kind === 'served' && !o.closed : o.kind === 'refused' && o.status === outcome.status
}

function describe(o: Observed): string {
  if (o.kind === 'served') return `served ${o.method} ${JSON.stringify(o.url)}${o.closed ? ', then closed' : ''}`
  if (o.kind === 'refused') return `refused with ${o.status}`
  return o.problem
}

/** Asserts every replay of a case; returns whether any failed. */
function checkCase(t: Test, p: Plan, observed: Map<Replay, Observed>): boolean {
  let failed = false
  const d = p.difference
  for (const r of p.replays) {
    const o = observed.get(r) as Observed
    const ok = d === undefined ? allowed(p.c.tier, o) : matches(d.pegasus, o) && !allowed(p.c.tier, o)
    if (!ok) failed = true
    const want = d === undefined ? `as ${p.c.tier} allows` : `${d.pegasus.kind === 'served' ? 'served' : `refused with ${d.pegasus.status}`} (policy: ${d.reason})`
    t.ok(ok, `${r.label}: ${want}`, { got: describe(o), reason: p.c.reason, request: r.pieces.map((piece) => piece.toString('latin1')) })
  }
  return failed
}

if (!existsSync(CORPUS_DIR)) {
  t.plan(0, `desync-guardian cases not found at ${CORPUS_DIR}: ../shared is absent, so the desync-guardian replay is skipped`)
} else {
  await main()
}
