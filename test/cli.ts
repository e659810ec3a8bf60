// The command line as a user meets it: `node dist/cli.js` spawned as a process (the suite builds
// dist first), talked to over real sockets with fetch, raw net sockets and curl.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { execFile, spawnSync } from 'node:child_process'
import { connect, createServer } from 'node:net'
import { defaultMaxConnections, defaultThreads } from '../lib/server.js'
import { LOCAL, root, run, Running, start } from './helpers/cli.js'

const threads = defaultThreads()
const hasCurl = spawnSync('curl', ['--version']).status === 0

function curl(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['--silent', '--show-error', ...args], (error, stdout) => (error ? reject(error) : resolve(stdout)))
  })
}

/**
 * One request on its own connection; resolves with the response and the client's port once the
 * server ends. The client half-closes after its request unless `halfClose` is false (a FIN
 * aborts the request's signal).
 */
function raw(port: number, request: string, halfClose = true): Promise<{ response: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    let response = ''
    const socket = connect(port, '127.0.0.1', () => (halfClose ? socket.end(request) : socket.write(request)))
    socket.setEncoding('latin1')
    socket.on('data', (text: string) => (response += text))
    socket.on('end', () => resolve({ response, localPort: socket.localPort as number }))
    socket.on('error', reject)
  })
}

