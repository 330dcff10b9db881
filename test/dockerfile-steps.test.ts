import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { onCleanup } from './helpers/app.js'

// scripts/dockerfile-steps.mjs stands in for a Docker engine in CI: it must do what Docker does.
const SCRIPT = join(import.meta.dirname, '..', 'scripts', 'dockerfile-steps.mjs')

function contextWith (files: Record<string, string>): { context: string, work: string } {
  const root = mkdtempSync(join(tmpdir(), 'bff-dockerfile-'))
  onCleanup(async () => { rmSync(root, { recursive: true, force: true }) })
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, 'context', path)), { recursive: true })
    writeFileSync(join(root, 'context', path), text)
  }
  return { context: join(root, 'context'), work: join(root, 'work') }
}

function run (files: Record<string, string>): { image: any, work: string, status: number | null, stderr: string } {
  const { context, work } = contextWith(files)
  const result = spawnSync(process.execPath, [SCRIPT, context, work], { encoding: 'utf8' })
  return { image: result.status === 0 ? JSON.parse(result.stdout) : undefined, work, status: result.status, stderr: result.stderr }
}

describe('scripts/dockerfile-steps.mjs', () => {
  it('copies as Docker does: files into a folder destination, a folder\'s contents, from an earlier stage, through .dockerignore', () => {
    const { image, status, stderr } = run({
      Dockerfile: [
        'ARG BASE=node:24-alpine',
        'FROM $BASE AS build',
        'WORKDIR /src',
        'COPY a.txt b.txt ./',
        'COPY lib ./lib',
        'RUN cat a.txt b.txt > joined.txt && ls lib > listing.txt',
        'FROM $BASE',
        'WORKDIR /app',
        'ENV GREETING=hello WHO="the world"',
        'COPY --from=build /src/joined.txt /src/listing.txt ./out/',
        'COPY --from=build --chown=node:node /src/lib ./lib',
        'USER node',
        'CMD ["node", "lib/main.js"]'
      ].join('\n'),
      '.dockerignore': 'lib/secret.env\n**/*.log\n!lib/keep.log\n',
      'a.txt': 'A',
      'b.txt': 'B',
      'lib/main.js': '',
      'lib/secret.env': 'TOKEN=x',
      'lib/debug.log': 'noise',
      'lib/keep.log': 'kept'
    })
    expect(status, stderr).toBe(0)
    expect(image).toMatchObject({ image: 'node:24-alpine', workdir: '/app', user: 'node', env: { GREETING: 'hello', WHO: 'the world' }, cmd: ['node', 'lib/main.js'] })
    expect(readFileSync(join(image.root, 'out', 'joined.txt'), 'utf8')).toBe('AB')
    expect(readFileSync(join(image.root, 'out', 'listing.txt'), 'utf8').trim().split('\n')).toEqual(['keep.log', 'main.js'])
    expect(existsSync(join(image.root, 'lib', 'main.js'))).toBe(true)
    expect(existsSync(join(image.root, 'lib', 'lib'))).toBe(false)
    expect(existsSync(join(image.root, 'lib', 'secret.env'))).toBe(false)
  })

  it('resolves an absolute WORKDIR as absolute, and a relative one from the current', () => {
    const { image, status, stderr } = run({ Dockerfile: 'FROM node:24\nWORKDIR /app\nWORKDIR /srv\nWORKDIR data\nCMD ["true"]\n' })
    expect(status, stderr).toBe(0)
    expect(image.workdir).toBe('/srv/data')
  })

  it('says which context files .dockerignore keeps out', () => {
    const { image } = run({ Dockerfile: 'FROM node:24\nCMD ["true"]\n', '.dockerignore': '.env\n.env.*\nnode_modules\n' })
    expect(image.contextExcludes).toMatchObject({ '.env': true, '.env.production': true, node_modules: true, '.git': false })
  })

  it.each([
    ['an instruction it does not carry out', 'FROM node:24\nVOLUME /data\n', /VOLUME is not carried out/],
    ['the legacy ENV form', 'FROM node:24\nENV NAME value\n', /only the KEY=value form/],
    ['a COPY of a file .dockerignore excludes', 'FROM node:24\nCOPY .env ./\n', /excluded by \.dockerignore/],
    ['a COPY from a stage that does not exist', 'FROM node:24\nCOPY --from=nowhere /x ./\n', /no such stage/],
    ['a RUN that fails', 'FROM node:24\nRUN exit 3\n', /exit 3|status 3/]
  ])('fails on %s', (_name, dockerfile, message) => {
    const { status, stderr } = run({ Dockerfile: dockerfile, '.dockerignore': '.env\n', '.env': 'SECRET=1' })
    expect(status).not.toBe(0)
    expect(stderr).toMatch(message)
  })
})
