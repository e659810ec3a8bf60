// The coverage of several test runs together (one per Node.js version): merges tap's istanbul
// JSON reports (.tap/report/coverage-final.json of each run) by location, prints the summary and
// exits 1 when any figure is below its bar: node .ci/coverage-union.mjs BARS FILE...
// BARS: statements,functions,lines,branches in percent, e.g. 100,100,100,99.
import { readFileSync } from 'node:fs'
import libCoverage from 'istanbul-lib-coverage'

const [bars, ...files] = process.argv.slice(2)
const [statements, functions, lines, branches] = bars.split(',').map(Number)
const map = libCoverage.createCoverageMap({})
for (const file of files) map.merge(JSON.parse(readFileSync(file, 'utf8')))
const summary = map.getCoverageSummary()
let ok = true
for (const [name, bar] of Object.entries({ statements, functions, lines, branches })) {
  const { covered, total, pct } = summary[name]
  const below = pct < bar
  if (below) ok = false
  console.log(`${name.padEnd(11)}: ${pct}% (${covered}/${total})${below ? ` below ${bar}%` : ''}`)
}
if (!ok) {
  // What no run covered, file by file.
  for (const file of map.files()) {
    const fc = map.fileCoverageFor(file)
    const uncovered = fc.getUncoveredLines()
    if (uncovered.length > 0) console.log(`  ${file.replace(process.cwd() + '/', '')}: lines ${uncovered.join(', ')}`)
  }
}
process.exit(ok ? 0 : 1)