t.test("-h and --help print the help: argparse's layout, wrapped (80 columns, COLUMNS wins, never over 100), with examples", async (t) => {
  const help = `usage: pegasus [-h] [--version] [--chdir DIR] [--host ADDR] [--port PORT] [--threads INT] [--backlog INT] [--interface {auto,native,node,fetch}] [-w INT] [-b ADDR] [--config FILE] [MODULE:APP]

A blazingly fast HTTP/1.1 web server.

positional arguments:
  MODULE:APP     Application to be used. Uses an echo app by default.

options:
  -h, --help     show this help message and exit
  --version      show Pegasus's version and exit
  --chdir DIR    Change directory. Uses the current working directory by default. [${root}]
  --host ADDR    Address to which the server will bind. [0.0.0.0]
  --port PORT    Port to which the server will bind. [8080]
  --threads INT  The maximum number of app calls in flight (a call whose request body is still arriving is not counted). Uses --max-connections's default, so that an app that awaits I/O is never throttled; overload gets 503 when the event loop saturates. [${threads}]
  --backlog INT  The maximum number of pending connections before refusing new connections.
                 If negative, a default reasonable value is chosen by the system. [1024]
  --no-access-log
                 Do not log a line for each request.
  --interface {auto,native,node,fetch}
                 How the app is called: native (Pegasus's req and res), node (node:http's IncomingMessage and ServerResponse), fetch (web Request and Response), or auto: chosen by the app's shape. [auto]
  --config FILE  Read settings from a .json file, or a .js/.mjs/.cjs module exporting an object, its keys the flags' names (\`workers\`, \`forwarded-allow-ips\` or \`forwardedAllowIps\`). The command line and PEGASUS_* environment variables override it. [None]
  --print-config
                 Print the resolved settings as JSON (usable as a --config file) and exit.

workers:
  -w INT, --workers INT
                 The number of worker processes, each serving the app on its own event loop, supervised by a primary process. Uses $WEB_CONCURRENCY when set. [1]
  --worker-timeout SECONDS
                 A worker whose event loop is blocked this long is killed and replaced (WORKER TIMEOUT). 0: never. [30]
  --graceful-timeout SECONDS
                 After SIGTERM (or a reload, or a recycled worker), seconds requests in flight get to finish before their connections are closed. [30]
  --max-requests INT
                 A worker is replaced after serving this many requests (one worker at a time). 0: never. [0]
  --max-requests-jitter INT
                 Each worker's --max-requests is moved by a random amount up to this, so workers are not replaced together. [0]
  --max-worker-memory MIB
                 A worker whose resident memory (RSS) grows past this many MiB is replaced. 0: no limit. [0]
  --reload       Development: restart the workers when a file under --chdir changes (node_modules and dot folders aside).
  --balance {round-robin,shared,reuseport}
                 How connections reach workers: node:cluster's round-robin through the primary, one shared listening socket every worker accepts from, or a socket per worker with SO_REUSEPORT (Node.js >= 22.12). Uses shared for one worker, round-robin for more by default. [None]

binds:
  -b ADDR, --bind ADDR
                 Where to listen, repeatable: HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N (a socket passed by systemd). Wins over --host and --port. [None]
  --umask INT    The umask unix socket files are created with, octal (0o007 or 007). Uses the process's by default. [None]
  --pid FILE     Write the primary process's pid to this file (removed on exit). [None]

TLS:
  --certfile FILE
                 Serve HTTPS with this PEM certificate (chain), its private key in --keyfile or in this file. [None]
  --keyfile FILE
                 The certificate's PEM private key. [None]
  --ca-certs FILE
                 PEM certificates of the authorities client certificates are checked against. [None]
  --cert-reqs {none,optional,required}
                 Client certificates: not asked for, asked for (the app sees whether one was valid), or required (the handshake fails without a valid one). [none]
  --ssl-ciphers CIPHERS
                 OpenSSL cipher list for TLS 1.2 connections. Uses Node.js's default by default. [None]
  --ssl-min-version {TLSv1.2,TLSv1.3}
                 The oldest TLS version accepted. [TLSv1.2]

behind a proxy:
  --forwarded-allow-ips LIST
                 Comma-separated addresses or CIDRs of proxies whose X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and Forwarded fields are believed; '*' trusts every peer. [127.0.0.1,::1]
  --proxy-protocol
                 Every connection from a --forwarded-allow-ips peer starts with a PROXY protocol header (v1 or v2), as load balancers send; the client's address is taken from it.

logs:
  --access-logfile FILE
                 Where access lines go: '-' for standard output, or a file (reopened on SIGUSR1). [-]
  --error-logfile FILE
                 Where the other lines go: '-' for standard output (INFO) and standard error (WARN and worse), or a file (reopened on SIGUSR1). [-]
  --log-level {debug,info,warning,error,critical}
                 The least severe lines written (access lines aside). [info]
  --access-log-format FORMAT
                 An access line made of gunicorn's atoms: %(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s", T D M L p, %({header}i)s, %({header}o)s, %({name}e)s. Uses the line shown in the README by default. [None]
  --access-log-json
                 Write each access line as one JSON object.

limits and timeouts:
  --permissive-target
                 Let request targets through that have bytes outside RFC 3986, for legacy clients: " < > # and non-ASCII bytes, malformed %-escapes. Control characters, spaces, DEL and %00 stay refused.
  --limit-request-line INT
                 The maximum size of the request line in bytes; a longer one gets 414 when the target is what is too long, else 400. [8192]
  --limit-request-fields INT
                 The maximum number of header fields in a request; more get 431. [100]
  --limit-request-field-size INT
                 The maximum size of one header field in bytes; a larger one gets 431. [8192]
  --limit-request-head INT
                 The maximum size of a request head (request line and fields) in bytes; a larger one gets 431. [16384]
  --limit-request-body INT
                 The maximum size of a request body in bytes; a larger one gets 413. [1073741824]
  --limit-pipeline INT
                 The maximum number of requests in flight on one connection before it stops being read. [64]
  --buffer-body INT
                 Request bodies up to this many bytes are read whole before the app is called, so a slow client holds no app call. 0: every body is read by the app as it arrives. [65536]
  --max-connections INT
                 The maximum number of connections a worker keeps open: past it the oldest idle one is closed, and when none is idle new ones wait unread until one closes. By default the open-file limit (ulimit -n) less an eighth of it (at least 128) kept for the app. [${defaultMaxConnections()}]
  --max-queue INT
                 When every app call is busy and this many wait, a new request gets 503 with Retry-After instead of waiting. Off: connections stop being read instead. [off]
  --timeout SECONDS
                 Seconds an app call may take to start its response; then it gets 503 and the connection closes. 0: no limit. [30]
  --header-timeout SECONDS
                 Seconds a request head may take to arrive; then 408 and the connection closes. 0: no limit. [10]
  --body-timeout SECONDS
                 Seconds a request body may stall (408), or a client may take none of its response, before the connection closes. 0: no limit. [30]
  --min-data-rate INT
                 Bytes per second a client must average while it sends a request body (else 408) or reads a response (else the connection closes), once the grace period is over. 0: no minimum. [240]
  --min-data-rate-grace SECONDS
                 Seconds a request body or a response may take before --min-data-rate applies. [5]
  --keep-alive SECONDS
                 Seconds an idle keep-alive connection stays open. 0: no limit. [5]

examples:
  An Express (or any node:http) app, exported as the module's default or as \`app\`:
    pegasus --host 127.0.0.1 --port 3000 app.js
  A Hono app or any fetch handler (export default app):
    pegasus app.mjs
  An app that calls listen() itself (NestJS, socket.io, Hapi):
    node --import pegasus/register app.js
  Four workers on a unix socket behind nginx, believing its X-Forwarded-* fields:
    pegasus -w 4 -b unix:/run/app.sock --forwarded-allow-ips 127.0.0.1 app.js
  HTTPS on port 8443:
    pegasus --certfile cert.pem --keyfile key.pem -b 0.0.0.0:8443 app.js
`
  // The words above, in this order, whatever the width they are wrapped to.
  const words = (text: string): string => text.split(/\s+/).join(' ').trim()
  const env = (columns?: string): Record<string, string | undefined> => ({ ...process.env, COLUMNS: columns })
  const widest = (text: string): number => Math.max(...text.split('\n').map((line) => line.length))
  for (const flag of ['-h', '--help']) {
    const result = await run([flag], root, env())
    t.equal(result.status, 0)
    t.equal(result.stderr, '')
    t.equal(words(result.stdout), words(help), `${flag}: every word of the help, in order`)
    t.ok(widest(result.stdout) <= 80, `${flag}: not a terminal: 80 columns at most (${widest(result.stdout)})`)
  }
  const wide = (await run(['--help'], root, env('100'))).stdout
  t.equal(words(wide), words(help))
  t.ok(widest(wide) <= 100 && widest(wide) > 90, `COLUMNS=100: up to 100 columns (${widest(wide)})`)
  t.ok(widest((await run(['--help'], root, env('300'))).stdout) <= 100, 'never over 100 columns')
  const narrow = (await run(['--help'], root, env('60'))).stdout
  t.ok(widest(narrow) <= 60, `COLUMNS=60 (${widest(narrow)})`)
  t.equal(words(narrow), words(help))
  // argparse's usage: whole [groups] to a line, the next lines under the first group.
  const usage = wide.slice(0, wide.indexOf('\n\n')).split('\n')
  t.match(usage[0], /^usage: pegasus \[-h\] \[--version\]/)
  for (const line of usage.slice(1)) t.match(line, /^ {15}\[.*\]$/)
  t.match(wide, /\n  --threads INT  The maximum number of app calls in flight/, 'the help beside a short flag')
  t.match(wide, /\n  --worker-timeout SECONDS\n {17}A worker whose event loop/, 'and below a long one')
  const elsewhere = `${root}/test`
  t.match(words((await run(['-h'], elsewhere)).stdout), `by default. [${elsewhere}] --host`, 'the real cwd')
})

