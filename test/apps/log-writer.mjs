// Writes access lines through a Log into a file (argv: file, tag, count), as a worker process
// sharing its access log with others would, then exits with lines still buffered: they are
// flushed at exit.
import { Log } from '../../dist/lib/log.js'

const [file, tag, count] = process.argv.slice(2)
// Small batches, so the processes' writes alternate many times.
const log = new Log({ accessLogfile: file, flushBytes: 2048 })
for (let i = 0; i < Number(count); i++) {
  // Lines of varying length: a torn write would show as a line that does not match.
  log.access('127.0.0.1', i, 'GET', `/${tag}/${i}/${'x'.repeat(i % 97)}`, '1.1', 200)
}
process.exit(0)
