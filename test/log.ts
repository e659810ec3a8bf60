// Log: levels, destinations (stdout/stderr or files opened for append), reopening files that
// logrotate moved, processes sharing one file, and the errors of files that cannot be opened.
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { httpRequest, startServer } from './helpers/server.js'
import { Log, LogFileError, type LogOptions } from '../lib/server.js'
import type { Request } from '../lib/request.js'
import type { Response } from '../lib/response.js'

const writer = fileURLToPath(new URL('apps/log-writer.mjs', import.meta.url))

function memory(options: LogOptions = {}) {
  const out: string[] = []
  const err: string[] = []
  const log = new Log({ out: { write: (text: string) => out.push(text) }, err: { write: (text: string) => err.push(text) }, ...options })
  return { log, out, err }
}

function tmpdir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pegasus-log-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function everyLevel(log: Log): void {
  log.debug('d')
  log.info('i')
  log.warn('w')
  log.error('e')
  log.critical('c')
  log.access('127.0.0.1', 1, 'GET', '/', '1.1', 200)
  log.flush()
}

t.test('levels: lines below the level are dropped, access lines never are', async (t) => {
  const expected: Record<string, [string[], string[]]> = {
    debug: [['DEBUG: d\n', 'INFO: i\n'], ['WARN: w\n', 'ERROR: e\n', 'CRITICAL: c\n']],
    info: [['INFO: i\n'], ['WARN: w\n', 'ERROR: e\n', 'CRITICAL: c\n']],
    warning: [[], ['WARN: w\n', 'ERROR: e\n', 'CRITICAL: c\n']],
    error: [[], ['ERROR: e\n', 'CRITICAL: c\n']],
    critical: [[], ['CRITICAL: c\n']],
  }
  const access = 'INFO: 127.0.0.1:1 - "GET / HTTP/1.1" 200 OK\n'
  for (const [level, [out, err]] of Object.entries(expected)) {
    const m = memory({ level: level as LogOptions['level'] })
    everyLevel(m.log)
    t.same(m.out, [...out, access], `${level}: stdout`)
    t.same(m.err, err, `${level}: stderr`)
  }
  const m = memory()
  everyLevel(m.log)
  t.same(m.out, ['INFO: i\n', access], 'info by default')
  t.throws(() => new Log({ level: 'verbose' as never }), { name: 'TypeError', message: /debug, info, warning, error or critical: "verbose"/ })
})

t.test('CRITICAL lines carry a stack as ERROR lines do', async (t) => {
  const m = memory()
  m.log.critical('boom', new RangeError('bad'))
  m.log.critical('value', 7)
  m.log.critical('stackless', Object.assign(new Error('no stack'), { stack: undefined }))
  t.match(m.err[0], /^CRITICAL: boom\nRangeError: bad\n\s+at /)
  t.equal(m.err[1], 'CRITICAL: value\n7\n')
  t.equal(m.err[2], 'CRITICAL: stackless\nError: no stack\n')
})

t.test('a server under a level: its own lines filtered, its access lines kept', async (t) => {
  const m = memory({ level: 'critical' })
  const server = await startServer(t, () => Promise.reject(new Error('app bug')), { log: m.log, accessLog: true })
  const reply = await httpRequest(server.origin)
  t.equal(reply.status, 500)
  m.log.flush()
  t.same(m.err, [], 'the ERROR line is below the level')
  t.match(m.out.join(''), /^INFO: 127\.0\.0\.1:\d+ - "GET \/ HTTP\/1\.1" 500 Internal Server Error\n$/)
})