t.test("--version: Pegasus's version (package.json's) and Node.js's", async (t) => {
  const version = (JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as { version: string }).version
  t.same(await run(['--version']), { status: 0, stdout: `pegasus ${version} (Node.js ${process.version})\n`, stderr: '' })
})

t.test('bad arguments: exit status 2 and one line', async (t) => {
  const cases: [string[], string][] = [
    [['--port', '70000'], "argument --port: Port must be 0-65535: '70000'"],
    [['--port=x'], "argument --port: Port must be 0-65535: 'x'"],
    [['--port', '80.5'], "argument --port: Port must be 0-65535: '80.5'"],
    [['--port', '-1'], "argument --port: Port must be 0-65535: '-1'"],
    [['--threads', '0'], "argument --threads: The minimum is 1: '0'"],
    [['--threads=-3'], "argument --threads: The minimum is 1: '-3'"],
    [['--threads', 'x'], "argument --threads: invalid int value: 'x'"],
    [['--backlog', 'x'], "argument --backlog: invalid int value: 'x'"],
    [['--backlog='], "argument --backlog: invalid int value: ''"],
    [['--limit-request-line', '0'], "argument --limit-request-line: The minimum is 1: '0'"],
    [['--limit-request-fields=x'], "argument --limit-request-fields: invalid int value: 'x'"],
    [['--limit-request-body', '-1'], "argument --limit-request-body: The minimum is 0: '-1'"],
    [['--limit-pipeline', '0'], "argument --limit-pipeline: The minimum is 1: '0'"],
    [['--timeout', '1.5'], "argument --timeout: invalid int value: '1.5'"],
    [['--keep-alive', '-1'], "argument --keep-alive: The minimum is 0: '-1'"],
    [['--body-timeout'], 'argument --body-timeout: expected one argument'],
    [['--chdir', '/nope'], "argument --chdir: Directory does not exist: '/nope'"],
    [['--chdir', 'package.json'], "argument --chdir: Directory does not exist: 'package.json'"],
    [['--port'], 'argument --port: expected one argument'],
    [['--host', '--port', '1'], 'argument --host: expected one argument'],
    [['--foo'], 'unrecognized arguments: --foo'],
    [['--wrokers', '2'], 'unrecognized arguments: --wrokers (did you mean --workers?)'],
    [['--max-conections=5'], 'unrecognized arguments: --max-conections (did you mean --max-connections?)'],
    [['--acess-logfile', '-'], 'unrecognized arguments: --acess-logfile (did you mean --access-logfile?)'],
    [['--forwarded'], 'unrecognized arguments: --forwarded (did you mean --forwarded-allow-ips?)'],
    [['--work'], 'unrecognized arguments: --work'],
    [['--verison'], 'unrecognized arguments: --verison (did you mean --version?)'],
    [['--no-foo'], 'unrecognized arguments: --no-foo'],
    [['-x'], 'unrecognized arguments: -x'],
    [['a:app', 'b:app'], 'unrecognized arguments: b:app'],
    [['a:app', '--', 'b:app', 'c'], 'unrecognized arguments: b:app c'],
  ]
  const results = await Promise.all(cases.map(([args]) => run(args)))
  cases.forEach(([args, line], i) => {
    t.same(results[i], { status: 2, stdout: '', stderr: `pegasus: error: ${line}\n` }, args.join(' '))
  })
})

