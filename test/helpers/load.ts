// A load loop for the arbiter's process tests: `concurrency` clients, each sending GET requests
// one after the other on its own keep-alive connection (node:http's Agent), counting answers
// and failures until stopped. No retries: a request that fails is counted.
import http from 'node:http'

export interface LoadResult {
  ok: number
  failed: number
  /** The failures' messages (status codes or errors), for the test's diagnostics. */
  errors: string[]
  /** Bodies seen, with how many times each. */
  bodies: Map<string, number>
}

export class Load {
  readonly result: LoadResult = { ok: 0, failed: 0, errors: [], bodies: new Map() }
  private running = true
  private readonly loops: Promise<void>[]

  constructor(port: number, path: string, concurrency: number) {
    this.loops = Array.from({ length: concurrency }, () => this.loop(port, path))
  }

  private async loop(port: number, path: string): Promise<void> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    while (this.running) {
      try {
        const body = await get(agent, port, path)
        this.result.ok++
        this.result.bodies.set(body, (this.result.bodies.get(body) ?? 0) + 1)
      } catch (error) {
        this.result.failed++
        this.result.errors.push((error as Error).message)
      }
    }
    agent.destroy()
  }

  /** Resolves once `n` more answers have come. */
  async answers(n: number): Promise<void> {
    const until = this.result.ok + n
    while (this.result.ok < until) await new Promise((resolve) => setTimeout(resolve, 10))
  }

  async stop(): Promise<LoadResult> {
    this.running = false
    await Promise.all(this.loops)
    return this.result
  }
}

function get(agent: http.Agent, port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (text: string) => (body += text))
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`status ${res.statusCode}`))))
      res.on('error', reject)
    })
    req.on('error', reject)
    // A request that never ends (its connection handed to a worker that died) counts as failed.
    req.setTimeout(5000, () => req.destroy(new Error('timed out')))
  })
}
