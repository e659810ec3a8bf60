// Run by test/binds.ts: a node:cluster primary forks two workers that listen on the same port,
// with `exclusive` when argv[2] says so, and prints how each worker's listen() ended (JSON).
import cluster from 'node:cluster'
import net from 'node:net'
import { createServer } from '../../lib/server.js'

const exclusive = process.argv[2] === 'exclusive'
if (cluster.isPrimary) {
  const free = net.createServer()
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve))
  const port = (free.address() as net.AddressInfo).port
  await new Promise((resolve) => free.close(resolve))
  const results: string[] = []
  for (let i = 0; i < 2; i++) {
    const worker = cluster.fork({ PORT: String(port) })
    worker.on('message', (result: string) => {
      results.push(result)
      if (results.length === 2) {
        process.stdout.write(`${JSON.stringify(results.sort())}\n`)
        for (const id in cluster.workers) cluster.workers[id]?.kill()
      }
    })
  }
} else {
  const server = createServer((_req, res) => res.end(), { interface: 'native' })
  server.listen(`127.0.0.1:${process.env.PORT}`, { exclusive }).then(
    () => process.send?.('listening'),
    (error: NodeJS.ErrnoException) => process.send?.(String(error.code)),
  )
}