t.test('an app that cannot be loaded: exit status 1 and one ERROR line', async (t) => {
  const apps = `${root}/test/apps`
  const cases: [string, string][] = [
    ['test/apps/nope:app', `Cannot find module ${apps}/nope (nor with .js, .mjs, .cjs)`],
    ['test/apps/esm:nope', `Module ${apps}/esm.mjs has no export 'nope'; its function exports: app, default`],
    ['test/apps/esm:notFunction', `Export 'notFunction' of ${apps}/esm.mjs is not a function or an app object but a number (42)`],
    ['test/apps/throws', `Cannot load module ${apps}/throws.mjs: boom while loading`],
  ]
  const results = await Promise.all(cases.map(([spec]) => run([...LOCAL, spec])))
  cases.forEach(([spec, line], i) => {
    t.same(results[i], { status: 1, stdout: '', stderr: `ERROR: ${line}\n` }, spec)
  })
})

t.test('an address that cannot be listened on: exit status 1 and one ERROR line', async (t) => {
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => taken.close())
  const { port } = taken.address() as { port: number }
  t.same(await run(['--host', '127.0.0.1', '--port', String(port)]), {
    status: 1,
    stdout: '',
    stderr: `ERROR: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`,
  })
  // 192.0.2.0/24 is TEST-NET-1: never an address of this machine.
  const result = await run(['--host', '192.0.2.1', '--port', '0'])
  t.equal(result.status, 1)
  t.match(result.stderr, /^ERROR: listen EADDRNOTAVAIL: [^\n]*192\.0\.2\.1[^\n]*\n$/)
})

