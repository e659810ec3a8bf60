export const dynamic = 'force-dynamic'

export default async function Home({ searchParams }) {
  const { name } = await searchParams
  return <main id="greeting">Hello {name ?? 'Pegasus'} from Next.js</main>
}
