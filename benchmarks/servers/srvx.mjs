// srvx (a Node.js adapter for fetch handlers, on node:http) serving the handler of fetch-app.mjs.
import { serve } from 'srvx'
import { fetch } from './fetch-app.mjs'
import { address } from './shared.mjs'

const { port, host } = address()
serve({ fetch, port, hostname: host, silent: true })
