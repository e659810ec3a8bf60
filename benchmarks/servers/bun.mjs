// Bun.serve with the fetch handler of fetch-app.mjs (run by the bun binary from benchmarks/node_modules).
import { fetch } from './fetch-app.mjs'
import { address } from './shared.mjs'

const { port, host } = address()
Bun.serve({ port, hostname: host, fetch })
