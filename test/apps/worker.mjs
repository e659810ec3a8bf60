// For the arbiter's tests: which worker answered (its pid), a route that blocks the event loop
// for ever, one that streams for ever, and one that takes a while.
export default function worker(req, res) {
  if (req.url.startsWith('/block')) {
    for (;;);
  }
  if (req.url === '/stream') {
    res.writeHead(200, { 'content-type': 'text/plain' })
    const timer = setInterval(() => res.write('tick\n'), 50)
    res.on('close', () => clearInterval(timer))
    return
  }
  if (req.url === '/slow') {
    setTimeout(() => res.end(`${process.pid}\n`), 300)
    return
  }
  res.end(`${process.pid}\n`)
}
