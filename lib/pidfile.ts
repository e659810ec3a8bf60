// --pid FILE: the arbiter's process id in a file, for init scripts and `kill $(cat FILE)`.
import fs from 'node:fs'

/** The pid in a pid file's text, or null when it holds none. */
function pidIn(text: string): number | null {
  const pid = Number(text.trim())
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null
}

/** True when a process with this pid exists (ours or another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Writes `pid` (this process's by default) to `path`. A file there that names another live
 * process is an error (one line; a second server started by mistake); one naming a dead process
 * or holding no pid is stale and replaced. The file is written whole under another name and
 * renamed, so a reader never sees it half written.
 */
export function writePidFile(path: string, pid = process.pid): void {
  let text: string | null = null
  try {
    text = fs.readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw pidFileError(path, error)
  }
  const previous = text === null ? null : pidIn(text)
  if (previous !== null && previous !== pid && alive(previous)) {
    throw new Error(`pid file ${path} names process ${previous}, which is running: is the server already started?`)
  }
  const temporary = `${path}.${pid}.tmp`
  try {
    fs.writeFileSync(temporary, `${pid}\n`)
    fs.renameSync(temporary, path)
  } catch (error) {
    fs.rmSync(temporary, { force: true })
    throw pidFileError(path, error)
  }
}

/** Removes the pid file at `path` if it still names `pid` (a newer server's file is left alone). */
export function removePidFile(path: string, pid = process.pid): void {
  let text: string
  try {
    text = fs.readFileSync(path, 'utf8')
  } catch {
    return
  }
  if (pidIn(text) === pid) fs.rmSync(path, { force: true })
}

function pidFileError(path: string, error: unknown): Error {
  return new Error(`pid file ${path}: ${(error as Error).message}`)
}
