import { readdirSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import type { TestProject } from 'vitest/node'
import { compiledServer } from '../../bench/chaos/build.js'
import { bundleClient } from '../../client/scripts/bundle.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The compiled server's entry point (`server.js` of a build of the current sources). */
    compiledServer: string
  }
}

const ROOT = resolve(import.meta.dirname, '..', '..')
const STALE_MS = 3_600_000

/**
 * Compiles the server once per test run: the real-socket tests (faults, aborts, timeouts,
 * request targets, deployment) run the compiled `server.js`, exactly what `npm start` and the
 * image run. The build lands in `.tmp/dist/<hash of the sources>/`, made whole before it is
 * renamed into place, so that runs at the same time never read a half-written build. The
 * example page's client bundle is made too (also whole before it is renamed into place).
 */
export default async function setup (project: TestProject): Promise<void> {
  const server = compiledServer(ROOT, 'dist')
  pruneOldBuilds(dirname(server))
  project.provide('compiledServer', server)
  // The example page (web/) loads the client as web/vendor/ejento-bff-client.js, a build output.
  await bundleClient()
}

function pruneOldBuilds (keep: string): void {
  const builds = dirname(keep)
  for (const name of readdirSync(builds)) {
    const path = join(builds, name)
    if (name !== basename(keep) && Date.now() - statSync(path).mtimeMs > STALE_MS) rmSync(path, { recursive: true, force: true })
  }
}
