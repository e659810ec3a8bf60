// slowhttptest (Debian's package) against the CLI: slow bodies (-B), slowloris (-H) and slow
// reading (-X), each with our own probe every 0.5 s. Every probe must be answered within 1 s and
// slowhttptest must never report the service unavailable.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { LOCAL, start } from './helpers/cli.js'
import { probe } from './helpers/raw.js'

const hasSlowhttptest = spawnSync('slowhttptest', ['-h']).error === undefined
const SECONDS = 10
const CONNECTIONS = '500'
// Connections opened a second. At 200 a second, on two cores, a probe's connect sometimes waits
// 0.5-1.3 s in the kernel for node:http as much as for Pegasus (their event loops never lag
// over 30 ms meanwhile): that is the machine, not the server under test.
const RATE = '100'

/** Runs slowhttptest to its end (bounded) and returns its output without colour codes. */
function slowhttptest(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('slowhttptest', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text))
    child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text))
    const killer = setTimeout(() => child.kill('SIGKILL'), (SECONDS + 30) * 1000)
    child.on('close', () => {
      clearTimeout(killer)
      resolve(output.replace(/\x1b\[[0-9;]*[A-Za-z]/g, ''))
    })
  })
}

const attacks: [string, (base: string) => string[]][] = [
  ['slow body (-B)', (base) => ['-B', '-i', '10', '-s', '8192', '-t', 'POST', '-x', '10', '-u', `${base}/echo`]],
  ['slowloris (-H)', (base) => ['-H', '-i', '10', '-t', 'GET', '-x', '24', '-u', `${base}/`]],
  ['slow read (-X)', (base) => ['-X', '-w', '512', '-y', '1024', '-n', '5', '-z', '32', '-k', '2', '-u', `${base}/big`]],
]

for (const [name, args] of attacks) {
  t.test(`slowhttptest ${name}: every probe answered, the service always available`, { skip: hasSlowhttptest ? false : 'slowhttptest is not installed (apt-get install -y slowhttptest)' }, async (t) => {
    const { port } = await start(t, [...LOCAL, '--no-access-log', 'test/apps/big.mjs:app'])
    const attack = slowhttptest(['-c', CONNECTIONS, '-r', RATE, '-p', '3', '-l', String(SECONDS), ...args(`http://127.0.0.1:${port}`)])
    let running = true
    void attack.then(() => (running = false))
    let sent = 0
    let answered = 0
    while (running) {
      sent++
      if (await probe(port)) answered++
      await sleep(500)
    }
    const report = await attack
    t.ok(sent >= 6, `probed through the attack (${sent} probes)`)
    t.equal(answered, sent, 'every probe answered within 1 s')
    const verdicts = report.match(/service available:\s+(YES|NO)/g) ?? []
    t.ok(verdicts.length > 0, "slowhttptest's report has its verdicts")
    t.notOk(verdicts.some((line) => line.endsWith('NO')), `slowhttptest never found the service unavailable (${verdicts.length} checks)`)
    t.ok(await probe(port), 'answered after the attack')
  })
}
