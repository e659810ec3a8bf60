// Binds: parseBind/formatBind; Server.listen(bind) on several tcp binds at once, unix: sockets
// (served to curl --unix-socket and node's client, umask, removed on close, a stale file
// replaced, a live one or any other file left alone), fd:// sockets inherited as systemd passes
// them (a python3 wrapper execs node with a listening socket at fd 3), reusePort and the pid
// file helpers.
import t from 'tap'
import { execFile, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  BindError,
  createServer,
  formatBind,
  parseBind,
  prepareUnixSocket,
  removePidFile,
  removeUnixSocket,
  reusePortSupported,
  writePidFile,
  type Bind,
  type Request,
  type Response,
} from '../lib/server.js'
import { memoryLog } from './helpers/server.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pegasus-binds-'))
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
const helpers = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers')

const app = (req: Request, res: Response): void => {
  res.end(`${req.url} from ${req.socket.localPort ?? 'unix'}`)
}

function serve(): ReturnType<typeof createServer> {
  return createServer(app as never, { interface: 'native', log: memoryLog().log })
}

/** GET through node's client, over tcp or a unix socket. */
function get(target: { port?: number; socketPath?: string; host?: string }, urlPath = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', ...target, path: urlPath, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (text: string) => (body += text))
      res.on('end', () => resolve(body))
    })
    req.on('error', reject)
  })
}

