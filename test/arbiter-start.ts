// A worker's start as the arbiter's heartbeat sees it: its clock starts at its first beat (Node.js
// and Pegasus loading are not the app's loop), beats go on while the app's module awaits, and a
// worker stuck as it starts is still killed (the heartbeat of a serving worker: test/arbiter.ts).
import t, { type Test } from 'tap'
import { LOCAL, root, Running, start } from './helpers/cli.js'
import { children, stderrMatch } from './helpers/arbiter.js'

const APP = 'test/apps/worker.mjs'

/** The CLI started without waiting for its startup lines (it may never print them), stopped at the end. */
function launch(t: Test, args: string[]): Running {
  const cli = new Running(args, root)
  t.teardown(() => {
    if (cli.child.exitCode === null && cli.child.signalCode === null) return cli.stop()
  })
  return cli
}

t.test('a slow start is not a blocked loop: a worker that cannot beat yet, an app that awaits while it loads', async (t) => {
  // Both take 2.5 s, the timeout is 1 s: the worker's clock starts at its first beat, and beats
  // go on while the app's module awaits.
  const args = [...LOCAL, '--worker-timeout', '1', '--config', 'test/apps/slow-start.config.mjs', 'test/apps/slow-start.mjs']
  const { cli, base } = await start(t, args)
  t.same([Number(await (await fetch(base)).text())], children(cli.child.pid as number), 'it serves')
  t.notMatch(cli.stderr, /WORKER TIMEOUT|failed to boot|blocked/)
  t.equal(await cli.stop(), 0)
})

t.test('a worker stuck as it starts is still killed: its loop blocked while the app loads, or no beat at all', async (t) => {
  // Once it beats, the app's module blocking the loop is a blocked loop, as in an app call.
  const blocked = launch(t, [...LOCAL, '--worker-timeout', '1', 'test/apps/blocks-at-load.mjs'])
  const [, first] = await stderrMatch(blocked, /^ERROR: Worker \(pid:(\d+)\) event loop blocked \(no heartbeat for 1 s\); no app call had started$/m)
  await stderrMatch(blocked, new RegExp(`^ERROR: WORKER TIMEOUT \\(pid:${first}\\)\\n`, 'm'))
  await stderrMatch(blocked, new RegExp(`^ERROR: Worker \\(pid:${first}\\) failed to boot \\(1 in a row\\): Worker \\(pid:${first}\\) was killed by signal SIG(ABRT|KILL) while booting$`, 'm'))
  t.equal(await blocked.stop(), 0)
  // Before its first beat there is no loop to watch yet: its start gets 10 s (Node.js and
  // Pegasus loading, a --config module), then it goes too.
  const never = launch(t, [...LOCAL, '--worker-timeout', '1', '--config', 'test/apps/never-starts.config.mjs', APP])
  const [, pid] = await stderrMatch(never, /^ERROR: WORKER TIMEOUT \(pid:(\d+)\): no heartbeat within 10 s of its start$/m)
  await stderrMatch(never, new RegExp(`^ERROR: Worker \\(pid:${pid}\\) failed to boot \\(1 in a row\\): Worker \\(pid:${pid}\\) was killed by signal SIG(ABRT|KILL) while booting$`, 'm'))
  t.equal(await never.stop(), 0)
})
