// The Hono app of hono-app.mjs on @hono/node-server; the stream is a web ReadableStream pulled as
// the socket drains.
import { serve } from '@hono/node-server'
import { app } from './hono-app.mjs'
import { address } from './shared.mjs'

const { port, host } = address()
serve({ fetch: app.fetch, port, hostname: host })