/** True when a connection to the unix socket at `socketPath` is accepted. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ path: socketPath }, () => {
      socket.destroy()
      resolve(true)
    })
    socket.on('error', () => resolve(false))
  })
}

async function rejection(promise: Promise<unknown>): Promise<BindError> {
  try {
    await promise
  } catch (error) {
    return error as BindError
  }
  throw new Error('expected a rejection')
}

const hasCurl = spawnSync('curl', ['--version']).status === 0
const hasPython = spawnSync('python3', ['--version']).status === 0

// --- parseBind, formatBind ----------------------------------------------------------------------

t.test('parseBind reads what gunicorn --bind takes; formatBind writes it back', async (t) => {
  const cases: [string, Bind, string][] = [
    ['127.0.0.1:8000', { kind: 'tcp', host: '127.0.0.1', port: 8000 }, '127.0.0.1:8000'],
    ['localhost', { kind: 'tcp', host: 'localhost', port: 8080 }, 'localhost:8080'],
    [':9000', { kind: 'tcp', host: '0.0.0.0', port: 9000 }, '0.0.0.0:9000'],
    ['[::1]:8443', { kind: 'tcp', host: '::1', port: 8443 }, '[::1]:8443'],
    ['[::]', { kind: 'tcp', host: '::', port: 8080 }, '[::]:8080'],
    ['0.0.0.0:0', { kind: 'tcp', host: '0.0.0.0', port: 0 }, '0.0.0.0:0'],
    ['unix:/run/p.sock', { kind: 'unix', path: '/run/p.sock' }, 'unix:/run/p.sock'],
    ['unix:rel.sock', { kind: 'unix', path: 'rel.sock' }, 'unix:rel.sock'],
    ['fd://3', { kind: 'fd', fd: 3 }, 'fd://3'],
  ]
  for (const [text, bind, shown] of cases) {
    t.same(parseBind(text), bind, text)
    t.equal(formatBind(bind), shown)
  }
  const bad: [string, string][] = [
    ['unix:', "no socket path in 'unix:'"],
    ['fd://', "not a file descriptor number in 'fd://'"],
    ['fd://x', "not a file descriptor number in 'fd://x'"],
    ['fd://99999999999999999999', "not a file descriptor number in 'fd://99999999999999999999'"],
    ['[::1', "unclosed '[' in '[::1'"],
    ['[::1]8080', "expected ':PORT' after ']' in '[::1]8080'"],
    ['::1:8080', "an IPv6 address needs brackets: '[::1:8080]'"],
    ['host:http', "port must be 0-65535 in 'host:http'"],
    ['host:65536', "port must be 0-65535 in 'host:65536'"],
    ['host:', "port must be 0-65535 in 'host:'"],
  ]
  for (const [text, message] of bad) {
    t.throws(() => parseBind(text), { name: 'BindError', message }, text)
  }
  t.ok(new BindError('x') instanceof Error)
})

t.test('reusePortSupported: found out by a probe, which agrees with the versions node:net documents (22.12+, 23.1+, 24+)', async (t) => {
  const [major, minor] = process.versions.node.split('.').map(Number)
  const documented = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12)
  t.equal(await reusePortSupported(), documented, `Node.js ${process.versions.node}`)
  t.equal(reusePortSupported(), reusePortSupported(), 'probed once per process')
})

// --- tcp ----------------------------------------------------------------------------------------

t.test('one server on several binds: each serves, address() is the first, addresses() all, close() closes all', async (t) => {
  const server = serve()
  t.throws(() => server.address(), { message: 'The server is not listening' })
  t.same(server.addresses(), [])
  await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 })
  await server.listen('127.0.0.1:0', { backlog: 8 })
  const [first, second] = server.addresses()
  t.match(first, { kind: 'tcp', host: '127.0.0.1' })
  t.match(second, { kind: 'tcp', host: '127.0.0.1' })
  const ports = [first, second].map((bind) => (bind as { port: number }).port)
  t.not(ports[0], ports[1])
  t.same(server.address(), { address: '127.0.0.1', port: ports[0], family: 'IPv4' })
  t.equal(await get({ port: ports[0] }, '/a'), `/a from ${ports[0]}`)
  t.equal(await get({ port: ports[1] }, '/b'), `/b from ${ports[1]}`)
  await server.close()
  for (const port of ports) await t.rejects(get({ port }), { code: 'ECONNREFUSED' }, `${port} is closed`)
})

t.test("listen(port) keeps node's default host; a port in use fails with node's one-line error", async (t) => {
  const server = serve()
  await server.listen(0)
  t.teardown(() => server.close())
  const { port, address } = server.address()
  t.ok(address === '::' || address === '0.0.0.0', address)
  t.equal(await get({ port }, '/any'), `/any from ${port}`)
  const other = serve()
  const error = await rejection(other.listen(`127.0.0.1:${port}`))
  t.equal(error.code, 'EADDRINUSE')
  t.equal(error.message, `listen EADDRINUSE: address already in use 127.0.0.1:${port}`)
  t.same(other.addresses(), [], 'a failed listen adds no listener')
  await other.close()
})

t.test('reusePort: two servers share a port on Node.js >= 22.12; an error naming the version before', async (t) => {
  const a = serve()
  const b = serve()
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  if (!(await reusePortSupported())) {
    const error = await rejection(a.listen('127.0.0.1:0', { reusePort: true }))
    t.equal(error.message, `reusePort needs Node.js >= 22.12 (this is ${process.version})`)
    return
  }
  await a.listen('127.0.0.1:0', { reusePort: true })
  const port = a.address().port
  await b.listen(`127.0.0.1:${port}`, { reusePort: true })
  t.equal(b.address().port, port, 'both listen on the same port')
  const c = serve()
  await t.rejects(c.listen(`127.0.0.1:${port}`), { code: 'EADDRINUSE' }, 'a third without reusePort is refused')
  t.match(await get({ port }), /^\/ from /)
})

t.test('exclusive: under node:cluster a worker with it binds a socket of its own', async (t) => {
  const run = (mode: string): Promise<string[]> =>
    new Promise((resolve, reject) => {
      execFile(process.execPath, [...process.execArgv, path.join(helpers, 'cluster-exclusive.ts'), mode], { timeout: 30000 }, (error, stdout, stderr) =>
        error === null ? resolve(JSON.parse(stdout) as string[]) : reject(new Error(stderr)),
      )
    })
  t.same(await run('shared'), ['listening', 'listening'], 'without it, both workers share the primary\'s socket')
  t.same(await run('exclusive'), ['EADDRINUSE', 'listening'], 'with it, the second bind of the port fails')
})

// --- unix: ----------------------------------------------------------------------------------------

t.test('unix: sockets: served to node and curl, umask applied only around the bind, the file removed on close', async (t) => {
  const socketPath = path.join(dir, 'app.sock')
  const server = serve()
  const umask = process.umask()
  await server.listen({ kind: 'unix', path: socketPath }, { umask: 0o077 })
  t.equal(process.umask(), umask, 'the process umask is back')
  t.equal(fs.statSync(socketPath).mode & 0o777, 0o700, 'created under umask 077')
  t.ok(fs.statSync(socketPath).isSocket())
  t.equal(await get({ socketPath }, '/node'), '/node from unix')
  if (hasCurl) {
    const out = await new Promise<string>((resolve) => execFile('curl', ['-s', '--unix-socket', socketPath, 'http://localhost/curl'], (_e, stdout) => resolve(stdout)))
    t.equal(out, '/curl from unix')
  }
  t.same(server.addresses(), [{ kind: 'unix', path: socketPath }])
  t.throws(() => server.address(), { message: 'The server is not listening' }, 'address() is for tcp only')
  await server.close()
  t.notOk(fs.existsSync(socketPath), 'the socket file is gone')

  const open = path.join(dir, 'open.sock')
  const wide = serve()
  await wide.listen(`unix:${open}`, { umask: 0 })
  t.equal(fs.statSync(open).mode & 0o777, 0o777, 'created under umask 0')
  await wide.close()
})

t.test('unix: a stale socket file (its server was killed) is replaced', async (t) => {
  const socketPath = path.join(dir, 'stale.sock')
  const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve) => child.stdout.once('data', resolve))
  child.kill('SIGKILL')
  await new Promise((resolve) => child.once('exit', resolve))
  t.ok(fs.lstatSync(socketPath).isSocket(), 'the killed server left its socket file')
  t.notOk(await answers(socketPath), 'nothing answers on it')
  const server = serve()
  await server.listen(`unix:${socketPath}`)
  t.equal(await get({ socketPath }, '/fresh'), '/fresh from unix')
  await server.close()
})

t.test('unix: a live socket is refused with EADDRINUSE in one line, and left working', async (t) => {
  const socketPath = path.join(dir, 'live.sock')
  const first = serve()
  await first.listen(`unix:${socketPath}`)
  t.teardown(() => first.close())
  const second = serve()
  const error = await rejection(second.listen(`unix:${socketPath}`))
  t.equal(error.name, 'BindError')
  t.equal(error.code, 'EADDRINUSE')
  t.equal(error.message, `unix:${socketPath}: address already in use (something answers on it)`)
  t.equal(await get({ socketPath }, '/still'), '/still from unix', 'the first server still serves')

  // `prepared`: the check is skipped (the cluster's primary made it); the bind itself fails.
  const unchecked = await rejection(second.listen(`unix:${socketPath}`, { prepared: true }))
  t.equal(unchecked.code, 'EADDRINUSE')
  t.match(unchecked.message, new RegExp(`^unix:${socketPath}: listen EADDRINUSE`))
  await t.rejects(prepareUnixSocket(socketPath), { code: 'EADDRINUSE' }, 'prepareUnixSocket says the same')
})

t.test('unix: a live server whose queue is full (connect fails with EAGAIN) is left alone too', { skip: hasPython ? false : 'python3 is not installed' }, async (t) => {
  const socketPath = path.join(dir, 'full.sock')
  // A server that listens with a queue of one and never accepts.
  const code = `import socket, time\ns = socket.socket(socket.AF_UNIX)\ns.bind(${JSON.stringify(socketPath)})\ns.listen(0)\nprint('up', flush=True)\ntime.sleep(60)`
  const busy = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => busy.kill('SIGKILL'))
  await new Promise((resolve) => busy.stdout.once('data', resolve))
  const fill = net.connect({ path: socketPath })
  fill.on('error', () => {})
  await new Promise((resolve) => fill.once('connect', resolve))
  t.teardown(() => fill.destroy())
  const error = await rejection(serve().listen(`unix:${socketPath}`))
  t.equal(error.code, 'EADDRINUSE')
  t.equal(error.message, `unix:${socketPath}: address already in use (connecting to it fails with EAGAIN)`)
  t.ok(fs.lstatSync(socketPath).isSocket(), 'the socket file is kept')
})

t.test('close() during a bind: the bind is undone and listen() rejects', async (t) => {
  const server = serve()
  const listening = server.listen('127.0.0.1:0')
  const closed = server.close()
  const error = await rejection(listening)
  t.equal(error.message, 'The server was closed while it was binding 127.0.0.1:0')
  await closed
  t.same(server.addresses(), [])
})

t.test('unix: any other file at the path is refused and never deleted', async (t) => {
  const filePath = path.join(dir, 'precious.txt')
  fs.writeFileSync(filePath, 'keep me')
  const server = serve()
  const error = await rejection(server.listen(`unix:${filePath}`))
  t.equal(error.code, 'EEXIST')
  t.equal(error.message, `unix:${filePath}: the path exists and is not a socket (it is left as it is)`)
  t.equal(fs.readFileSync(filePath, 'utf8'), 'keep me')
  removeUnixSocket(filePath)
  t.ok(fs.existsSync(filePath), 'removeUnixSocket leaves a regular file alone')
  const below = path.join(filePath, 'x.sock')
  await t.rejects(prepareUnixSocket(below), { code: 'ENOTDIR', message: new RegExp(`^unix:${below}: ENOTDIR`) })
  t.throws(() => removeUnixSocket(below), { code: 'ENOTDIR' })
})

t.test('prepareUnixSocket and removeUnixSocket, as the arbiter calls them', async (t) => {
  const socketPath = path.join(dir, 'arbiter.sock')
  await prepareUnixSocket(socketPath)
  t.notOk(fs.existsSync(socketPath), 'nothing there: nothing to do')
  const server = serve()
  await prepareUnixSocket(socketPath)
  await server.listen(`unix:${socketPath}`, { prepared: true })
  t.equal(await get({ socketPath }), '/ from unix')
  removeUnixSocket(socketPath)
  t.notOk(fs.existsSync(socketPath), 'removed')
  removeUnixSocket(socketPath)
  t.pass('removing it twice is fine')
  await server.close()
})

t.test('a fetch app over a unix socket: an HTTP/1.0 request without Host gets an http://localhost URL', async (t) => {
  const socketPath = path.join(dir, 'fetch.sock')
  const server = createServer((request: globalThis.Request) => new Response(request.url), { interface: 'fetch', log: memoryLog().log })
  await server.listen(`unix:${socketPath}`)
  t.teardown(() => server.close())
  const reply = await new Promise<string>((resolve) => {
    let data = ''
    const socket = net.connect({ path: socketPath }, () => socket.end('GET /x?y HTTP/1.0\r\n\r\n'))
    socket.setEncoding('latin1')
    socket.on('data', (text: string) => (data += text))
    socket.on('close', () => resolve(data))
  })
  t.match(reply, /^HTTP\/1\.1 200 OK\r\n/)
  t.match(reply, /\r\n\r\nhttp:\/\/localhost\/x\?y$/)
})

// --- fd:// ----------------------------------------------------------------------------------------

/** Starts test/helpers/fd-server.ts with a listening socket at fd 3, as systemd would. */
async function activated(t: Parameters<Parameters<typeof t.test>[1]>[0], where: string): Promise<{ name: string; addresses: string[]; stop(): Promise<number | null> }> {
  const child = spawn('python3', [path.join(helpers, 'socket-activate.py'), where, process.execPath, ...process.execArgv, path.join(helpers, 'fd-server.ts')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.teardown(() => child.kill('SIGKILL'))
  const lines: string[] = []
  let buffered = ''
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      buffered += text
      const parts = buffered.split('\n')
      buffered = parts.pop() as string
      lines.push(...parts)
      if (lines.length >= 2) resolve()
    })
    void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)))
  })
  const stop = (): Promise<number | null> => {
    child.kill('SIGTERM')
    return exited
  }
  return { name: lines[0], addresses: JSON.parse(lines[1]) as string[], stop }
}

