// An ES module app with a named and a default export, and exports that are no apps.
export function app(req, res) {
  res.end('esm app\n')
}

export default function esmDefault(req, res) {
  res.end('esm default\n')
}

export const notFunction = 42
export const text = 'hello'
export const config = { port: 8080 }
export const nothing = null
export const list = []
