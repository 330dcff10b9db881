import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'

const children = new Set<ChildProcess>()
const folders = new Set<string>()
let listening = false

/**
 * Kills `child` if this process ends first (a run that failed half-way): no BFF or frozen
 * redis-server is left behind.
 */
export function killOnExit (child: ChildProcess): void {
  listen()
  children.add(child)
  child.once('exit', () => children.delete(child))
}

/** Removes `folder` if this process ends before the run does; the answer forgets it (the run removed it). */
export function removeOnExit (folder: string): () => void {
  listen()
  folders.add(folder)
  return () => folders.delete(folder)
}

/** On Ctrl-C or a SIGTERM, cleans up as on exit, then ends. */
export function cleanUpOnSignals (): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => { process.exit(code) })
  }
}

function listen (): void {
  if (listening) return
  listening = true
  process.once('exit', () => {
    for (const child of children) child.kill('SIGKILL')
    for (const folder of folders) rmSync(folder, { recursive: true, force: true })
  })
}
