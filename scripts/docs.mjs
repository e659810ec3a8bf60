#!/usr/bin/env node
// Writes docs/configuration.md's generated part (between <!-- flags:start --> and
// <!-- flags:end -->) from the flag table in lib/cli/settings.ts: `npm run docs` after changing a
// flag. test/docs.ts fails while the page and the table disagree.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { configurationReference } from '../dist/lib/cli/settings.js'

const page = fileURLToPath(new URL('../docs/configuration.md', import.meta.url))
const START = '<!-- flags:start -->\n'
const END = '<!-- flags:end -->'
const text = readFileSync(page, 'utf8')
const from = text.indexOf(START)
const to = text.indexOf(END)
if (from === -1 || to < from) throw new Error(`${page}: no ${START.trim()} ... ${END} block`)
writeFileSync(page, text.slice(0, from + START.length) + configurationReference() + text.slice(to))
process.stdout.write(`wrote ${page}\n`)
