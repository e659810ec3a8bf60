// node:http under node:cluster, the way Node.js users spread an app over cores today: the
// primary forks WORKERS (default 2) workers that each serve node-app.mjs's handler on the same
// port. BALANCE is how connections reach them: `round-robin` (node:cluster's default on Linux:
// the primary accepts and hands each connection over), `shared` (SCHED_NONE: one listening
// socket every worker accepts from) or `reuseport` (a listening socket per worker with
// SO_REUSEPORT, the kernel spreading connections; Node.js >= 22.12). The primary runs no app code.
//
//   node node-cluster.mjs PORT [HOST] [WORKERS] [BALANCE]
import cluster from 'node:cluster'
import http from 'node:http'
import { handle } from './node-app.mjs'
import { address } from './shared.mjs'

const { port, host } = address()
const balance = process.argv[5] ?? 'round-robin'
if (!['round-robin', 'shared', 'reuseport'].includes(balance)) throw new Error(`BALANCE must be round-robin, shared or reuseport: ${balance}`)

if (cluster.isPrimary) {
  const workers = Number(process.argv[4] ?? 2)
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`WORKERS must be an integer >= 1: ${process.argv[4]}`)
  cluster.schedulingPolicy = balance === 'shared' ? cluster.SCHED_NONE : cluster.SCHED_RR
  for (let i = 0; i < workers; i++) cluster.fork()
  // A worker that dies is a broken measurement, not something to hide by replacing it.
  cluster.on('exit', (worker, code, signal) => {
    process.stderr.write(`ERROR worker ${worker.process.pid} exited (${signal ?? code})\n`)
    process.exit(1)
  })
} else {
  // With reusePort a worker listens on its own socket instead of asking the primary for one.
  http.createServer(handle).listen({ port, host, reusePort: balance === 'reuseport' })
}
