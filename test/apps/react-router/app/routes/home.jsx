import { useLoaderData } from 'react-router'

export function loader({ request }) {
  return { name: new URL(request.url).searchParams.get('name') ?? 'Pegasus', agent: request.headers.get('user-agent') }
}

export default function Home() {
  const { name, agent } = useLoaderData()
  return (
    <main id="greeting">
      Hello {name} from React Router ({agent})
    </main>
  )
}
