// Express's own test suite (../shared/peers/express: Express 5.2.1 with its test/ and examples/,
// MIT) run by mocha twice in a temporary copy: on node:http, then with Pegasus preloaded
// (NODE_OPTIONS=--import=dist/.../register.js), so that every server the tests start is a
// pegasus/http server. The two must agree, but for the tests listed in POLICY.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { root } from './helpers/cli.js'

const source = path.join(root, '..', 'shared', 'peers', 'express')
const register = path.join(root, 'dist', 'lib', 'interfaces', 'node', 'register.js')

/**
 * What the suite gives on node:http: Express skips its 4 QUERY-method tests below Node.js 22
 * (its test/support/utils.js shouldSkipQuery) and runs them from 22 on.
 */
const EXPECTED = Number(process.versions.node.split('.')[0]) >= 22 ? { passes: 1260, failures: 0, pending: 0 } : { passes: 1256, failures: 0, pending: 4 }

/**
 * Express tests that fail on Pegasus on purpose, by its HTTP policy (see docs/apps.md on
 * Express's test suite, and docs/conformance.md), with the reason. Each must still fail, and
 * nothing else may.
 */
const POLICY: Record<string, string> = {
  'res when accepting html should escape the url':
    '`Host: http://example.com` is not a valid Host: 400 (RFC 9112 §3.2, a MUST); node:http passes it on',
  'res when accepting html should not render evil javascript links in anchor href (prevent XSS)':
    'the same invalid Host',
  'res when accepting text should encode the url': 'the same invalid Host',
  'express.static() fallthrough when false should 400 when URL malformed':
    '`GET /%` has a malformed %-escape: Pegasus answers 400 itself (RFC 9112 §3, RFC 3986 §2.1), before the app (--permissive-target lets it through)',
  'express.static() fallthrough when true should fall-through when URL malformed': 'the same malformed %-escape: 400, not the 404 the app would give',
}

// Bounds, so that a stalled registry or a hung server fails the file rather than the CI job.
const INSTALL_TIMEOUT = 150_000
const MOCHA_TIMEOUT = 60_000

interface MochaTest {
  fullTitle: string
  err?: { message?: string }
}

interface MochaReport {
  stats: { passes: number; failures: number; pending: number }
  passes: MochaTest[]
  failures: MochaTest[]
  pending: MochaTest[]
}

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  output: string
}

/** Runs a command to its end (or its time limit), its output kept for a failure message. */
function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeout: number): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env, timeout, killSignal: 'SIGKILL' })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text))
    child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text))
    child.on('error', (error) => (output += `\n${error.message}`))
    child.on('close', (code, signal) => resolve({ code, signal, output }))
  })
}

/**
 * The environment without tap's variables, so that npm and mocha run as they would outside it.
 * (tap's process tracker still follows them: the coverage of Pegasus's files counts, and files
 * outside the project do not.)
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    const tap = name.startsWith('_TAPJS_') || name.startsWith('TAP')
    if (!tap && name !== 'NODE_OPTIONS' && name !== 'NODE_V8_COVERAGE') env[name] = value
  }
  return env
}

function tail(text: string): string {
  return text.length > 3000 ? `...${text.slice(-3000)}` : text
}

function summary(report: MochaReport): string {
  const { passes, failures, pending } = report.stats
  return `${passes} passing, ${failures} failing, ${pending} pending`
}

if (!existsSync(path.join(source, 'package.json'))) {
  t.plan(0, `Express's test suite is not at ${source} (../shared/peers/express): skipped`)
} else {
  // A cold npm cache on a slow runner: more than tap's 120 s may be needed (it takes ~15 s).
  t.setTimeout(INSTALL_TIMEOUT + 2 * MOCHA_TIMEOUT + 60_000)
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pegasus-express-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = cleanEnv()

  /** Mocha as Express's `npm test` runs it, with a JSON report; `preload`: Pegasus's register. */
  async function mocha(t: Test, preload: boolean): Promise<MochaReport | null> {
    const report = path.join(dir, preload ? 'pegasus.json' : 'node.json')
    const args = [
      'node_modules/mocha/bin/mocha.js',
      '--require', 'test/support/env',
      '--check-leaks',
      '--reporter', 'json',
      '--reporter-option', `output=${report}`,
      'test/', 'test/acceptance/',
    ]
    const runEnv = preload ? { ...env, NODE_OPTIONS: `--import=${pathToFileURL(register).href}` } : env
    const result = await run(process.execPath, args, dir, runEnv, MOCHA_TIMEOUT)
    if (!existsSync(report)) {
      t.fail(`mocha gave no report (exit ${result.code ?? result.signal})`, { output: tail(result.output) })
      return null
    }
    return JSON.parse(readFileSync(report, 'utf8')) as MochaReport
  }

  t.test("Express's suite on node:http, then on Pegasus", async (t) => {
    if (!existsSync(register)) {
      t.fail(`${register} is missing: build first (npm run build)`)
      return
    }
    cpSync(source, dir, { recursive: true, filter: (from) => !from.includes(`${path.sep}node_modules`) })
    // Only what the tests load is installed: the linter and the coverage tool are left out.
    const manifestPath = path.join(dir, 'package.json')
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { devDependencies: Record<string, string> }
    delete manifest.devDependencies.eslint
    delete manifest.devDependencies.nyc
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2))
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    const install = await run(npm, ['install', '--no-audit', '--no-fund', '--loglevel=error'], dir, env, INSTALL_TIMEOUT)
    if (install.code !== 0) {
      t.fail(`npm install failed (exit ${install.code ?? install.signal})`, { output: tail(install.output) })
      return
    }

    const onNode = await mocha(t, false)
    const onPegasus = await mocha(t, true)
    if (onNode === null || onPegasus === null) return
    t.comment(`node:http: ${summary(onNode)}`)
    t.comment(`Pegasus:   ${summary(onPegasus)}`)
    for (const failure of onPegasus.failures) {
      const reason = POLICY[failure.fullTitle] ?? 'NOT EXPECTED'
      t.comment(`  failing on Pegasus: ${failure.fullTitle} (${reason}): ${failure.err?.message ?? ''}`)
    }

    t.match(onNode.stats, EXPECTED, "node:http passes Express's suite as expected")
    const policy = Object.keys(POLICY).sort()
    t.same(onPegasus.failures.map((f) => f.fullTitle).sort(), policy, 'on Pegasus, only the tests its policy fails fail')
    t.equal(onPegasus.stats.passes, onNode.stats.passes - policy.length, 'every other test passes on Pegasus')
    t.equal(onPegasus.stats.pending, onNode.stats.pending, 'the same tests are pending')
    const passedOnNode = new Set(onNode.passes.map((p) => p.fullTitle))
    const passedOnPegasus = new Set(onPegasus.passes.map((p) => p.fullTitle))
    const lost = [...passedOnNode].filter((title) => !passedOnPegasus.has(title) && !(title in POLICY))
    t.same(lost, [], 'no test that passes on node:http is missing from the passes on Pegasus')
  })
}