t.test('files: access lines to one, every other line to another', async (t) => {
  const dir = tmpdir(t)
  const access = path.join(dir, 'access.log')
  const errors = path.join(dir, 'error.log')
  fs.writeFileSync(access, 'kept\n')
  const m = memory({ accessLogfile: access, errorLogfile: errors, level: 'debug', flushDelay: 20 })
  const server = await startServer(t, (_req: Request, res: Response) => res.end('ok'), { log: m.log, accessLog: true })
  await httpRequest(`${server.origin}/one`)
  await httpRequest(`${server.origin}/two`)
  // The timer flushes the batch.
  for (let i = 0; i < 100 && fs.readFileSync(access, 'utf8').split('\n').length < 4; i++) await new Promise((r) => setTimeout(r, 10))
  const lines = fs.readFileSync(access, 'utf8').split('\n')
  t.equal(lines[0], 'kept', 'opened for append')
  t.match(lines[1], /^INFO: 127\.0\.0\.1:\d+ - "GET \/one HTTP\/1\.1" 200 OK$/)
  t.match(lines[2], /"GET \/two HTTP\/1\.1" 200 OK$/)
  m.log.debug('d')
  m.log.info('i')
  m.log.warn('w')
  m.log.error('e', new Error('x'))
  m.log.critical('c')
  t.match(fs.readFileSync(errors, 'utf8'), /^DEBUG: d\nINFO: i\nWARN: w\nERROR: e\nError: x\n[^]*CRITICAL: c\n$/)
  t.same([m.out, m.err], [[], []], 'nothing on stdout or stderr')
  t.equal((fs.statSync(access).mode & 0o777) & ~0o644, 0)
  m.log.close()
  m.log.close()
  m.log.info('after close')
  m.log.access(undefined, undefined, 'GET', '/late', '1.1', 200)
  m.log.flush()
  m.log.reopen()
  t.notMatch(fs.readFileSync(access, 'utf8') + fs.readFileSync(errors, 'utf8'), /late|after close/, 'a closed log writes nothing')
})

t.test('served(): a client whose socket is gone is logged as -:-', async (t) => {
  const m = memory()
  const req = { method: 'GET', url: '/x', httpVersion: '1.1', path: '/x', query: '', remoteAddress: undefined, remotePort: undefined, header: () => undefined }
  m.log.served(req, { bodyBytes: 0, startedAt: 0, sentHead: '' }, 200)
  m.log.flush()
  t.same(m.out, ['INFO: -:- - "GET /x HTTP/1.1" 200 OK\n'])
})

t.test("'-' is the standard streams, as without the options", async (t) => {
  const m = memory({ accessLogfile: '-', errorLogfile: '-' })
  everyLevel(m.log)
  t.same(m.out, ['INFO: i\n', 'INFO: 127.0.0.1:1 - "GET / HTTP/1.1" 200 OK\n'])
  t.same(m.err, ['WARN: w\n', 'ERROR: e\n', 'CRITICAL: c\n'])
})

