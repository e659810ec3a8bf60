import { data, useActionData } from 'react-router'

export async function action({ request }) {
  const form = await request.formData()
  return data({ added: form.get('item') }, { status: 201, headers: { 'set-cookie': 'added=1; Path=/' } })
}

export default function Items() {
  const result = useActionData()
  return <p id="items">{result ? `added ${result.added}` : 'no items yet'}</p>
}
