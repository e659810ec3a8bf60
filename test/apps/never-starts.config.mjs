// A --config module that never settles in a worker (the primary reads it at once): the worker
// never gets to beat, and the arbiter must still see it.
import cluster from 'node:cluster'

if (cluster.isWorker) await new Promise(() => setInterval(() => {}, 1000))

export default {}
