// The CLI's deployment flags, run as a process with real clients: unix sockets with --umask and
// --pid, fd:// from a systemd-like parent, TLS from certificate files, --forwarded-allow-ips,
// access and error log files reopened on SIGUSR1 after logrotate moved them, JSON access lines,
// --config, and the one-line errors of each.
import t from 'tap'
import { execFile, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cli as cliPath, LOCAL, root, run, Running, start } from './helpers/cli.js'
import { makeCerts } from './helpers/certs.js'
import { until } from './helpers/arbiter.js'

const hasCurl = spawnSync('curl', ['--version']).status === 0
const hasPython = spawnSync('python3', ['--version']).status === 0

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'pegasus-deploy-'))
}

function get(options: http.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(options, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (text: string) => (body += text))
      res.on('end', () => resolve({ status: res.statusCode as number, body }))
    })
    req.on('error', reject)
  })
}

t.test('--bind unix: with --umask and --pid: served, and both files gone after SIGTERM', async (t) => {
  const dir = tmp()
  const sock = join(dir, 'p.sock')
  const pid = join(dir, 'p.pid')
  const { cli, port } = await start(t, ['-b', `unix:${sock}`, '-b', '127.0.0.1:0', '--umask', '007', '--pid', pid, '-w', '2', 'test/apps/whoami.mjs'])
  t.match(cli.stdout, `INFO: Listen at "unix:${sock}"\nINFO: Listen at "127.0.0.1:${port}"\n`, 'a line per bind')
  t.equal((statSync(sock).mode & 0o777).toString(8), '770', 'the socket file was made with the umask')
  t.equal(readFileSync(pid, 'utf8').trim(), String(cli.child.pid), 'the pid file names the primary')
  const overUnix = await get({ socketPath: sock, path: '/' })
  t.equal(overUnix.status, 200)
  t.equal((await get({ host: '127.0.0.1', port, path: '/' })).status, 200, 'and over TCP')
  if (hasCurl) {
    const out = await new Promise<string>((resolve, reject) => execFile('curl', ['-s', '--unix-socket', sock, 'http://x/'], (e, o) => (e ? reject(e) : resolve(o))))
    t.ok(JSON.parse(out).pid > 0, 'curl --unix-socket')
  }
  t.equal(await cli.stop('SIGTERM'), 0)
  t.notOk(existsSync(sock), 'the socket file is removed')
  t.notOk(existsSync(pid), 'the pid file is removed')
})

t.test('a stale unix socket file is replaced; a live one is an error, exit 1', async (t) => {
  const dir = tmp()
  const sock = join(dir, 'p.sock')
  // A server killed with SIGKILL leaves its socket file behind.
  const first = new Running(['-b', `unix:${sock}`], root)
  await first.waitFor(/Listen at/)
  const live = await run(['-b', `unix:${sock}`])
  t.equal(live.status, 1)
  t.match(live.stderr, /^ERROR: unix:.*p\.sock: address already in use/m, 'a live socket: one line')
  first.child.kill('SIGKILL')
  for (const pid of spawnSync('pgrep', ['-P', String(first.child.pid)], { encoding: 'utf8' }).stdout.split('\n')) if (pid !== '') process.kill(Number(pid), 'SIGKILL')
  await first.exited
  t.ok(existsSync(sock), 'the killed server left its socket file')
  const { cli } = await startUnix(t, sock)
  t.equal((await get({ socketPath: sock, path: '/' })).status, 200, 'the stale file was replaced')
  await cli.stop('SIGTERM')
  writeFileSync(join(dir, 'plain'), 'not a socket')
  const other = await run(['-b', `unix:${join(dir, 'plain')}`])
  t.equal(other.status, 1)
  t.match(other.stderr, /is not a socket/)
  t.equal(readFileSync(join(dir, 'plain'), 'utf8'), 'not a socket', 'a file that is not a socket is left alone')
})

async function startUnix(t: Parameters<Parameters<typeof t.test>[1]>[0], sock: string): Promise<{ cli: Running }> {
  const cli = new Running(['-b', `unix:${sock}`], root)
  t.teardown(() => void cli.stop('SIGTERM'))
  await cli.waitFor(/INFO: Threads/)
  return { cli }
}

