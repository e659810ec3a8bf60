export const dynamic = 'force-dynamic'

export async function GET(request) {
  return Response.json({ hello: new URL(request.url).searchParams.get('who') ?? 'world' })
}

export async function POST(request) {
  const body = await request.json()
  return Response.json({ got: body }, { status: 201, headers: { 'set-cookie': 'seen=1; Path=/' } })
}
