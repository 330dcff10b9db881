import type { ChildProcess } from 'node:child_process'

const running = new Set<ChildProcess>()

/**
 * Kills `child` if this process exits first (a run that failed half-way): no BFF or frozen
 * redis-server is left behind. One exit listener serves every child.
 */
export function killOnExit (child: ChildProcess): void {
  if (running.size === 0) process.once('exit', killAll)
  running.add(child)
  child.once('exit', () => {
    running.delete(child)
    if (running.size === 0) process.off('exit', killAll)
  })
}

function killAll (): void {
  for (const child of running) child.kill('SIGKILL')
}