t.test('--bind fd://3 from a systemd-like parent (socket activation)', { skip: hasPython ? false : 'python3 is not installed' }, async (t) => {
  const child = spawn('python3', [join(root, 'test/helpers/socket-activate.py'), '127.0.0.1:0', process.execPath, cliPath, '-b', 'fd://3'], { cwd: root })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text))
  t.teardown(() => void child.kill('SIGTERM'))
  await until(() => /Threads/.test(out))
  const port = Number(/^127\.0\.0\.1:(\d+)$/m.exec(out)?.[1])
  t.match(out, `INFO: Listen at "127.0.0.1:${port}"`, 'the inherited socket, where it listens')
  const answers = await Promise.all(Array.from({ length: 20 }, () => get({ host: '127.0.0.1', port, path: '/', agent: false })))
  t.ok(answers.every((a) => a.status === 200), 'the inherited socket is served')
  const exited = new Promise((resolve) => child.on('close', resolve))
  child.kill('SIGTERM')
  t.equal(await exited, 0)
})

t.test('TLS from --certfile, --keyfile, --ca-certs and --cert-reqs', async (t) => {
  const certs = makeCerts()
  if (typeof certs === 'string') return t.skip(certs)
  const { port } = await start(t, [...LOCAL, '--certfile', certs.files.serverCert, '--keyfile', certs.files.serverKey, 'test/apps/whoami.mjs'])
  const body = await new Promise<string>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path: '/', ca: certs.caCert }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve(text))
    }).on('error', reject)
  })
  t.equal(JSON.parse(body).https, true, 'the app sees an encrypted socket')

  const mutual = await start(t, [...LOCAL, '--certfile', certs.files.serverCert, '--keyfile', certs.files.serverKey, '--ca-certs', certs.files.caCert, '--cert-reqs', 'required'])
  const withCert = await new Promise<number>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: mutual.port, path: '/', ca: certs.caCert, cert: certs.clientCert, key: certs.clientKey }, (res) => {
      res.resume()
      resolve(res.statusCode as number)
    }).on('error', reject)
  })
  t.equal(withCert, 200, 'a client certificate the CA signed is let in')
  const without = await new Promise<string>((resolve) => {
    https.get({ host: '127.0.0.1', port: mutual.port, path: '/', ca: certs.caCert }, (res) => resolve(`answered ${res.statusCode}`)).on('error', (error) => resolve(error.message))
  })
  t.notMatch(without, /^answered/, 'no certificate: no answer')

  const bad = await run([...LOCAL, '--certfile', join(certs.dir, 'missing.crt')])
  t.equal(bad.status, 1)
  t.match(bad.stderr, /^ERROR: .*missing\.crt/m, 'a missing certificate: one line, exit 1')
  t.equal(bad.stderr.trim().split('\n').length, 1)
})

t.test('--forwarded-allow-ips: the client behind a trusted proxy, in the app and the access log', async (t) => {
  const trusted = await start(t, [...LOCAL, 'test/apps/whoami.mjs'])
  const seen = await get({ host: '127.0.0.1', port: trusted.port, path: '/', headers: { 'x-forwarded-for': '203.0.113.7' } })
  t.equal(JSON.parse(seen.body).ip, '203.0.113.7', 'from 127.0.0.1 (the default) the field is believed')
  await trusted.cli.waitFor(/INFO: 203\.0\.113\.7:- - "GET \/ HTTP\/1\.1" 200 OK/)
  const untrusted = await start(t, [...LOCAL, '--forwarded-allow-ips', '10.0.0.0/8', 'test/apps/whoami.mjs'])
  const ignored = await get({ host: '127.0.0.1', port: untrusted.port, path: '/', headers: { 'x-forwarded-for': '203.0.113.7' } })
  t.equal(JSON.parse(ignored.body).ip, '127.0.0.1', 'from a peer not in the list it is not')
})

