// The node interface's output: node's ServerResponse builds every byte, and Pegasus's connection
// writes them (its batch, in request order). Each handler here runs on node:http and on Pegasus,
// and the bytes on the wire must be the same (but for Date), as must the order of the write
// callbacks and 'finish'. Also: a write callback whose bytes can no longer be written gets
// node's error.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { RawClient } from './helpers/raw.js'
import { sleep, startServer } from './helpers/server.js'

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, seen: string[]) => void

/** Each side's bytes for `request`, and what the handler noted on the way. */
async function onBoth(
  t: Tap,
  handler: Handler,
  request: string,
  responses = 1,
  until?: RegExp,
): Promise<{ node: string; pegasus: string; nodeSeen: string[]; pegasusSeen: string[] }> {
  const nodeSeen: string[] = []
  const pegasusSeen: string[] = []
  const nodeServer = http.createServer((req, res) => handler(req, res, nodeSeen))
  await new Promise<void>((resolve) => nodeServer.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    nodeServer.closeAllConnections()
    nodeServer.close()
  })
  const pegasus = await startServer(t, ((req: http.IncomingMessage, res: http.ServerResponse) => handler(req, res, pegasusSeen)) as never, {
    interface: 'node',
  })
  const exchange = async (port: number): Promise<string> => {
    const client = await RawClient.connect(port)
    await client.write(request)
    if (until === undefined) await client.waitForResponses(responses)
    // (The raw parser takes no trailers: such a reply is complete when its bytes say so.)
    else await client.until(() => until.test(client.data.toString('latin1')), 5000, String(until))
    // Anything after the last response (there should be nothing) shows up too.
    await sleep(30)
    client.destroy()
    return client.data.toString('latin1').replace(/^Date: .*\r\n/gm, '')
  }
  return {
    node: await exchange((nodeServer.address() as AddressInfo).port),
    pegasus: await exchange(pegasus.port),
    nodeSeen,
    pegasusSeen,
  }
}

type Tap = Parameters<typeof startServer>[0]

const GET = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'

const cases: [string, Handler][] = [
  ['a string body', (_req, res) => res.end('hello')],
  ['a hex body in end()', (_req, res) => res.end('68656c6c6f', 'hex')],
  [
    'a latin1 header value with a Buffer body (the head is held, then joins the batch)',
    (_req, res) => {
      res.setHeader('X-Name', 'caf\u00e9')
      res.end(Buffer.from('hi'))
    },
  ],
  [
    'a latin1 header value with a string body (node joins them and writes UTF-8)',
    (_req, res) => {
      res.setHeader('X-Name', 'caf\u00e9')
      res.end('hi')
    },
  ],
  [
    'chunked writes in several encodings, with callbacks',
    (_req, res, seen) => {
      res.on('finish', () => seen.push('finish'))
      res.write('6869', 'hex', () => seen.push('cb 1'))
      res.write('b2s=', 'base64', () => seen.push('cb 2'))
      res.write('caf\u00e9', 'latin1', () => seen.push('cb 3'))
      res.end('!', () => seen.push('end cb'))
    },
  ],
  [
    'a Content-Length body written over several ticks, ended with nothing',
    (_req, res, seen) => {
      res.on('finish', () => seen.push('finish'))
      res.setHeader('Content-Length', '3')
      res.write('a', () => seen.push('cb a'))
      setTimeout(() => {
        res.write('bc', () => seen.push('cb bc'))
        setTimeout(() => res.end(() => seen.push('end cb')), 5)
      }, 5)
    },
  ],
  [
    'an empty write with a callback, on its own in a later tick',
    (_req, res, seen) => {
      res.on('finish', () => seen.push('finish'))
      res.write('a')
      setTimeout(() => {
        res.write('', () => seen.push('cb empty'))
        setTimeout(() => res.end('b', () => seen.push('end cb')), 5)
      }, 5)
    },
  ],
  [
    'headers flushed alone, the body later',
    (_req, res, seen) => {
      res.setHeader('Content-Length', '2')
      res.flushHeaders()
      setTimeout(() => res.end('ok', () => seen.push('end cb')), 5)
    },
  ],
  [
    'early hints, then trailers on a chunked body',
    (_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' })
      res.setHeader('Trailer', 'X-Sum')
      res.write('data')
      res.addTrailers({ 'X-Sum': '42' })
      res.end()
    },
  ],
]

for (const [name, handler] of cases) {
  t.test(`node:http's bytes through Pegasus: ${name}`, async (t) => {
    const both = await onBoth(t, handler, GET, 1, name.includes('trailers') ? /\r\n0\r\nX-Sum: 42\r\n\r\n$/ : undefined)
    t.equal(both.pegasus, both.node, 'the same bytes')
    t.same(both.pegasusSeen, both.nodeSeen, 'callbacks and finish in the same order')
  })
}

t.test("node:http's bytes through Pegasus: pipelined responses, the second written before its turn", async (t) => {
  let first: http.ServerResponse | null = null
  const both = await onBoth(
    t,
    (req, res, seen) => {
      res.on('finish', () => seen.push(`finish ${req.url}`))
      if (req.url === '/slow') {
        first = res
        return
      }
      // Written while the first response is still open: node holds it, then writes it in turn.
      res.setHeader('X-Name', 'caf\u00e9')
      res.write(Buffer.from('second '), () => seen.push('cb second'))
      res.end('done')
      setTimeout(() => (first as http.ServerResponse).end('first'), 10)
    },
    'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n',
    2,
  )
  t.equal(both.pegasus, both.node, 'the same bytes, in request order')
  t.same(both.pegasusSeen, both.nodeSeen, 'callbacks and finish in the same order')
})

t.test('write callbacks of output that cannot be written get an error (the app failed with its head out)', async (t) => {
  for (const withCallback of [true, false]) {
    const errors: (string | undefined)[] = []
    const server = await startServer(
      t,
      (async (_req: http.IncomingMessage, res: http.ServerResponse) => {
        await sleep(5)
        if (withCallback) res.write('partial', (error) => errors.push((error as NodeJS.ErrnoException | null | undefined)?.code))
        else res.write('partial')
        throw new Error('failed after writing')
      }) as never,
      { interface: 'node' },
    )
    const client = await RawClient.connect(server.port)
    await client.write(GET)
    await client.until(() => client.closed, 20_000, 'the connection cut')
    t.notMatch(client.data.toString('latin1'), /500/, 'no 500 after the head went out')
    t.match(server.errText(), /failed after writing/, 'the failure is logged')
    if (withCallback) {
      t.ok(await eventuallyTrue(() => errors.length === 1), 'the callback is called once')
      t.same(errors, ['ERR_STREAM_DESTROYED'], "with node's error")
    }
  }
})

async function eventuallyTrue(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 100 && !check(); i++) await sleep(10)
  return check()
}