const curlSkip = hasCurl ? false : 'curl is not installed'

t.test('README: the echo app by default', async (t) => {
  const { cli, base } = await start(t, LOCAL)
  const body = '{"foo": "echo", "bar": 69}'
  const res = await fetch(base, { method: 'POST', body })
  t.equal(res.status, 200)
  t.equal(await res.text(), body)
  t.match(cli.stdout, new RegExp(`^INFO: Listen at "127\\.0\\.0\\.1:\\d+"\nINFO: Threads: ${threads}\n`), 'startup lines')
  t.test('with curl', { skip: curlSkip }, async (t) => {
    t.equal(await curl('-X', 'POST', base, '-d', body), body)
  })
})

t.test('README: the router app', async (t) => {
  const { base } = await start(t, [...LOCAL, 'dist/fixtures/router.js:app'])
  const echoed = '{"body":"Some data","query_params":{"bar":"69","foo":"echo"},"url_params":["a","b","c"]}\n'
  t.equal(await (await fetch(base)).text(), 'Blazingly Fast!\n')
  const res = await fetch(`${base}/echo/a/b/c?foo=echo&bar=69`, { method: 'POST', body: 'Some data' })
  t.equal(await res.text(), echoed)
  t.test('with curl', { skip: curlSkip }, async (t) => {
    t.equal(await curl(base), 'Blazingly Fast!\n', 'GET /')
    t.equal(await curl('-X', 'POST', `${base}/echo/a/b/c?foo=echo&bar=69`, '-d', 'Some data'), echoed, 'POST /echo')
  })
})

