// The app of benchmarks/trickle.mjs, one node-style (req, res) handler served both by node:http
// (trickle-node-http.mjs) and by Pegasus's CLI (`auto` serves a plain two-parameter function with
// the node interface):
//   GET /       "Blazingly Fast!\n" (what the probes ask for)
//   POST /echo  the body read as it arrives, answered with its length once it has all come
//   GET /big    BIG_BYTES of response, written as the client takes them (write() and 'drain')

export const HELLO = 'Blazingly Fast!\n'
export const BIG_BYTES = 10_000_000
const CHUNK = new Uint8Array(64 * 1024).fill(120)

export function handle(req, res) {
  if (req.method === 'GET' && req.url === '/') {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': HELLO.length })
    res.end(HELLO)
  } else if (req.method === 'POST' && req.url === '/echo') {
    let bytes = 0
    req.on('data', (chunk) => { bytes += chunk.length })
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(`{"bytes":${bytes}}\n`)
    })
    req.on('error', () => {}) // the client left: nothing to answer
  } else if (req.method === 'GET' && req.url === '/big') {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': BIG_BYTES })
    let sent = 0
    let closed = false
    res.on('close', () => { closed = true })
    const pump = () => {
      while (!closed && sent < BIG_BYTES) {
        const piece = Math.min(CHUNK.length, BIG_BYTES - sent)
        sent += piece
        if (!res.write(piece === CHUNK.length ? CHUNK : CHUNK.subarray(0, piece))) return void res.once('drain', pump)
      }
      if (!closed) res.end()
    }
    pump()
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' })
    res.end('Not Found\n')
  }
}

export default handle
