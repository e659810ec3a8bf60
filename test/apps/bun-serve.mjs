// Bun.serve with test/apps/fetch-table.mjs's handler (run by the bun binary): `bun bun-serve.mjs PORT`.
import { fetch } from './fetch-table.mjs'

const server = Bun.serve({ port: Number(process.argv[2] ?? 0), hostname: '127.0.0.1', fetch })
console.log(`listening ${server.port}`)
