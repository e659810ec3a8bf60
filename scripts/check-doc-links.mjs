// Checks that every relative link and anchor in README.md, docs/*.md and benchmarks/README.md
// resolves: the file exists, and a #fragment names a heading of that file (GitHub's slugs) or
// an explicit <a id> / <a name>. External links (http:, https:, mailto:) are not fetched.
// Usage: node scripts/check-doc-links.mjs [ROOT]   (exit 1 and one line a broken link)
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

// (Another tree's root may be given: test/docs.ts checks that broken links are found.)
const root = process.argv[2] === undefined ? resolve(dirname(fileURLToPath(import.meta.url)), '..') : resolve(process.argv[2])
const files = [
  'README.md',
  'benchmarks/README.md',
  ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`),
]

/** GitHub's heading anchor: lower-case, punctuation dropped, spaces to hyphens, repeats numbered. */
function slugger() {
  const seen = new Map()
  return (text) => {
    const base = text
      .replace(/`/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    return count === 0 ? base : `${base}-${count}`
  }
}

/** Markdown text without fenced code blocks and inline code spans. */
function prose(text) {
  return text.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '')
}

const anchorsCache = new Map()
function anchors(file) {
  if (anchorsCache.has(file)) return anchorsCache.get(file)
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '')
  const slug = slugger()
  const set = new Set()
  for (const [, heading] of text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) set.add(slug(heading))
  for (const [, id] of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) set.add(id)
  anchorsCache.set(file, set)
  return set
}

let broken = 0
let checked = 0
for (const name of files) {
  const file = join(root, name)
  const text = prose(readFileSync(file, 'utf8'))
  for (const [, target] of text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    if (/^[a-z]+:/i.test(target)) continue
    checked++
    const [path, fragment] = target.split('#', 2)
    const dest = path === '' ? file : resolve(dirname(file), decodeURI(path))
    const where = `${name}: (${target})`
    if (!existsSync(dest)) {
      console.log(`${where}: no such file ${relative(root, dest)}`)
      broken++
    } else if (fragment !== undefined) {
      if (statSync(dest).isDirectory() || !dest.endsWith('.md')) {
        console.log(`${where}: an anchor into a file that is not Markdown`)
        broken++
      } else if (!anchors(dest).has(fragment)) {
        console.log(`${where}: no heading #${fragment} in ${relative(root, dest)}`)
        broken++
      }
    }
  }
}
console.log(`${checked} relative links in ${files.length} files, ${broken} broken`)
process.exitCode = broken === 0 ? 0 : 1
