import type { KillMeasurement } from './kill-measure.js'
import type { ChaosReport } from './run-chaos.js'

/** The chaos run as a table: one row per phase, then its notes and every loss. */
export function formatChaosReport (report: ChaosReport): string {
  const rows = report.phases.map((phase) => {
    const seconds = ((phase.endedAt - phase.startedAt) / 1000).toFixed(1)
    const transient = Object.entries(phase.transient).map(([key, count]) => `${key === '0' ? 'unreachable' : key} ×${count}`).join(', ') || '–'
    const unexpected = Object.entries(phase.unexpected).map(([key, count]) => `${key} ×${count}`).join(', ') || '–'
    return `| ${phase.name} | ${seconds} | ${phase.requests} | ${phase.ok} | ${phase.refreshes} (${phase.refusedRefreshes} refused, ${phase.refreshesUnderFault} hit) | ${transient} | ${unexpected} | ${phase.lost} | ${phase.orphans} |`
  })
  const notes = report.phases.flatMap((phase) => phase.notes.map((note) => `- ${phase.name}: ${note}`))
  const losses = report.losses.map((loss) => `- ${loss.phase}: ${loss.browser} ${loss.cause}${loss.code === undefined ? '' : ` (${loss.code})`} on instance ${loss.instance}`)
  const logs = Object.entries(report.logs).sort().map(([key, count]) => `${key} ×${count}`).join(', ')
  return [
    `Chaos run, seed ${report.seed}`,
    '',
    '| phase | s | requests | 2xx | refreshes upstream (refused, hit by the fault) | retried (not losses) | unexpected | lost sessions | orphans |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...(notes.length > 0 ? ['Notes:', ...notes, ''] : []),
    ...(losses.length > 0 ? ['Lost sessions:', ...losses, ''] : []),
    `Instances' warn and error log lines: ${logs || 'none'}`,
    report.failed.length === 0 ? 'PASS: no session lost or orphaned outside the kill phase' : `FAIL: sessions lost or orphaned in ${report.failed.join(', ')}`
  ].join('\n')
}

export function formatKillMeasurement (measurement: KillMeasurement): string {
  const { byLanding, survivorWaitMs } = measurement
  const landing = (name: keyof KillMeasurement['byLanding'], label: string): string => `${label}: ${byLanding[name].lost} lost of ${byLanding[name].rounds}`
  return [
    `${measurement.rounds.length} refreshes, each killed (SIGKILL) at a random moment of its ${measurement.refreshMs} ms:`,
    `  lost ${measurement.lost}, kept ${measurement.kept}, undecided ${measurement.undecided}`,
    `  ${landing('before_upstream', 'killed before the call reached Ejento')}; ${landing('at_upstream', 'after Ejento rotated, before it answered')}; ${landing('answered', 'after Ejento answered')}`,
    `  the survivor's verdict came after (median) ${survivorWaitMs.keptMedian} ms when kept, ${survivorWaitMs.lostMedian} ms when lost; at most ${survivorWaitMs.max} ms`,
    `  instances logged ${measurement.logs.takeovers} takeover(s) and ${measurement.logs.reportedLost} lost refresh(es)`
  ].join('\n')
}