t.test('reopen after logrotate renamed the files: the next lines go to new files', async (t) => {
  const dir = tmpdir(t)
  const access = path.join(dir, 'access.log')
  const errors = path.join(dir, 'error.log')
  const m = memory({ accessLogfile: access, errorLogfile: errors, flushDelay: 60000 })
  const server = await startServer(t, (_req: Request, res: Response) => res.end('ok'), { log: m.log, accessLog: true })
  await httpRequest(`${server.origin}/before`)
  m.log.info('before')
  await httpRequest(`${server.origin}/buffered`)
  // logrotate: rename, then signal; the line still buffered goes to the file it was logged for.
  fs.renameSync(access, `${access}.1`)
  fs.renameSync(errors, `${errors}.1`)
  m.log.reopen()
  await httpRequest(`${server.origin}/after`)
  m.log.info('after')
  m.log.flush()
  t.match(fs.readFileSync(`${access}.1`, 'utf8'), /^INFO: [^\n]*"GET \/before [^\n]*\nINFO: [^\n]*"GET \/buffered [^\n]*\n$/)
  t.match(fs.readFileSync(access, 'utf8'), /^INFO: [^\n]*"GET \/after [^\n]*\n$/)
  t.equal(fs.readFileSync(`${errors}.1`, 'utf8'), 'INFO: before\n')
  t.equal(fs.readFileSync(errors, 'utf8'), 'INFO: after\n')
  m.log.close()
})

t.test('a reopen that fails keeps the file it had, and says so', async (t) => {
  const dir = tmpdir(t)
  fs.mkdirSync(path.join(dir, 'logs'))
  const access = path.join(dir, 'logs', 'access.log')
  const m = memory({ accessLogfile: access })
  fs.renameSync(path.join(dir, 'logs'), path.join(dir, 'moved'))
  m.log.reopen()
  t.equal(m.err.length, 1)
  t.match(m.err[0], /^ERROR: Cannot open the access log file ".*\/logs\/access\.log": ENOENT \(no such file or directory\); still writing to the file opened before\n$/)
  m.log.access('127.0.0.1', 1, 'GET', '/kept', '1.1', 200)
  m.log.close()
  t.match(fs.readFileSync(path.join(dir, 'moved', 'access.log'), 'utf8'), /"GET \/kept HTTP\/1\.1" 200 OK\n$/)
})

t.test('a file that cannot be written: one ERROR line, not one per batch', { skip: fs.existsSync('/dev/full') ? false : 'no /dev/full here' }, async (t) => {
  const m = memory({ accessLogfile: '/dev/full' })
  m.log.access('127.0.0.1', 1, 'GET', '/a', '1.1', 200)
  m.log.flush()
  m.log.access('127.0.0.1', 1, 'GET', '/b', '1.1', 200)
  m.log.flush()
  t.same(m.err, ['ERROR: Cannot write the access log file "/dev/full": ENOSPC: no space left on device, write\n'])
  m.log.reopen()
  m.log.access('127.0.0.1', 1, 'GET', '/c', '1.1', 200)
  m.log.flush()
  t.equal(m.err.length, 2, 'said again after a reopen')
  m.log.close()
})

t.test('files that cannot be opened: a typed error with a one-line message', async (t) => {
  const dir = tmpdir(t)
  const missing = path.join(dir, 'no', 'such', 'access.log')
  t.throws(() => new Log({ accessLogfile: missing }), {
    name: 'LogFileError',
    message: `Cannot open the access log file "${missing}": ENOENT (no such file or directory)`,
    path: missing,
    code: 'ENOENT',
  })
  t.throws(() => new Log({ errorLogfile: dir }), {
    name: 'LogFileError',
    message: `Cannot open the error log file "${dir}": EISDIR (illegal operation on a directory)`,
  })
  let error: unknown
  try {
    new Log({ accessLogfile: path.join(dir, 'fine.log'), errorLogfile: missing })
  } catch (caught) {
    error = caught
  }
  t.ok(error instanceof LogFileError, 'the second file failing is reported')
  t.notMatch((error as Error).message, /\n/, 'one line')
  t.ok(fs.existsSync(path.join(dir, 'fine.log')), 'the first was opened (and closed again)')
  const plain = new LogFileError('access log file', '/x', Object.assign(new Error('odd'), { code: undefined }))
  t.equal(plain.message, 'Cannot open the access log file "/x": odd')
  const terse = new LogFileError('access log file', '/x', Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }))
  t.equal(terse.message, 'Cannot open the access log file "/x": EACCES (permission denied)')
})

t.test('two processes appending to one file never split a line', async (t) => {
  const dir = tmpdir(t)
  const file = path.join(dir, 'shared.log')
  const count = 20000
  const exits = await Promise.all(
    ['a', 'b'].map(
      (tag) =>
        new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, [writer, file, tag, String(count)], { stdio: 'inherit' })
          child.on('close', resolve)
        }),
    ),
  )
  t.same(exits, [0, 0])
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  t.equal(lines.pop(), '', 'ends with a whole line')
  t.equal(lines.length, 2 * count, 'every line, the last ones flushed at exit')
  const next: Record<string, number> = { a: 0, b: 0 }
  let torn = 0
  let switches = 0
  let previous = ''
  for (const line of lines) {
    const match = /^INFO: 127\.0\.0\.1:(\d+) - "GET \/([ab])\/(\d+)\/(x*) HTTP\/1\.1" 200 OK$/.exec(line)
    if (match === null || match[1] !== match[3] || match[4].length !== Number(match[3]) % 97 || Number(match[3]) !== next[match[2]]) {
      torn++
      continue
    }
    next[match[2]]++
    if (match[2] !== previous) switches++
    previous = match[2]
  }
  t.equal(torn, 0, 'no line torn, each process in order')
  t.same(next, { a: count, b: count })
  t.comment(`the two processes' batches alternated ${switches} times`)
})
