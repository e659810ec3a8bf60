// Bun.serve serving the default export of a module (an object with fetch(): a Hono app or a plain
// fetch handler): `bun serve-bun.mjs PORT HOST MODULE`, MODULE relative to this folder.
import { address, appModule } from './shared.mjs'

const { port, host } = address()
const app = await appModule()
Bun.serve({ port, hostname: host, fetch: app.fetch })
