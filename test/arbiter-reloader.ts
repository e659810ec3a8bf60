// --reload's watcher: changes under a directory, in folders made later too, without
// node_modules and dot folders.
import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { watchTree } from '../lib/cli/reloader.js'
import { sleep, until } from './helpers/arbiter.js'

t.test('changes are reported, folders made later are watched, node_modules and dot folders are not', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pegasus-watch-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'node_modules'))
  mkdirSync(join(dir, '.git'))
  mkdirSync(join(dir, 'lib'))
  const changed: string[] = []
  const stop = watchTree(dir, (path) => changed.push(path))
  t.teardown(stop)
  writeFileSync(join(dir, 'lib', 'a.js'), 'a')
  await until(() => changed.includes(join(dir, 'lib', 'a.js')))
  mkdirSync(join(dir, 'later'))
  await until(() => changed.includes(join(dir, 'later')))
  writeFileSync(join(dir, 'later', 'b.js'), 'b')
  await until(() => changed.includes(join(dir, 'later', 'b.js')))
  // A folder already watched that changes (its times) is not watched twice.
  utimesSync(join(dir, 'lib'), new Date(), new Date(0))
  await until(() => changed.includes(join(dir, 'lib')))
  writeFileSync(join(dir, 'node_modules', 'x.js'), 'x')
  writeFileSync(join(dir, '.git', 'HEAD'), 'x')
  writeFileSync(join(dir, '.env'), 'x')
  // A file gone before it is looked at is still a change.
  writeFileSync(join(dir, 'gone.js'), 'x')
  unlinkSync(join(dir, 'gone.js'))
  await until(() => changed.includes(join(dir, 'gone.js')))
  await sleep(100)
  t.notOk(changed.some((path) => path.includes('node_modules') || path.includes('.git') || path.includes('.env')), 'nothing from the ignored ones')
})

t.test('a directory that cannot be watched is left out', async (t) => {
  const stop = watchTree(join(tmpdir(), 'pegasus-no-such-dir'), () => {})
  stop()
  t.pass()
})
