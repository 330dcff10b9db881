/**
 * npm run chaos: the refresh-durability chaos run (issue 16), or with `-- measure-kills` the
 * kill-mid-refresh figure. Parameters are CHAOS_* variables (README, "Chaos run"). The BFF runs
 * compiled: CHAOS_SERVER names a server.js, otherwise the checkout at CHAOS_SOURCE (default this
 * one) is built into its .tmp/chaos-dist/. Needs redis-server on the PATH (it starts its own).
 */
import { resolve } from 'node:path'
import { compiledServer } from './build.js'
import { cleanUpOnSignals } from './on-exit.js'
import { measureKills } from './kill-measure.js'
import { chaosOptionsFromEnv, killMeasureOptionsFromEnv } from './options.js'
import { formatChaosReport, formatKillMeasurement } from './report.js'
import { runChaos } from './run-chaos.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
const mode = process.argv[2] ?? 'run'
if (mode !== 'run' && mode !== 'measure-kills') {
  console.error(`usage: npm run chaos [-- measure-kills] (got "${mode}")`)
  process.exit(2)
}

cleanUpOnSignals()
const server = process.env.CHAOS_SERVER ?? compiledServer(resolve(process.env.CHAOS_SOURCE ?? ROOT))
console.log(`server: ${server}`)

if (mode === 'measure-kills') {
  const options = killMeasureOptionsFromEnv(process.env, server)
  console.log(`seed ${options.seed}; ${options.rounds} rounds, refresh delay ${options.refreshDelayMs} ms`)
  const measurement = await measureKills({
    ...options,
    onRound: (round, result) => { console.log(`round ${round + 1}: killed after ${result.killAfterMs} ms (${result.landing}) → ${result.outcome} after ${result.survivorWaitMs} ms`) }
  })
  console.log(formatKillMeasurement(measurement))
} else {
  const options = chaosOptionsFromEnv(process.env, server)
  console.log(`seed ${options.seed}; ${options.instances} instances, ${options.browsers} browsers; phases ${options.phases.join(', ')}`)
  const report = await runChaos({ ...options, onPhase: (name) => { console.log(`phase ${name} …`) } })
  console.log(formatChaosReport(report))
  process.exitCode = report.failed.length === 0 ? 0 : 1
}
