// A node:http app with a bug outside its call: /crash throws from a timer after answering;
// /slow answers after 300 ms (a request in flight when the crash comes).
export function app(req, res) {
  if (req.url === '/crash') {
    setTimeout(() => {
      throw new Error('boom in a timer')
    }, 10)
    res.end('answered, then crashed\n')
    return
  }
  if (req.url === '/crash-twice') {
    setTimeout(() => {
      throw new Error('first boom')
    }, 10)
    setTimeout(() => {
      throw new Error('second boom')
    }, 20)
    res.end('answered, then crashed twice\n')
    return
  }
  if (req.url === '/reject') {
    setTimeout(() => void Promise.reject(new Error('rejected in a timer')), 10)
    res.end('answered, then rejected\n')
    return
  }
  setTimeout(() => res.end(`${req.url} done\n`), 300)
}
