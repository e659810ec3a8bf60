// Robustness of the fetch interface over real sockets: a 50 MiB multipart upload read with
// formData(); a client that vanishes while its handler reads the body or streams the answer;
// file descriptors, heap and the Request objects back to their baseline after 4,000
// connections of every kind.
import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { churn } from './helpers/churn.js'
import { mib, openFds, settledHeap } from './helpers/memory.js'
import { eventually, httpRequest, sleep, startServer, watchEscapes } from './helpers/server.js'

const KiB = 1024
const MiB = 1024 * KiB

type Handler = (request: Request) => Response | Promise<Response>

function startFetch(t: Parameters<typeof startServer>[0], handler: Handler): ReturnType<typeof startServer> {
  return startServer(t, handler as never, { interface: 'fetch' })
}

t.test('a 50 MiB multipart upload read with formData()', async (t) => {
  const server = await startFetch(t, async (request) => {
    const form = await request.formData()
    const file = form.get('file') as File
    const bytes = new Uint8Array(await file.arrayBuffer())
    let sum = 0
    for (let i = 0; i < bytes.length; i += 4096) sum = (sum + bytes[i]) % 65536
    return Response.json({ name: form.get('name'), file: file.name, size: file.size, sum })
  })
  const boundary = 'pegasus-50-mib'
  const file = Buffer.alloc(50 * MiB)
  for (let i = 0; i < file.length; i += 4096) file[i] = i % 251
  let expected = 0
  for (let i = 0; i < file.length; i += 4096) expected = (expected + file[i]) % 65536
  const body = [
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nbig\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    file,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]
  const reply = await httpRequest(`${server.origin}/upload`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(body.reduce((n, b) => n + b.length, 0)) },
    body,
  })
  t.equal(reply.status, 200)
  t.same(JSON.parse(reply.body.toString()), { name: 'big', file: 'big.bin', size: 50 * MiB, sum: expected })
})

t.test('a client that vanishes while its handler reads the body: an INFO line, nothing escapes', async (t) => {
  const escaped = watchEscapes(t)
  let failure: Error | null = null
  let signalled = false
  const server = await startServer(
    t,
    (async (request: Request) => {
      request.signal.addEventListener('abort', () => (signalled = true))
      try {
        await request.text()
      } catch (error) {
        failure = error as Error
        throw error
      }
      return new Response('never')
    }) as never,
    { interface: 'fetch', bufferBody: 0 },
  )
  const socket = net.connect(server.port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n')
  socket.write(Buffer.alloc(100 * KiB))
  await sleep(50)
  socket.destroy()
  t.ok(await eventually(() => failure !== null), 'text() rejects')
  t.ok(signalled, 'request.signal aborted')
  t.ok(await eventually(() => /Client went away during "POST \/upload HTTP\/1\.1"/.test(server.outLines().join('\n'))), 'an INFO line')
  t.notMatch(server.errText(), /ERROR/, 'no ERROR line')
  t.same(escaped, [], 'nothing escapes')
})

t.test('4,000 connections through the fetch interface: fds and heap come back near their baseline', async (t) => {
  const escaped = watchEscapes(t)
  const refs: WeakRef<object>[] = []
  let count = 0
  const encoder = new TextEncoder()
  const handler = async (request: Request): Promise<Response> => {
    if (count++ % 50 === 0) refs.push(new WeakRef(request))
    const path = new URL(request.url).pathname
    if (path === '/json') return Response.json(request.method === 'POST' ? await request.json() : { at: Date.now() })
    if (path === '/slow') {
      await sleep(20)
      return new Response('late')
    }
    if (path === '/stream') {
      let n = 0
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            await sleep(5)
            controller.enqueue(encoder.encode('x'.repeat(16 * KiB)))
            if (++n === 20) controller.close()
          },
        }),
      )
    }
    return new Response('hello')
  }
  const server = await startServer(t, (async (request: Request) => {
    try {
      return await handler(request)
    } catch (error) {
      // A body cut by its client: the handler fails as it would anywhere.
      if (request.signal.aborted) return new Response(null, { status: 499 })
      throw error
    }
  }) as never, { interface: 'fetch' })
  const BATCH = 200
  const run = (first: number): Promise<void[]> => Promise.all(Array.from({ length: BATCH }, (_, i) => churn(server.port, first + i)))
  await run(0)
  t.ok(await eventually(() => server.server.connectionCount === 0), 'warm-up connections closed')
  refs.length = 0
  const fdsBefore = openFds()
  const heapBefore = await settledHeap()
  for (let first = BATCH; first <= 4000; first += BATCH) await run(first)
  t.ok(await eventually(() => server.server.connectionCount === 0), 'connection count back to 0')
  t.ok(await eventually(() => openFds() <= fdsBefore + 2), 'fds settle')
  const fdsAfter = openFds()
  await sleep(100)
  const heapAfter = await settledHeap()
  const alive = refs.filter((ref) => ref.deref() !== undefined).length
  t.comment(`4,000 connections; fds ${fdsBefore} -> ${fdsAfter}; heap ${mib(heapBefore)} -> ${mib(heapAfter)}`)
  t.ok(fdsAfter <= fdsBefore + 2, `open fds back to ${fdsAfter} (from ${fdsBefore})`)
  t.ok(heapAfter - heapBefore < 8 * MiB, `heap grew ${mib(heapAfter - heapBefore)}`)
  t.equal(alive, 0, `every sampled Request was collected (${refs.length} watched)`)
  t.notMatch(server.errText(), /ERROR/, 'no ERROR line')
  t.equal((await httpRequest(`${server.origin}/`)).body.toString(), 'hello', 'still serving')
  t.same(escaped, [])
})
