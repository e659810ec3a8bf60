// Fetch apps as users export them: `export default { fetch }` (Bun's and Deno's form), and a
// named handler of one parameter.
export default {
  fetch(request) {
    return new Response(`default fetch ${new URL(request.url).pathname}\n`)
  },
}

export function handler(request) {
  return Response.json({ method: request.method, url: request.url })
}
