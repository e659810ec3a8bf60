// Run by test/binds.ts as systemd runs a socket-activated service: a listening socket is the
// process's fd 3 (LISTEN_FDS=1). Serves a native app on `fd://3`, prints its addresses() as
// JSON, and closes on SIGTERM.
import { createServer, formatBind } from '../../lib/server.js'

const server = createServer(
  (req, res) => {
    res.end(`fd ${req.url}`)
  },
  { interface: 'native' },
)
await server.listen(`fd://${process.argv[2] ?? '3'}`)
process.stdout.write(`${JSON.stringify(server.addresses().map(formatBind))}\n`)
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0))
})
