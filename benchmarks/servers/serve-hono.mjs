// @hono/node-server serving the default export of a module (an object with fetch(): a Hono app or
// a plain fetch handler): `node serve-hono.mjs PORT HOST MODULE`, MODULE relative to this folder.
import { serve } from '@hono/node-server'
import { address, appModule } from './shared.mjs'

const { port, host } = address()
const app = await appModule()
serve({ fetch: app.fetch, port, hostname: host })