t.test('fd://3: a tcp socket passed in as systemd does is served', { skip: hasPython ? false : 'python3 is not installed' }, async (t) => {
  const { name, addresses, stop } = await activated(t, '127.0.0.1:0')
  const port = Number(name.split(':')[1])
  t.same(addresses, [`127.0.0.1:${port}`], 'addresses() gives the socket its address')
  t.equal(await get({ port }, '/via-fd'), `fd /via-fd`)
  t.equal(await get({ port }, '/again'), `fd /again`)
  t.equal(await stop(), 0, 'closed on SIGTERM')
  await t.rejects(get({ port }), { code: 'ECONNREFUSED' }, 'and the socket with it')
})

t.test('fd://3: a unix socket passed in is served, and stays bound for systemd', { skip: hasPython ? false : 'python3 is not installed' }, async (t) => {
  const socketPath = path.join(dir, 'activated.sock')
  const { addresses, stop } = await activated(t, `unix:${socketPath}`)
  t.same(addresses, ['fd://3'])
  t.equal(await get({ socketPath }, '/unix-fd'), 'fd /unix-fd')
  t.equal(await stop(), 0, 'closed on SIGTERM')
  t.ok(fs.lstatSync(socketPath).isSocket(), 'the socket file is systemd\'s: not removed')
})

