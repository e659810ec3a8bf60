// One fetch handler served by Pegasus and by Bun.serve in test/fetch-bun.ts: each route is a
// kind of Request or Response the two must treat alike.
export async function fetch(request) {
  const url = new URL(request.url)
  switch (url.pathname) {
    case '/text':
      return new Response('plain text')
    case '/json':
      return Response.json({ ok: true, n: 1 })
    case '/status':
      return new Response('made', { status: 201, statusText: 'Made' })
    case '/cookies': {
      const headers = new Headers()
      headers.append('set-cookie', 'a=1; Path=/')
      headers.append('set-cookie', 'b=2; HttpOnly')
      headers.set('x-custom', 'yes')
      return new Response('cookies', { headers })
    }
    case '/echo':
      return new Response(`${request.method} ${await request.text()}`, { headers: { 'content-type': 'text/x-echo' } })
    case '/headers':
      return Response.json({ accept: request.headers.get('accept'), multi: request.headers.get('x-multi'), query: url.searchParams.get('q') })
    case '/bytes':
      return new Response(new Uint8Array([1, 2, 3, 4]), { headers: { 'content-type': 'application/octet-stream' } })
    case '/empty':
      return new Response(null, { status: 204 })
    case '/redirect':
      return Response.redirect(`${url.origin}/text`, 302)
    case '/stream':
      return new Response(
        new ReadableStream({
          async start(controller) {
            controller.enqueue(new TextEncoder().encode('one '))
            await new Promise((resolve) => setTimeout(resolve, 20))
            controller.enqueue(new TextEncoder().encode('two'))
            controller.close()
          },
        }),
        { headers: { 'content-type': 'text/plain' } },
      )
    default:
      return new Response('not found', { status: 404 })
  }
}
