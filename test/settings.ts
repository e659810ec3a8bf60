// The CLI's settings: flags, PEGASUS_* variables and --config files, their precedence and their
// one-line errors; parseSettings itself, then the CLI process for --print-config and exit codes.
import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { configOf, parseSettings, UsageError, type Settings } from '../lib/cli/settings.js'
import { parseBind, formatBind, BindError } from '../lib/binds.js'
import { root, run } from './helpers/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'pegasus-settings-'))

async function settings(argv: string[], env: Record<string, string> = {}): Promise<Settings> {
  const parsed = await parseSettings({ argv, env, cwd: dir, defaultThreads: 4, defaultApp: 'echo.js:app' })
  if (!('settings' in parsed)) throw new Error('help asked for')
  return parsed.settings
}

async function failure(argv: string[], env: Record<string, string> = {}): Promise<string> {
  try {
    await settings(argv, env)
  } catch (error) {
    if (error instanceof UsageError) return error.message
    throw error
  }
  return 'no error'
}

function file(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

t.test('defaults', async (t) => {
  const s = await settings([])
  t.same(s.binds, [{ kind: 'tcp', host: '0.0.0.0', port: 8080 }])
  t.equal(s.workers, 1)
  t.equal(s.balance, 'shared', 'one worker accepts from the shared socket')
  t.equal(s.workerTimeout, 30_000)
  t.equal(s.gracefulTimeout, 30_000)
  t.same(s.forwardedAllowIps, ['127.0.0.1', '::1'])
  t.equal(s.accessLog, true)
  t.equal(s.accessLogfile, '-')
  t.equal(s.logLevel, 'info')
  t.equal(s.threads, 4)
  t.equal(s.app, 'echo.js:app')
  t.same(s.tuning, {})
  t.equal((await settings(['-w', '2'])).balance, 'round-robin', 'round-robin for more than one')
  t.equal((await settings([], { WEB_CONCURRENCY: '3' })).workers, 3, 'WEB_CONCURRENCY')
  t.match(await failure([], { WEB_CONCURRENCY: '0' }), "environment variable WEB_CONCURRENCY: The minimum is 1: '0'")
})

t.test('flags', async (t) => {
  const s = await settings([
    '-w', '3', '-b', '127.0.0.1:9000', '--bind=[::1]:9001', '-bunix:/tmp/p.sock', '--bind', 'fd://3',
    '--umask', '0o007', '--pid', 'run/p.pid', '--certfile', 'c.pem', '--keyfile', 'k.pem', '--cert-reqs', 'required',
    '--ssl-min-version', 'TLSv1.3', '--forwarded-allow-ips', '10.0.0.0/8, 192.168.1.1', '--proxy-protocol', '--permissive-target',
    '--access-logfile', 'a.log', '--error-logfile', '-', '--log-level', 'debug', '--access-log-format', '%(h)s %(s)s',
    '--access-log-json', '--reload', '--max-requests', '100', '--max-requests-jitter', '10', '--max-worker-memory', '512',
    '--worker-timeout', '5', '--graceful-timeout', '0', '--balance', 'reuseport', '--keep-alive', '2', '--max-queue', '7',
    'app.js:app',
  ])
  t.equal(s.workers, 3)
  t.same(s.binds, [
    { kind: 'tcp', host: '127.0.0.1', port: 9000 },
    { kind: 'tcp', host: '::1', port: 9001 },
    { kind: 'unix', path: '/tmp/p.sock' },
    { kind: 'fd', fd: 3 },
  ])
  t.equal(s.umask, 0o007)
  t.equal(s.pid, join(dir, 'run/p.pid'), 'paths are taken from the working directory')
  t.equal(s.certfile, join(dir, 'c.pem'))
  t.equal(s.certReqs, 'required')
  t.equal(s.sslMinVersion, 'TLSv1.3')
  t.same(s.forwardedAllowIps, ['10.0.0.0/8', '192.168.1.1'])
  t.equal(s.proxyProtocol, true)
  t.equal(s.permissiveTarget, true)
  t.equal(s.accessLogfile, join(dir, 'a.log'))
  t.equal(s.errorLogfile, '-')
  t.equal(s.logLevel, 'debug')
  t.equal(s.accessLogFormat, '%(h)s %(s)s')
  t.equal(s.accessLogJson, true)
  t.equal(s.reload, true)
  t.equal(s.maxRequests, 100)
  t.equal(s.maxRequestsJitter, 10)
  t.equal(s.maxWorkerMemory, 512)
  t.equal(s.workerTimeout, 5000)
  t.equal(s.gracefulTimeout, 0)
  t.equal(s.balance, 'reuseport')
  t.same(s.tuning, { keepAliveTimeout: 2000, maxQueue: 7 })
  t.equal(s.app, 'app.js:app')
  t.same((await settings(['--host', '127.0.0.1', '--port', '0', '-b', ':9000'])).binds, [{ kind: 'tcp', host: '0.0.0.0', port: 9000 }], '--bind wins over --host/--port')
  t.same((await settings(['--host', '::1', '--port', '0'])).binds, [{ kind: 'tcp', host: '::1', port: 0 }])
  t.equal((await settings(['--no-access-log'])).accessLog, false)
  t.equal((await settings(['--umask', '22'])).umask, 0o22)
  t.equal((await settings(['--backlog', '-1'])).backlog, undefined)
})

t.test('bad flags: one line each', async (t) => {
  const cases: [string[], string][] = [
    [['-w', '0'], "argument --workers: The minimum is 1: '0'"],
    [['-w'], 'argument -w: expected one argument'],
    [['--bind', 'unix:'], "argument --bind: no socket path in 'unix:'"],
    [['-b', 'fd://x'], "argument --bind: not a file descriptor number in 'fd://x'"],
    [['-b', '::1:80'], "argument --bind: an IPv6 address needs brackets: '[::1:80]'"],
    [['-b', '[::1'], "argument --bind: unclosed '[' in '[::1'"],
    [['-b', '[::1]80'], "argument --bind: expected ':PORT' after ']' in '[::1]80'"],
    [['-b', 'localhost:99999'], "argument --bind: port must be 0-65535 in 'localhost:99999'"],
    [['--umask', '9'], "argument --umask: invalid octal value: '9'"],
    [['--cert-reqs', 'maybe'], "argument --cert-reqs: invalid choice: 'maybe' (choose from 'none', 'optional', 'required')"],
    [['--log-level', 'loud'], "argument --log-level: invalid choice: 'loud'"],
    [['--balance', 'random'], "argument --balance: invalid choice: 'random'"],
    [['--keyfile', 'k.pem'], 'argument --keyfile: needs --certfile'],
    [['--worker-timeout', '-1'], "argument --worker-timeout: The minimum is 0: '-1'"],
    [['--config', ''], "argument --config: no file named: ''"],
    [['--config', 'missing.json'], `config file ${join(dir, 'missing.json')}: ENOENT`],
    [['--reload=maybe'], "argument --reload: ignored explicit argument 'maybe'"],
  ]
  for (const [argv, message] of cases) t.match(await failure(argv), message, argv.join(' '))
})

t.test('PEGASUS_* variables', async (t) => {
  const s = await settings([], {
    PEGASUS_WORKERS: '4',
    PEGASUS_BIND: '127.0.0.1:7000,unix:/tmp/q.sock',
    PEGASUS_RELOAD: 'yes',
    PEGASUS_ACCESS_LOG: 'false',
    PEGASUS_KEEP_ALIVE: '9',
    PEGASUS_APP: 'env.js:app',
    PEGASUS_FORWARDED_ALLOW_IPS: '*',
    PEGASUS_PROPERTY_SEED: '1',
    PEGASUS_PERMISSIVE_TARGET: '1',
  })
  t.equal(s.workers, 4)
  t.same(s.binds, [{ kind: 'tcp', host: '127.0.0.1', port: 7000 }, { kind: 'unix', path: '/tmp/q.sock' }], 'a list is comma-separated')
  t.equal(s.reload, true)
  t.equal(s.accessLog, false)
  t.equal(s.tuning.keepAliveTimeout, 9000)
  t.equal(s.app, 'env.js:app')
  t.same(s.forwardedAllowIps, ['*'])
  t.equal(s.permissiveTarget, true, 'PEGASUS_PERMISSIVE_TARGET')
  t.equal((await settings([])).permissiveTarget, false, 'strict by default')
  t.equal((await settings(['-w', '2', 'cli.js:app'], { PEGASUS_WORKERS: '4', PEGASUS_APP: 'env.js:app' })).workers, 2, 'the command line wins')
  t.equal((await settings(['cli.js:app'], { PEGASUS_APP: 'env.js:app' })).app, 'cli.js:app')
  t.equal(await failure([], { PEGASUS_THREADS: '0' }), "environment variable PEGASUS_THREADS: The minimum is 1: '0'")
  t.equal(await failure([], { PEGASUS_RELOAD: 'perhaps' }), "environment variable PEGASUS_RELOAD: invalid boolean value: 'perhaps' (use true or false)")
  t.equal((await settings([], { PEGASUS_PRINT_CONFIG: '1' })).workers, 1, '--print-config does not come from the environment')
})

t.test('--config files', async (t) => {
  const json = file('p.json', JSON.stringify({ workers: 2, forwardedAllowIps: '10.0.0.1', bind: ['127.0.0.1:7001'], 'keep-alive': 3, reload: true, 'access-log-format': null, app: 'file.js:app' }))
  const s = await settings(['--config', json])
  t.equal(s.workers, 2)
  t.same(s.forwardedAllowIps, ['10.0.0.1'])
  t.same(s.binds, [{ kind: 'tcp', host: '127.0.0.1', port: 7001 }])
  t.equal(s.tuning.keepAliveTimeout, 3000)
  t.equal(s.reload, true)
  t.equal(s.app, 'file.js:app')
  const over = await settings(['--config', json, '-w', '5'], { PEGASUS_WORKERS: '4', PEGASUS_RELOAD: 'false' })
  t.equal(over.workers, 5, 'command line > environment > file')
  t.equal(over.reload, false, 'environment > file')
  t.equal((await settings([], { PEGASUS_CONFIG: json })).workers, 2, 'PEGASUS_CONFIG names the file')

  const mjs = file('p.mjs', "export default { workers: 3, 'log-level': 'warning', module: 'm.js:app' }\n")
  t.equal((await settings(['--config', mjs])).workers, 3, '.mjs default export')
  t.equal((await settings(['--config', mjs])).app, 'm.js:app', 'module is the app')
  const cjs = file('p.cjs', 'module.exports = { threads: 9 }\n')
  t.equal((await settings(['--config', cjs])).threads, 9, '.cjs module.exports')

  t.equal(await failure(['--config', file('bad.json', '{')]), `config file ${join(dir, 'bad.json')}: Expected property name or '}' in JSON at position 1${process.versions.node.startsWith('20') ? '' : ' (line 1 column 2)'}`)
  t.equal(await failure(['--config', file('list.json', '[]')]), `config file ${join(dir, 'list.json')}: not an object of settings`)
  t.equal(await failure(['--config', file('unknown.json', '{"wokers": 2}')]), `config file ${join(dir, 'unknown.json')}: unknown setting 'wokers'`)
  t.equal(await failure(['--config', file('object.json', '{"workers": {"n": 2}}')]), `config file ${join(dir, 'object.json')}: workers: expected a string, number, boolean or list of strings`)
  t.equal(await failure(['--config', file('range.json', '{"workers": 0}')]), `config file ${join(dir, 'range.json')}: workers: The minimum is 1: '0'`)
  t.equal(await failure(['--config', file('list2.json', '{"workers": ["1"]}')]), `config file ${join(dir, 'list2.json')}: workers: expected one value, got a list`)
})

t.test('configOf: --print-config output is a config file that gives the same settings', async (t) => {
  const s = await settings(['-w', '2', '-b', 'unix:/tmp/r.sock', '--umask', '007', '--keep-alive', '2', '--max-queue', '5', '--forwarded-allow-ips', '*', '--ca-certs', 'ca.pem'])
  const printed = configOf(s)
  t.equal(printed['keep-alive'], 2)
  t.equal(printed['limit-request-line'], 8192, 'defaults are printed too')
  t.equal(printed['max-queue'], 5)
  t.equal(printed['limit-pipeline'], 64)
  t.equal(printed['ca-certs'], join(dir, 'ca.pem'))
  const again = await settings(['--config', file('printed.json', JSON.stringify(printed))])
  t.same({ ...again, tuning: {} }, { ...s, tuning: {} })
  t.equal(again.tuning.keepAliveTimeout, 2000)
})

t.test('binds: parse and format', async (t) => {
  for (const text of ['127.0.0.1:80', '[::1]:443', 'unix:/run/p.sock', 'fd://3']) t.equal(formatBind(parseBind(text)), text)
  t.same(parseBind('example.com'), { kind: 'tcp', host: 'example.com', port: 8080 })
  t.same(parseBind('[::]'), { kind: 'tcp', host: '::', port: 8080 })
  t.ok((() => { try { parseBind('x:y') } catch (error) { return error instanceof BindError } return false })(), 'a BindError')
})

t.test('the CLI: --print-config, errors from the environment, help', async (t) => {
  const printed = await run(['--print-config', '-w', '2'])
  t.equal(printed.status, 0)
  t.equal(JSON.parse(printed.stdout).workers, 2)
  t.equal(JSON.parse(printed.stdout).chdir, root)
  const bad = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
    import('node:child_process').then(({ spawn }) => {
      const child = spawn(process.execPath, [`${root}/dist/cli.js`], { env: { ...process.env, PEGASUS_WORKERS: 'many' } })
      let stderr = ''
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
      child.on('close', (status) => resolve({ status, stderr }))
    })
  })
  t.same(bad, { status: 2, stderr: "pegasus: error: environment variable PEGASUS_WORKERS: invalid int value: 'many'\n" })
})

t.test('values as a config file gives them', async (t) => {
  const s = await settings(['--config', file('values.json', JSON.stringify({ 'access-logfile': '-', 'error-logfile': 'e.log', backlog: -1, 'keep-alive': 0 }))])
  t.equal(s.accessLogfile, '-')
  t.equal(s.errorLogfile, join(dir, 'e.log'))
  t.equal(configOf(s).backlog, -1, 'the system default prints as -1')
  t.equal(configOf(s)['keep-alive'], 0)
  t.equal((await settings(['--config', file('named.mjs', 'export const workers = 2\n')])).workers, 2, 'a module without a default export')
  t.equal((await settings(['--config', file('cjs-plain.cjs', 'exports.threads = 3\n')])).threads, 3, 'a module without a default export')
})
