// End to end behind real nginx (Debian's nginx-light, started here on loopback ports), in front
// of `--workers 2`, as docs/deploying.md sets it up: upstream keep-alive reuse,
// the real client's address in Pegasus's access log and in the app, and a HUP reload under wrk
// load with no 5xx in nginx's own access log.
import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { root, start } from './helpers/cli.js'

const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => spawnSync(path, ['-v']).status === 0)
const hasWrk = spawnSync('wrk', ['-v']).error === undefined

if (nginxBin === undefined) {
  t.comment('nginx is not installed (apt-get install -y nginx-light; .ci/run installs it)')
  t.pass('skipped: nginx missing', { skip: 'nginx is not installed (apt-get install -y nginx-light)' })
} else {
  await suite(nginxBin)
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

/** Established TCP connections (from /proc/net/tcp) whose remote end is 127.0.0.1:port. */
function connectionsTo(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const fields = line.trim().split(/\s+/)
      return fields[2] === `0100007F:${hex}` && fields[3] === '01'
    }).length
}

/** GET through nginx from the client address `from` (any 127.x.y.z is ours on Linux). */
function get(agent: http.Agent, port: number, from: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/who', agent, localAddress: from }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (text: string) => (body += text))
      res.on('end', () => resolve({ status: res.statusCode as number, body }))
    })
    req.on('error', reject)
  })
}

/** Resolves once new connections have met both workers (round-robin hands them out in turn). */
async function bothWorkers(port: number): Promise<void> {
  const pids = new Set<number>()
  const deadline = Date.now() + 60_000
  while (pids.size < 2) {
    if (Date.now() > deadline) throw new Error('the second worker did not listen within 60 s')
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/ready', agent: false }, (res) => {
          let text = ''
          res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk))
          res.on('end', () => resolve(text))
        })
        .on('error', reject)
    })
    pids.add((JSON.parse(body) as { pid: number }).pid)
  }
}

async function suite(nginx: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pegasus-nginx-'))
  const { cli, port } = await start(t, ['--host', '127.0.0.1', '--port', '0', '--workers', '2', '--graceful-timeout', '5', 'test/apps/whoami.mjs'], root)
  // "Listen at" comes with the first worker ready; the load below is to meet both.
  await bothWorkers(port)
  const front = await freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  log_format upstream '$remote_addr "$request" $status $upstream_status';
  access_log ${dir}/access.log upstream;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  upstream pegasus {
    server 127.0.0.1:${port};
    keepalive 8;
  }
  server {
    listen 127.0.0.1:${front};
    location / {
      proxy_pass http://pegasus;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`,
  )
  const proxy: ChildProcess = spawn(nginx, ['-p', dir, '-c', conf, '-e', `${dir}/error.log`], { stdio: 'ignore' })
  t.teardown(() => {
    proxy.kill('SIGTERM')
  })
  // nginx is up once its port answers.
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(front, '127.0.0.1', () => {
        socket.destroy()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (up) break
    if (i === 100) throw new Error(`nginx did not start: ${readFileSync(`${dir}/error.log`, 'utf8')}`)
    await delay(50)
  }

  await t.test('keep-alive reuse and the real client address', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
    const answers = await Promise.all(Array.from({ length: 300 }, () => get(agent, front, '127.0.0.5')))
    agent.destroy()
    t.equal(answers.filter((a) => a.status === 200).length, 300, 'every request answered 200')
    const bodies = answers.map((a) => JSON.parse(a.body) as { pid: number; ip: string; xff: string })
    t.ok(bodies.every((b) => b.ip === '127.0.0.5'), 'the app sees the client nginx saw, not nginx')
    t.equal(new Set(bodies.map((b) => b.pid)).size, 2, 'both workers served')
    const upstream = connectionsTo(port)
    t.ok(upstream > 0 && upstream <= 8, `nginx kept its upstream connections open and reused them (${upstream} for 300 requests)`)
    await delay(200)
    const lines = cli.stdout.split('\n').filter((line) => line.includes('"GET /who HTTP/1.1" 200'))
    t.equal(lines.length, 300, 'an access line per request')
    t.ok(lines.every((line) => line.startsWith('INFO: 127.0.0.5:')), 'the access log shows the real client')
  })

  await t.test('HUP reload under wrk load through nginx: no 5xx', { skip: hasWrk ? false : 'wrk is not installed (apt-get install -y wrk)' }, async (t) => {
    const before = JSON.parse((await get(new http.Agent(), front, '127.0.0.1')).body).pid as number
    writeFileSync(`${dir}/access.log`, '')
    const wrk = spawn('wrk', ['-t', '2', '-c', '32', '-d', '6s', `http://127.0.0.1:${front}/who`], { stdio: ['ignore', 'pipe', 'pipe'] })
    let report = ''
    wrk.stdout.setEncoding('utf8').on('data', (text: string) => (report += text))
    const done = new Promise((resolve) => wrk.on('close', resolve))
    await delay(1500)
    cli.child.kill('SIGHUP')
    await done
    const statuses = readFileSync(`${dir}/access.log`, 'utf8').trim().split('\n')
    const total = statuses.length
    // 499: wrk's own connections cut at the end of its run, requests nobody waits for.
    const failed = statuses.filter((line) => !/" 200 200$/.test(line) && !/" 499 -$/.test(line))
    t.ok(total > 1000, `wrk made ${total} requests through nginx`)
    t.same(failed, [], 'no request failed during the reload (nginx access log: every answer and upstream answer 200)')
    t.notOk(statuses.some((line) => /" 5\d\d /.test(line)), 'no 5xx in nginx\'s access log')
    t.notMatch(report, /Non-2xx|Socket errors/, 'wrk saw neither errors nor non-2xx answers')
    const after = JSON.parse((await get(new http.Agent(), front, '127.0.0.1')).body).pid as number
    t.not(after, before, 'new workers serve after the reload')
    t.comment(`reload under load: ${total} requests, ${failed.length} failed`)
  })
}
