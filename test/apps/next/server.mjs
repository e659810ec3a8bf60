// Next.js's request handler as a Pegasus app (node dist/cli.js test/apps/next/server.mjs), after
// `next build test/apps/next`: the example of docs/apps.md.
import next from 'next'

const app = next({ dev: false, dir: import.meta.dirname })
await app.prepare()
export default app.getRequestHandler()
