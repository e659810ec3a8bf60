// The documentation stays true to the code: docs/configuration.md's flag reference is the one
// the flag table makes (a flag added, renamed or reworded without `npm run docs` fails here),
// every relative link and anchor resolves, and the README stays a first contact.
import t from 'tap'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { configurationReference } from '../lib/cli/settings.js'
import { root } from './helpers/cli.js'

const page = readFileSync(join(root, 'docs', 'configuration.md'), 'utf8')

t.test("docs/configuration.md has the flag table's reference, as `npm run docs` writes it", async (t) => {
  const start = page.indexOf('<!-- flags:start -->\n')
  const end = page.indexOf('<!-- flags:end -->')
  t.ok(start !== -1 && end > start, 'the generated block is marked')
  const block = page.slice(start + '<!-- flags:start -->\n'.length, end)
  t.equal(block, configurationReference(), 'the same as the flag table makes it (run `npm run docs`)')
})

t.test('every flag, its environment variable and its config key are on the page', async (t) => {
  const reference = configurationReference()
  const flags = [...reference.matchAll(/^\| `(--[a-z-]+)` \| (`PEGASUS_[A-Z_]+`|-) \|/gm)].map((m) => m[1])
  t.ok(flags.length >= 45, `${flags.length} flags in the table`)
  for (const flag of flags) t.ok(page.includes(`\`${flag}\``), `${flag} documented`)
  t.ok(page.includes('`PEGASUS_WORKERS`') && page.includes('`forwardedAllowIps`'))
})

t.test('every relative link and anchor of README.md, docs/ and benchmarks/README.md resolves', async (t) => {
  const check = spawnSync(process.execPath, [join(root, 'scripts', 'check-doc-links.mjs')], { encoding: 'utf8' })
  t.equal(check.status, 0, check.stdout + check.stderr)
  t.match(check.stdout, /0 broken/)
})

t.test('the link checker finds a missing file, an anchor into a file that is not Markdown, a missing heading', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pegasus-links-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'docs'))
  mkdirSync(join(dir, 'benchmarks'))
  writeFileSync(join(dir, 'README.md'), '# Top\n\n[ok](docs/a.md#a-page) [gone](docs/nothere.md) [dir](docs#x) [anchor](docs/a.md#nothing) [web](https://example.com)\n')
  writeFileSync(join(dir, 'docs', 'a.md'), '# A page\n\n[back](../README.md#top)\n')
  writeFileSync(join(dir, 'benchmarks', 'README.md'), '# Benchmarks\n')
  const check = spawnSync(process.execPath, [join(root, 'scripts', 'check-doc-links.mjs'), dir], { encoding: 'utf8' })
  t.equal(check.status, 1)
  t.match(check.stdout, /README\.md: \(docs\/nothere\.md\): no such file docs\/nothere\.md/)
  t.match(check.stdout, /README\.md: \(docs#x\): an anchor into a file that is not Markdown/)
  t.match(check.stdout, /README\.md: \(docs\/a\.md#nothing\): no heading #nothing in docs\/a\.md/)
  t.match(check.stdout, /5 relative links in 3 files, 3 broken/)
})

t.test('the README is a first contact: at most 300 lines, with the two set-up commands', async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const lines = readme.split('\n').length
  t.ok(lines <= 300, `${lines} lines`)
  t.ok(readme.includes('npm install && node dist/cli.js'), 'npm install && node dist/cli.js serves the echo app')
  t.ok(readme.includes('npm test'))
})
