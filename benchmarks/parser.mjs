// Parser microbenchmark: nanoseconds a request for Pegasus's HTTP/1.1 parser alone (no sockets),
// on the heads the wrk scenarios send and a browser-like one. Give several builds to compare
// them: each runs in processes of its own, alternating (A B A B ...), medians quoted:
//   node benchmarks/parser.mjs                      # ./dist
//   node benchmarks/parser.mjs /tmp/base/dist dist  # a baseline build against this one
import { execFileSync } from 'node:child_process'
import { resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const HEADS = {
  // What wrk sends for hello (benchmarks/lua has no script for it).
  hello: 'GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n',
  // benchmarks/lua/echo.lua's POST, with its body.
  echo: 'POST /echo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello',
  browser:
    'GET /assets/app.js?v=3 HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) ' +
    'AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\nAccept: */*\r\nReferer: https://example.com/\r\n' +
    'Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-GB,en;q=0.9\r\nCookie: session=abc123; theme=dark\r\n' +
    'Sec-Fetch-Dest: script\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Site: same-origin\r\n\r\n',
}
const ITERATIONS = 200_000
const ROUNDS = 15

/** Nanoseconds a request over ITERATIONS parses of `bytes`, one execute each. */
function measure(Parser, bytes) {
  let sink = 0
  const parser = new Parser({
    onRequest(head) {
      sink += head.fieldCount
    },
    onBody(chunk) {
      sink += chunk.length
    },
    onMessageComplete() {},
  })
  // CPU time, not wall time: a run preempted by another process is not charged for the wait.
  const start = process.cpuUsage()
  for (let i = 0; i < ITERATIONS; i++) parser.execute(bytes)
  const used = process.cpuUsage(start)
  const ns = ((used.user + used.system) * 1000) / ITERATIONS
  if (sink === 0) throw new Error('nothing parsed')
  return ns
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]

if (process.argv[2] === '--one') {
  // A child: one build, one head, measured after a warm-up; prints ns a request.
  const { Parser } = await import(pathToFileURL(resolve(process.argv[3], 'lib/http/parser.js')).href)
  const bytes = Buffer.from(HEADS[process.argv[4]], 'latin1')
  measure(Parser, bytes)
  // The fastest of 5 runs: on a shared machine, the one least disturbed by other processes.
  console.log(Math.min(...Array.from({ length: 5 }, () => measure(Parser, bytes))))
} else {
  // Each build and head in processes of their own (one build's classes would make the other's
  // call sites polymorphic, one head's fields would shape the code run for the next), alternating.
  const dists = process.argv.slice(2)
  if (dists.length === 0) dists.push('dist')
  const script = fileURLToPath(import.meta.url)
  console.log(`node ${process.version}: ns a request, median of ${ROUNDS} processes (each the fastest of 5 runs of ${ITERATIONS} parses)`)
  console.log(['head', ...dists].join('\t'))
  for (const name of Object.keys(HEADS)) {
    const times = dists.map(() => [])
    for (let round = 0; round < ROUNDS; round++) {
      dists.forEach((dist, i) => {
        // --single-threaded: no compiler or GC helper threads, whose CPU time would be counted.
        const out = execFileSync(process.execPath, ['--single-threaded', script, '--one', dist, name], { encoding: 'utf8' })
        times[i].push(Number(out))
      })
    }
    console.log([name, ...times.map((t) => median(t).toFixed(1))].join('\t'))
  }
}
