import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import openapiTS, { COMMENT_HEADER, astToString } from 'openapi-typescript'
import type { OpenAPI3 } from 'openapi-typescript'
import { openApiDocument } from './openapi-document.js'

/**
 * `npm run client:types` writes the client's types generated from the BFF's OpenAPI document
 * (client/src/openapi.ts); `npm run client:check` (CI) generates them into a temporary file and
 * fails when they differ from the checked-in ones: the document changed, the types did not.
 */
export const TYPES_FILE = fileURLToPath(new URL('../src/openapi.ts', import.meta.url))

export async function generatedTypes (): Promise<string> {
  const ast = await openapiTS(await openApiDocument() as OpenAPI3, { silent: true })
  return COMMENT_HEADER + astToString(ast)
}

/** The first line where two versions differ, for the failure message; undefined when equal. */
export function firstDifference (current: string, fresh: string): string | undefined {
  if (current === fresh) return undefined
  const before = current.split('\n')
  const after = fresh.split('\n')
  const line = after.findIndex((text, index) => text !== before[index])
  const at = line === -1 ? after.length : line
  return `line ${at + 1}: checked in ${JSON.stringify(before[at] ?? '(end of file)')}, generated ${JSON.stringify(after[at] ?? '(end of file)')}`
}

async function main (check: boolean): Promise<number> {
  const fresh = await generatedTypes()
  if (!check) {
    writeFileSync(TYPES_FILE, fresh)
    console.log(`wrote ${TYPES_FILE}`)
    return 0
  }
  const folder = mkdtempSync(join(tmpdir(), 'client-types-'))
  try {
    const generated = join(folder, 'openapi.ts')
    writeFileSync(generated, fresh)
    let current = ''
    try {
      current = readFileSync(TYPES_FILE, 'utf8')
    } catch {}
    const difference = firstDifference(current, readFileSync(generated, 'utf8'))
    if (difference === undefined) {
      console.log('client/src/openapi.ts matches the OpenAPI document')
      return 0
    }
    console.error(`client/src/openapi.ts is not what the OpenAPI document generates (${difference}).\nRun \`npm run client:types\` and commit the result.`)
    return 1
  } finally {
    rmSync(folder, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.includes('--check'))
}
