// Who served a request and whom it believes it served: the worker's pid, the client address the
// node interface gives (the real client's behind a trusted proxy), and the scheme.
export default function whoami(req, res) {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ pid: process.pid, ip: req.socket.remoteAddress, https: req.socket.encrypted === true, xff: req.headers['x-forwarded-for'] ?? null }))
}