t.test('log files: access and error lines, reopened on SIGUSR1 after logrotate moved them', async (t) => {
  const dir = tmp()
  const access = join(dir, 'access.log')
  const errors = join(dir, 'error.log')
  const cli = new Running([...LOCAL, '-w', '2', '--access-logfile', access, '--error-logfile', errors, '--log-level', 'debug'], root)
  t.teardown(() => void cli.stop('SIGTERM'))
  await until(() => existsSync(errors) && /Threads: \d+/.test(readFileSync(errors, 'utf8')))
  const port = Number(/Listen at "127\.0\.0\.1:(\d+)"/.exec(readFileSync(errors, 'utf8'))?.[1])
  t.equal(cli.stdout, '', 'nothing on stdout: the startup lines went to the error log')
  for (let i = 0; i < 5; i++) await get({ host: '127.0.0.1', port, path: `/before/${i}`, agent: false })
  await until(() => existsSync(access) && readFileSync(access, 'utf8').split('\n').length > 5)
  renameSync(access, `${access}.1`)
  renameSync(errors, `${errors}.1`)
  process.kill(cli.child.pid as number, 'SIGUSR1')
  await until(() => existsSync(errors) && /reopen/.test(readFileSync(errors, 'utf8')))
  // Every worker has reopened once the arbiter has passed it on and each said so.
  await until(() => (readFileSync(errors, 'utf8').match(/Worker \(pid:\d+\) reopened/g) ?? []).length === 2)
  for (let i = 0; i < 5; i++) await get({ host: '127.0.0.1', port, path: `/after/${i}`, agent: false })
  await until(() => existsSync(access) && readFileSync(access, 'utf8').split('\n').length > 5)
  const before = readFileSync(`${access}.1`, 'utf8')
  const after = readFileSync(access, 'utf8')
  t.equal((before.match(/GET \/before\//g) ?? []).length, 5, 'the moved file has the lines from before')
  t.notMatch(before, /\/after\//, 'and none after')
  t.equal((after.match(/GET \/after\//g) ?? []).length, 5, 'the new file has the lines after')
  t.match(readFileSync(`${errors}.1`, 'utf8'), /INFO: Listen at/, 'the moved error log has the startup lines')
  t.equal(await cli.stop('SIGTERM'), 0)
})

t.test('--access-log-json and --access-log-format', async (t) => {
  const json = await start(t, [...LOCAL, '--access-log-json'])
  await get({ host: '127.0.0.1', port: json.port, path: '/j?x=1', headers: { 'user-agent': 'tester' } })
  const [line] = await json.cli.waitFor(/^\{.*"url":"\/j\?x=1".*\}$/m)
  const entry = JSON.parse(line)
  t.equal(entry.status, 200)
  t.equal(entry.user_agent, 'tester')
  const custom = await start(t, [...LOCAL, '--access-log-format', '%(h)s %(m)s %(U)s %(s)s %({x-id}i)s'])
  await get({ host: '127.0.0.1', port: custom.port, path: '/c', headers: { 'x-id': 'abc' } })
  await custom.cli.waitFor(/^127\.0\.0\.1 GET \/c 200 abc$/m)
  t.pass('the custom format')
  const bad = await run([...LOCAL, '--access-log-format', '%(nope)s'])
  t.equal(bad.status, 1)
  t.equal(bad.stderr.trim().split('\n').length, 1, 'a format that does not compile: one line, exit 1')
})

t.test('bad log paths and --config: one line, exit 1 or 2', async (t) => {
  const missingDir = await run([...LOCAL, '--access-logfile', '/nonexistent/dir/access.log'])
  t.equal(missingDir.status, 1)
  t.match(missingDir.stderr, /^ERROR: .*\/nonexistent\/dir\/access\.log/)
  t.equal(missingDir.stderr.trim().split('\n').length, 1)
  const dir = tmp()
  writeFileSync(join(dir, 'pegasus.json'), JSON.stringify({ workers: 2, bind: ['127.0.0.1:0'], 'access-log': false }))
  const { cli, port } = await start(t, ['--config', join(dir, 'pegasus.json'), 'test/apps/whoami.mjs'])
  // "Listen at" comes with the first worker; the second may still be booting on a busy machine:
  // new connections until both have answered, for at most 20 s.
  const pids = new Set<number>()
  const until = Date.now() + 20_000
  while (pids.size < 2 && Date.now() < until) pids.add(JSON.parse((await get({ host: '127.0.0.1', port, path: '/', agent: false })).body).pid)
  t.equal(pids.size, 2, 'two workers from the config file')
  await cli.stop('SIGTERM')
  t.notMatch(cli.stdout, /"GET \/ HTTP/, 'no access lines: access-log false')
})
