// A .js app: an ES module, as the package.json above it says "type": "module".
export default function plainJs(req, res) {
  res.end('plain js\n')
}
