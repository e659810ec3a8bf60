// Bun.serve with the overload app's fetch handler (run by the bun binary from benchmarks/node_modules).
import { address } from '../shared.mjs'
import { fetch } from './app.mjs'

const { port, host } = address()
Bun.serve({ port, hostname: host, fetch })
