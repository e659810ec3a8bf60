// An app that never answers `/hang` (it only notices that the server gave up on it, through
// req.signal), and answers anything else at once: for the app timeout. A native app (req.signal),
// marked as node:http handlers are not: with the documented symbol, no import needed.
export function app(req, res) {
  if (req.url !== '/hang') {
    res.end(`${req.method} ${req.url}\n`)
    return
  }
  req.signal.addEventListener('abort', () => process.stdout.write(`hang: aborted (${req.signal.reason.message})\n`))
}
app[Symbol.for('pegasus.interface')] = 'native'
