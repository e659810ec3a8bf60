// An app whose module awaits (a database, say) for longer than the tests' --worker-timeout 1
// before it exports its handler: its worker's loop beats meanwhile.
await new Promise((resolve) => setTimeout(resolve, 2500))

export default function slowStart(req, res) {
  res.end(`${process.pid}\n`)
}