t.test('fd://N that is no socket of ours fails in one line naming it', async (t) => {
  const server = serve()
  const file = fs.openSync(path.join(dir, 'plain-file'), 'w')
  t.teardown(() => fs.closeSync(file))
  const error = await rejection(server.listen({ kind: 'fd', fd: file }))
  t.equal(error.code, 'EINVAL')
  t.equal(error.message, `fd://${file}: listen EINVAL: invalid argument`)
  await server.close()
})

// --- pid file -------------------------------------------------------------------------------------

t.test('writePidFile and removePidFile', async (t) => {
  const pidPath = path.join(dir, 'pegasus.pid')
  writePidFile(pidPath)
  t.equal(fs.readFileSync(pidPath, 'utf8'), `${process.pid}\n`)
  writePidFile(pidPath)
  t.pass('our own pid file may be written again')

  // Another live process's file: refused, kept.
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
  t.teardown(() => other.kill())
  fs.writeFileSync(pidPath, `${other.pid}\n`)
  t.throws(() => writePidFile(pidPath), {
    message: `pid file ${pidPath} names process ${other.pid}, which is running: is the server already started?`,
  })
  removePidFile(pidPath)
  t.equal(fs.readFileSync(pidPath, 'utf8'), `${other.pid}\n`, 'a file naming another process is not removed')
  t.throws(() => writePidFile(pidPath, 1), /names process/, 'pid 1 is alive too (EPERM counts as alive)')

  // A dead process's file, and one with no pid: stale, replaced.
  other.kill('SIGKILL')
  await new Promise((resolve) => other.once('exit', resolve))
  writePidFile(pidPath)
  t.equal(fs.readFileSync(pidPath, 'utf8'), `${process.pid}\n`, 'a dead process: replaced')
  fs.writeFileSync(pidPath, 'garbage')
  writePidFile(pidPath)
  t.equal(fs.readFileSync(pidPath, 'utf8'), `${process.pid}\n`, 'no pid in it: replaced')

  removePidFile(pidPath)
  t.notOk(fs.existsSync(pidPath), 'removed')
  removePidFile(pidPath)
  t.pass('removing a missing pid file is fine')

  t.throws(() => writePidFile(path.join(dir, 'no', 'such', 'dir.pid')), { message: /^pid file .*dir\.pid: ENOENT/ })
  t.throws(() => writePidFile(dir), { message: new RegExp(`^pid file ${dir}: EISDIR`) })
  t.same(fs.readdirSync(dir).filter((name) => name.endsWith('.tmp')), [], 'no temporary file left behind')
})
