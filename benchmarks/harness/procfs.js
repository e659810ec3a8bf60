// What /proc says about a server's process tree (the server and all its descendants: gunicorn's
// and nginx's workers count): resident memory and CPU time.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

const TICKS_PER_SECOND = clockTicks()

function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
}

/** The fields of /proc/PID/stat after the command name (field 3, the state, is index 0). */
function statFields(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'latin1')
  return text.slice(text.lastIndexOf(')') + 2).split(' ')
}

/** `root` and every live descendant of it. */
export function processTree(root) {
  const children = new Map()
  for (const name of readdirSync('/proc')) {
    const code = name.charCodeAt(0)
    if (code < 48 || code > 57) continue
    let ppid
    try {
      ppid = Number(statFields(name)[1])
    } catch {
      continue // gone meanwhile
    }
    const list = children.get(ppid)
    if (list === undefined) children.set(ppid, [Number(name)])
    else list.push(Number(name))
  }
  const tree = [root]
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []))
  return tree
}

/** Resident set size of the tree in bytes (the sum of VmRSS: pages shared by forks count twice). */
export function treeRss(root) {
  let kib = 0
  for (const pid of processTree(root)) {
    try {
      const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))
      if (match !== null) kib += Number(match[1])
    } catch {
      // exited meanwhile
    }
  }
  return kib * 1024
}

/**
 * CPU time (user + system, ms) of the tree, including children it already reaped (cutime,
 * cstime), so a worker that exits does not take its time with it.
 */
export function treeCpuMs(root) {
  let ticks = 0
  for (const pid of processTree(root)) {
    try {
      const f = statFields(pid)
      // utime, stime, cutime, cstime: fields 14-17 of stat, indexes 11-14 here
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
    } catch {
      // exited meanwhile
    }
  }
  return (ticks * 1000) / TICKS_PER_SECOND
}

/** Samples the tree's RSS every `intervalMs` until stopped; `stop()` returns the peak in bytes. */
export function sampleRss(root, intervalMs = 100) {
  let peak = treeRss(root)
  const timer = setInterval(() => {
    const rss = treeRss(root)
    if (rss > peak) peak = rss
  }, intervalMs)
  return {
    stop() {
      clearInterval(timer)
      const rss = treeRss(root)
      return rss > peak ? rss : peak
    },
  }
}

/**
 * CPU time (user + system, ms) of each live process of the tree on its own (no children's):
 * a cluster's primary apart from its workers, and how the work was spread among them.
 */
export function cpuByPid(root) {
  const byPid = new Map()
  for (const pid of processTree(root)) {
    try {
      const f = statFields(pid)
      byPid.set(pid, ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SECOND)
    } catch {
      // exited meanwhile
    }
  }
  return byPid
}
