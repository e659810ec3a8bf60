// For the arbiter's recycle test: once a file `gated` is in its directory, a worker finishes
// loading only when `<its pid>.go` is there too, and `/hold` answers once `release` is: the test
// decides when each worker listens and when a request in flight ends. (The module awaits: the
// worker's loop beats meanwhile.) Every answer is the worker's pid.
import { existsSync } from 'node:fs'

function gate(file) {
  return new Promise((resolve) => {
    const check = () => (existsSync(file) ? resolve() : setTimeout(check, 20))
    check()
  })
}

if (existsSync('gated')) await gate(`${process.pid}.go`)

export default async function gated(req, res) {
  if (req.url === '/hold') await gate('release')
  res.end(`${process.pid}\n`)
}
