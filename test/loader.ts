import t, { type Test } from 'tap'
import { fileURLToPath } from 'node:url'
import { loadApp, LoadError } from '../lib/loader.js'

const apps = fileURLToPath(new URL('./apps', import.meta.url))

/** The name of the function loadApp returns for `spec`, looked up in test/apps. */
async function loadedName(spec: string, cwd = apps): Promise<string> {
  return ((await loadApp(spec, cwd)).app as () => void).name
}

/** The LoadError message loadApp rejects with for `spec`. */
async function loadError(t: Test, spec: string): Promise<string> {
  const error = await loadApp(spec, apps).then(
    () => t.fail(`${spec} loaded`),
    (error: unknown) => error,
  )
  t.type(error, LoadError)
  t.equal((error as Error).name, 'LoadError')
  const message = (error as Error).message
  t.notMatch(message, /\n/, 'one line')
  return message
}

t.test('ES modules', async (t) => {
  t.equal(await loadedName('esm.mjs:app'), 'app', 'named export')
  t.equal(await loadedName('esm.mjs'), 'esmDefault', 'default export when APP is left out')
  t.equal(await loadedName('esm.mjs:'), 'esmDefault', 'default export when APP is empty')
  t.equal(await loadedName('esm.mjs:default'), 'esmDefault', 'default export by name')
  t.equal(await loadedName('plain.js'), 'plainJs', '.js under "type": "module"')
})

t.test('the extension may be left out', async (t) => {
  t.equal(await loadedName('esm:app'), 'app', '.mjs')
  t.equal(await loadedName('plain'), 'plainJs', '.js')
  t.equal(await loadedName('cjs'), 'cjsDefault', '.cjs')
  t.equal(await loadedName('twin'), 'twinJs', '.js is tried before .mjs')
  t.equal(await loadedName('twin.mjs'), 'twinMjs', 'the path as given comes first')
})

t.test('paths are relative to cwd, or absolute', async (t) => {
  const root = fileURLToPath(new URL('..', import.meta.url))
  t.equal(await loadedName('test/apps/esm:app', root), 'app')
  t.equal(await loadedName('./apps/../apps/esm.mjs:app', fileURLToPath(new URL('.', import.meta.url))), 'app')
  t.equal(await loadedName(`${apps}/esm.mjs:app`, '/'), 'app')
})

t.test('CommonJS modules', async (t) => {
  t.equal(await loadedName('cjs.cjs'), 'cjsDefault', 'module.exports is the default export')
  t.equal(await loadedName('cjs.cjs:handler'), 'cjsHandler', 'a named export node detects')
  t.equal(await loadedName('cjs-object.cjs:app'), 'app', 'a property of module.exports node cannot detect')
  t.equal(await loadedName('transpiled.cjs'), 'transpiledDefault', 'exports.default of a compiled module')
})

t.test('a module that is not there', async (t) => {
  t.equal(await loadError(t, 'nope:app'), `Cannot find module ${apps}/nope (nor with .js, .mjs, .cjs)`)
  t.equal(await loadError(t, '.:app'), `Cannot find module ${apps} (nor with .js, .mjs, .cjs)`, 'a directory is no module')
  t.equal(await loadError(t, ':app'), "No module in ':app': expected MODULE:APP")
})

t.test('a module that throws while loading', async (t) => {
  t.equal(await loadError(t, 'throws.mjs'), `Cannot load module ${apps}/throws.mjs: boom while loading`, 'first line only')
  t.equal(await loadError(t, 'throws-string'), `Cannot load module ${apps}/throws-string.mjs: a bare string`)
  t.match(await loadError(t, 'syntax'), new RegExp(`^Cannot load module ${apps}/syntax\\.mjs: Unexpected token`))
})

t.test('a missing export lists the function exports there are', async (t) => {
  t.equal(await loadError(t, 'esm:nope'), `Module ${apps}/esm.mjs has no export 'nope'; its function exports: app, default`)
  t.equal(
    await loadError(t, 'cjs-object:nope'),
    `Module ${apps}/cjs-object.cjs has no export 'nope'; its function exports: app, other`,
    'properties of module.exports count',
  )
  t.equal(await loadError(t, 'values'), `Module ${apps}/values.mjs has no export 'default'; it exports no functions`)
})

t.test('an export that is neither a function nor an app object says what it is', async (t) => {
  const esm = `${apps}/esm.mjs`
  const not = 'is not a function or an app object but'
  t.equal(await loadError(t, 'esm:notFunction'), `Export 'notFunction' of ${esm} ${not} a number (42)`)
  t.equal(await loadError(t, 'esm:text'), `Export 'text' of ${esm} ${not} a string ("hello")`)
  t.equal(await loadError(t, 'esm:nothing'), `Export 'nothing' of ${esm} ${not} null`)
  t.equal(await loadError(t, 'esm:list'), `Export 'list' of ${esm} ${not} an array`)
  t.equal(await loadError(t, 'cjs-object:port'), `Export 'port' of ${apps}/cjs-object.cjs ${not} a number (8080)`, 'a property of module.exports')
})

t.test('an object export is loaded as it is (auto decides what it is), with the module\'s upgrade export', async (t) => {
  const loaded = await loadApp('esm:config', apps)
  t.type(loaded.app, 'object')
  t.equal(loaded.upgrade, null, 'esm.mjs exports no upgrade')
  const chat = await loadApp('chat', apps)
  t.equal(typeof chat.upgrade, 'function', "the module's upgrade export comes with its app")
  const named = await loadApp('chat:upgrade', apps)
  t.equal((named.app as () => void).name, 'upgrade', 'an app named upgrade is the app')
  t.equal(named.upgrade, null, 'and not its own upgrade handler')
})
