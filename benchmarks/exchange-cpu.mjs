// CPU per exchange of an interface adapter, in one process and without sockets: the parser, the
// exchange's Request and Response and the interface run as they do in the server, the
// connection is a stub that drops the bytes. C exchanges are in flight, each app awaits the wait
// scenario's 50 ms timer, and a finished exchange starts the next, until N are done. What the
// wire, the kernel and the load generator cost is left out, so that an adapter's own cost shows
// on a shared machine; run the kinds alternately, several times, and compare medians.
//
//   node benchmarks/exchange-cpu.mjs KIND [N] [C] [DIST]
//   KIND: native           the wait app on the native interface
//         native-response  the same, and it also builds the fetch app's Response (dropped)
//         fetch            the wait app's fetch handler (servers/wait/app.mjs) on the fetch interface
//         fetch-reused     a fetch handler that answers one Response made once (no Response cost)
//   N: exchanges (200,000); C: in flight (1,000); DIST: a build's dist/ (this checkout's)
// Prints one JSON line: { kind, exchanges, cpuPerExchangeUs } (user + system, all threads).
import { fileURLToPath } from 'node:url'
import { WAIT_PATH, WAITED, fetch as waitFetch, wait } from './servers/wait/app.mjs'
import { TEXT } from './servers/shared.mjs'

const [kind, n = '200000', c = '1000', distArg] = process.argv.slice(2)
const KINDS = ['native', 'native-response', 'fetch', 'fetch-reused']
if (!KINDS.includes(kind)) throw new Error(`usage: exchange-cpu.mjs ${KINDS.join('|')} [N] [C] [DIST]`)
const dist = distArg ?? fileURLToPath(new URL('../dist', import.meta.url))
const total = Number(n)
const inFlight = Number(c)

const { Parser } = await import(`${dist}/lib/http/parser.js`)
const { Request } = await import(`${dist}/lib/request.js`)
const { Response: Exchange } = await import(`${dist}/lib/response.js`)
const { invokeFetch } = await import(`${dist}/lib/interfaces/fetch.js`)
const { invokeNative } = await import(`${dist}/lib/interfaces/native.js`)
const { resolveApp } = await import(`${dist}/lib/interfaces/auto.js`)
// A server with the fetch interface makes LightResponse the global Response (builds that have it).
if (kind.startsWith('fetch') && process.env.LIGHT_RESPONSE !== '0') {
  const light = await import(`${dist}/lib/interfaces/light-response.js`).catch(() => null)
  light?.installLightResponse()
}

const RAW = Buffer.from(`GET ${WAIT_PATH} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n\r\n`, 'latin1')
const HEADERS = { 'Content-Type': TEXT }
const socket = { remoteAddress: '127.0.0.1', remotePort: 40000, localAddress: '127.0.0.1', localPort: 8080, encrypted: false }
let started = 0
let done = 0
const owner = {
  socket,
  peerAddress: '127.0.0.1',
  peerPort: 40000,
  viaProxyProtocol: false,
  forwardedOf: () => null,
  bodyWanted() {},
  bodyDrained() {},
  send: () => true,
  finish() {
    done++
    if (started < total) process.nextTick(start)
  },
  appFailed(_res, error) {
    console.error(error)
    process.exit(1)
  },
  takeTurn: () => true,
  isFirst: () => true,
  write: () => true,
}

const reused = new Response(WAITED, { headers: HEADERS })
// (It reads the URL as the wait app does, and answers after the same wait.)
const reusing = { async fetch(request) { if (request.url.endsWith(WAIT_PATH)) await wait(); return reused } }
const fetchApp = kind === 'fetch-reused' ? reusing : { fetch: waitFetch }
const handler = resolveApp(fetchApp).handler
const native = async (req, res) => {
  res.setHeader('Content-Type', TEXT)
  await wait()
  if (kind === 'native-response') globalThis.dropped = new Response(WAITED, { headers: HEADERS })
  res.end(WAITED)
}

let head = null
const parser = new Parser({ onRequest: (h) => (head = h), onBody() {}, onMessageComplete() {} })
function start() {
  started++
  parser.execute(RAW)
  const req = new Request(owner, head)
  const res = new Exchange(owner, req)
  req.response = res
  if (kind.startsWith('fetch')) invokeFetch(handler, res, 'http', owner.appFailed)
  else invokeNative(native, req, res, owner.appFailed)
}

const before = process.cpuUsage()
for (let i = 0; i < inFlight; i++) start()
await new Promise((resolve) => {
  const timer = setInterval(() => done === total && (clearInterval(timer), resolve()), 5)
})
const cpu = process.cpuUsage(before)
console.log(JSON.stringify({ kind, exchanges: total, cpuPerExchangeUs: Number(((cpu.user + cpu.system) / total).toFixed(2)) }))