t.test('access lines go to stdout', async (t) => {
  const { cli, port } = await start(t, LOCAL)
  const { response, localPort } = await raw(port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi')
  t.match(response, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nhi$/)
  await cli.waitFor(new RegExp(`^INFO: 127\\.0\\.0\\.1:${localPort} - "POST / HTTP/1\\.1" 200 OK$`, 'm'))
  t.pass('the access line')
})

t.test('--no-access-log turns them off', async (t) => {
  const { cli, base } = await start(t, [...LOCAL, '--no-access-log'])
  t.equal(await (await fetch(base, { method: 'POST', body: 'x' })).text(), 'x')
  t.equal(await cli.stop(), 0)
  t.equal(cli.stdout.replace(/\d+/g, 'N'), 'INFO: Listen at "N.N.N.N:N"\nINFO: Threads: N\nINFO: Interface: native (native app)\nINFO: Shutting down\n', 'no access line')
  t.equal(cli.stderr, '')
})

t.test('SIGTERM lets a request in flight finish, then exits 0', async (t) => {
  const { cli, base } = await start(t, [...LOCAL, 'test/apps/slow.mjs'])
  const answer = fetch(`${base}/slow`).then((res) => res.text())
  await cli.waitFor(/^slow: waiting$/m)
  const exited = cli.stop('SIGTERM')
  t.equal(await answer, 'finished after SIGTERM\n', 'the response arrives whole')
  t.equal(await exited, 0)
  t.match(cli.stdout, /^INFO: Shutting down\n/m)
  t.match(cli.stdout, /^INFO: 127\.0\.0\.1:\d+ - "GET \/slow HTTP\/1\.1" 200 OK\n/m, 'its access line was flushed')
})

// An exception the app lets escape ends its worker, which the arbiter replaces: test/arbiter.ts.

t.test("docs/apps.md's Express + ws app: the module's upgrade export takes the WebSocket", async (t) => {
  const { cli, base, port } = await start(t, [...LOCAL, 'test/apps/chat.mjs'])
  t.ok(await cli.waitFor(/^INFO: Interface: node \(Express app\)$/m), "the choice is printed")
  t.equal(await (await fetch(base)).text(), 'use a WebSocket')
  const { default: WebSocket } = await import('ws')
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`)
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  ws.send('hello')
  const [echo] = (await new Promise((resolve) => ws.once('message', (...args) => resolve(args)))) as [Buffer]
  t.equal(echo.toString(), 'hello')
  ws.close(1000, 'bye')
  const [code] = (await new Promise((resolve) => ws.once('close', (...args) => resolve(args)))) as [number]
  t.equal(code, 1000)
})

t.test('SIGINT exits 0 too', async (t) => {
  const { cli } = await start(t, LOCAL)
  t.equal(await cli.stop('SIGINT'), 0)
  t.ok(cli.stdout.endsWith('INFO: Shutting down\n'))
})

t.test('options take effect', async (t) => {
  const { cli } = await start(t, ['--host', '127.0.0.1', '--port=0', '--threads', '3', '--backlog', '-1'])
  t.match(cli.stdout, /\nINFO: Threads: 3\n/)
  const other = await start(t, ['--host=127.0.0.1', '--port', '0', '--threads=1_0', '--backlog=16'])
  t.match(other.cli.stdout, /\nINFO: Threads: 10\n/)
})

t.test('limits take effect: 414, 431 and 413 at the sizes given', async (t) => {
  const { port } = await start(t, [
    ...LOCAL,
    '--limit-request-line=40',
    '--limit-request-fields',
    '3',
    '--limit-request-field-size',
    '60',
    '--limit-request-head=200',
    '--limit-request-body',
    '5',
  ])
  const status = async (request: string): Promise<string> => (await raw(port, request)).response.split('\r\n')[0]
  t.equal(await status('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'HTTP/1.1 200 OK', 'within every limit')
  t.equal(await status(`GET /${'a'.repeat(40)} HTTP/1.1\r\nHost: x\r\n\r\n`), 'HTTP/1.1 414 URI Too Long')
  t.equal(await status(`${'M'.repeat(40)} / HTTP/1.1\r\nHost: x\r\n\r\n`), 'HTTP/1.1 400 Bad Request', 'a method too long is a bad request line')
  t.equal(await status('GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n'), 'HTTP/1.1 431 Request Header Fields Too Large', 'four fields')
  t.equal(await status(`GET / HTTP/1.1\r\nHost: x\r\nA: ${'a'.repeat(60)}\r\n\r\n`), 'HTTP/1.1 431 Request Header Fields Too Large', 'one large field')
  const fields = `A: ${'a'.repeat(50)}\r\nB: ${'b'.repeat(50)}\r\nC: ${'c'.repeat(50)}\r\n`
  t.equal(await status(`GET / HTTP/1.1\r\nHost: x\r\n${fields}\r\n`), 'HTTP/1.1 431 Request Header Fields Too Large', 'a large head')
  t.equal(await status('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello'), 'HTTP/1.1 200 OK', 'a body at the limit')
  t.equal(await status('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nhello!'), 'HTTP/1.1 413 Content Too Large')
})

t.test('--permissive-target lets request-target bytes outside RFC 3986 through', async (t) => {
  const status = async (port: number, request: string): Promise<string> => (await raw(port, request)).response.split('\r\n')[0]
  const request = 'GET /caf\xe9?q="a"#f HTTP/1.1\r\nHost: x\r\n\r\n'
  const strict = await start(t, [...LOCAL])
  t.equal(await status(strict.port, request), 'HTTP/1.1 400 Bad Request', 'refused by default')
  const permissive = await start(t, [...LOCAL, '--permissive-target'])
  t.equal(await status(permissive.port, request), 'HTTP/1.1 200 OK', 'let through')
  t.equal(await status(permissive.port, 'GET /a%00 HTTP/1.1\r\nHost: x\r\n\r\n'), 'HTTP/1.1 400 Bad Request', '%00 stays refused')
})

t.test('--timeout: an app that does not answer gets 503, an ERROR line and a closed connection', async (t) => {
  const { cli, port } = await start(t, [...LOCAL, '--timeout', '1', 'test/apps/hang.mjs:app'])
  const started = Date.now()
  const { response } = await raw(port, 'GET /hang HTTP/1.1\r\nHost: x\r\n\r\n', false)
  t.match(response, /^HTTP\/1\.1 503 Service Unavailable\r\n/)
  t.match(response, /\r\nConnection: close\r\n/)
  t.match(response, /\r\n\r\nThe app did not answer in time\n$/)
  t.ok(Date.now() - started >= 1000, 'not before the timeout')
  await cli.waitFor(/^hang: aborted \(App timed out\)$/m)
  t.match(cli.stderr, /^ERROR: App timed out after 1 s for "GET \/hang HTTP\/1\.1"$/m)
  // Access lines are buffered: wait for the batch.
  t.ok(await cli.waitFor(/^INFO: 127\.0\.0\.1:\d+ - "GET \/hang HTTP\/1\.1" 503 Service Unavailable$/m), 'its access line')
  const { response: other } = await raw(port, 'GET /other HTTP/1.1\r\nHost: x\r\n\r\n')
  t.match(other, /^HTTP\/1\.1 200 OK\r\n/, 'the server goes on serving')
})

t.test('--header-timeout and --keep-alive: slow and idle clients are cut off', async (t) => {
  const { port } = await start(t, [...LOCAL, '--header-timeout', '1', '--keep-alive=1'])
  const started = Date.now()
  const slow = await new Promise<string>((resolve, reject) => {
    let response = ''
    const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\n'))
    socket.setEncoding('latin1')
    socket.on('data', (text: string) => (response += text))
    socket.on('end', () => {
      socket.end()
      resolve(response)
    })
    socket.on('error', reject)
  })
  t.match(slow, /^HTTP\/1\.1 408 Request Timeout\r\n/, 'a head that does not finish: 408')
  t.ok(Date.now() - started < 5000, 'within about a second, not the default 10')
  const idle = await new Promise<string>((resolve, reject) => {
    let response = ''
    const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    socket.setEncoding('latin1')
    socket.on('data', (text: string) => (response += text))
    socket.on('close', () => resolve(response))
    socket.on('error', reject)
  })
  t.match(idle, /^HTTP\/1\.1 200 OK\r\n/, 'answered, then closed when idle')
})

t.test('--chdir: MODULE is relative to it', async (t) => {
  const inApps = await start(t, [...LOCAL, '--chdir', 'test/apps', 'esm:app'])
  t.equal(await (await fetch(inApps.base)).text(), 'esm app\n')
  const inTest = await start(t, [...LOCAL, `--chdir=${root}/test`, 'apps/cjs'], `${root}/lib`)
  t.equal(await (await fetch(inTest.base)).text(), 'cjs default\n')
})

t.test('ES modules and CommonJS, extension omitted, default export', async (t) => {
  const cases: [string, string][] = [
    ['test/apps/esm', 'esm default\n'],
    ['test/apps/esm.mjs:app', 'esm app\n'],
    ['test/apps/plain', 'plain js\n'],
    ['test/apps/cjs.cjs:handler', 'cjs handler\n'],
    ['test/apps/cjs-object:app', 'cjs object app\n'],
  ]
  for (const [spec, body] of cases) {
    const { base } = await start(t, [...LOCAL, spec])
    t.equal(await (await fetch(base)).text(), body, spec)
  }
})

const probe = createServer()
const hasIPv6 = await new Promise<boolean>((resolve) => {
  probe.once('error', () => resolve(false))
  probe.listen(0, '::1', () => probe.close(() => resolve(true)))
})

t.test('an IPv6 address is shown in brackets', { skip: hasIPv6 ? false : 'no IPv6 loopback here' }, async (t) => {
  const running = new Running(['--host', '::1', '--port', '0'], root)
  const [, port] = await running.waitFor(/^INFO: Listen at "\[::1\]:(\d+)"$/m)
  t.equal(await (await fetch(`http://[::1]:${port}/`, { method: 'POST', body: 'v6' })).text(), 'v6')
  t.equal(await running.stop(), 0)
})
