// node:http under node:cluster, the way Node.js users spread an app over cores today: the
// primary forks WORKERS (default 2) workers that each serve node-app.mjs's handler on the same
// port; node:cluster's default scheduling (round-robin through the primary on Linux) hands them
// the connections. The primary runs no app code.
//
//   node node-cluster.mjs PORT [HOST] [WORKERS]
import cluster from 'node:cluster'
import http from 'node:http'
import { handle } from './node-app.mjs'
import { address } from './shared.mjs'

const { port, host } = address()

if (cluster.isPrimary) {
  const workers = Number(process.argv[4] ?? 2)
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`WORKERS must be an integer >= 1: ${process.argv[4]}`)
  for (let i = 0; i < workers; i++) cluster.fork()
  // A worker that dies is a broken measurement, not something to hide by replacing it.
  cluster.on('exit', (worker, code, signal) => {
    process.stderr.write(`ERROR worker ${worker.process.pid} exited (${signal ?? code})\n`)
    process.exit(1)
  })
} else {
  http.createServer(handle).listen(port, host)
}
