// pegasus/register: `node --import pegasus/register app.js` serves the app's node:http servers
// with Pegasus, unchanged: http.createServer (what Express's and Koa's app.listen() call) and
// http.Server return pegasus/http servers. https is left alone (TLS is node's own server).
import http from 'node:http'
import { syncBuiltinESMExports } from 'node:module'
import { createServer, Server } from './http.js'

// Loaded twice (by NODE_OPTIONS and a flag, or from two copies of Pegasus), it patches once.
const REGISTERED = Symbol.for('pegasus.register')

/**
 * node:http's Server: callable without `new` (`require('http').Server(app)`, as socket.io's
 * examples do), subclassable, and `instanceof` holds for Pegasus's servers and node's alike, so
 * code that checks for an http.Server still finds one.
 */
function nodeServer(original: typeof http.Server): typeof http.Server {
  function HttpServer(this: unknown, ...args: unknown[]): Server {
    return Reflect.construct(Server, args, new.target ?? Server) as Server
  }
  HttpServer.prototype = Server.prototype
  Object.defineProperty(HttpServer, Symbol.hasInstance, {
    value(this: unknown, value: unknown): boolean {
      // A subclass inherits this static method: it keeps the ordinary check.
      if (this !== HttpServer) return Function.prototype[Symbol.hasInstance].call(this, value)
      return value instanceof Server || value instanceof original
    },
  })
  return HttpServer as unknown as typeof http.Server
}

const target = http as unknown as Record<string | symbol, unknown>
if (target[REGISTERED] !== true) {
  Object.defineProperty(target, REGISTERED, { value: true })
  target.createServer = createServer
  target.Server = nodeServer(http.Server)
  // `import { createServer } from 'node:http'` sees the patched function too.
  syncBuiltinESMExports()
}
