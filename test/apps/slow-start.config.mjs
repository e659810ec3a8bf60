// A --config module that awaits in every worker (the primary reads it first, at once): a
// worker that cannot beat yet, for longer than the tests' --worker-timeout 1 (a slow start:
// Node.js and Pegasus loading on a busy machine take seconds too).
import cluster from 'node:cluster'

if (cluster.isWorker) await new Promise((resolve) => setTimeout(resolve, 2500))

export default {}
