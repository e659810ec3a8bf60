export function app(req, res) {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => res.end(JSON.stringify({ headers: req.headers, body: Buffer.concat(chunks).toString(), complete: req.complete })))
}
