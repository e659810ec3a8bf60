// --reload: the files under a directory, watched with node:fs (one non-recursive watcher a
// directory: node's recursive mode would watch node_modules too). node_modules and dot folders
// are left out; a directory made later is watched from then on.
import { watch, readdirSync, statSync, type FSWatcher } from 'node:fs'
import { join } from 'node:path'

function skipped(name: string): boolean {
  return name === 'node_modules' || name.startsWith('.')
}

/** Calls `changed(path)` for each change under `root`; returns the function that stops watching. */
export function watchTree(root: string, changed: (path: string) => void): () => void {
  const watchers = new Map<string, FSWatcher>()
  const add = (dir: string): void => {
    if (watchers.has(dir)) return
    let watcher: FSWatcher
    try {
      watcher = watch(dir, (_event, name) => {
        if (name === null || skipped(name)) return
        const path = join(dir, name)
        if (isDirectory(path)) add(path)
        changed(path)
      })
    } catch {
      // Gone, or not readable: nothing to watch there.
      return
    }
    // A directory removed under us may end its watcher with an error: forget it.
    /* c8 ignore next 4 */
    watcher.on('error', () => {
      watcher.close()
      watchers.delete(dir)
    })
    watchers.set(dir, watcher)
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && !skipped(entry.name)) add(join(dir, entry.name))
    }
  }
  add(root)
  return () => {
    for (const watcher of watchers.values()) watcher.close()
    watchers.clear()
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}
