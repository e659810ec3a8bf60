// An app that answers only after the server was told to stop, so a test can check that a
// graceful shutdown lets a request in flight finish.
export default async function slow(req, res) {
  const stopping = new Promise((resolve) => process.once('SIGTERM', resolve))
  process.stdout.write('slow: waiting\n')
  await stopping
  await new Promise((resolve) => setTimeout(resolve, 100))
  res.end('finished after SIGTERM\n')
}
