// Carries out a Dockerfile's instructions without a Docker engine, so CI checks the image's
// real recipe rather than a copy of it: every stage gets its own folder standing in for its
// root file system; COPY reads the build context through .dockerignore (or an earlier
// stage's folder), RUN runs in the stage's WORKDIR with its ENV, and the last stage's
// USER, ENV, WORKDIR, HEALTHCHECK and CMD are written out as JSON for the caller to run.
// An instruction this script does not know fails it: the Dockerfile cannot drift unchecked.
//
// Usage: node scripts/dockerfile-steps.mjs [--dry-run] <context folder> <work folder>   (prints the JSON)
// --dry-run reads the Dockerfile and prints the JSON without copying or running anything.
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, posix, relative } from 'node:path'

const dryRun = process.argv.includes('--dry-run')
const [context, work] = process.argv.slice(2).filter((arg) => arg !== '--dry-run')
if (context === undefined || work === undefined) {
  console.error('usage: node scripts/dockerfile-steps.mjs <context folder> <work folder>')
  process.exit(2)
}

/** Instructions as [keyword, rest], comments dropped and continuation lines joined. */
function instructions (text) {
  return text.replace(/\\\r?\n/g, ' ').split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const space = line.search(/\s/)
      return [line.slice(0, space).toUpperCase(), line.slice(space + 1).trim()]
    })
}

/** .dockerignore as [negated, RegExp] in order; the last pattern that matches a path or one of its folders wins. */
function ignoreRules (file) {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split(/\r?\n/).map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!')
      const pattern = (negated ? line.slice(1) : line).replace(/^\/+|\/+$/g, '')
      const source = pattern.replace(/\*\*\/|\*\*|\*|\?|[.+^${}()|[\]\\]/g, (token) =>
        ({ '**/': '(?:.*/)?', '**': '.*', '*': '[^/]*', '?': '[^/]' })[token] ?? `\\${token}`)
      return [negated, new RegExp(`^${source}$`)]
    })
}

function ignored (rules, path) {
  const parts = path.split('/')
  let result = false
  for (const [negated, pattern] of rules) {
    for (let depth = 1; depth <= parts.length; depth++) {
      if (pattern.test(parts.slice(0, depth).join('/'))) { result = !negated; break }
    }
  }
  return result
}

/** Copies a context path (file or folder) to `to`, leaving out what .dockerignore excludes. */
function copyFromContext (rules, source, to) {
  const path = relative(context, join(context, source)).replaceAll('\\', '/')
  if (path.startsWith('..')) throw new Error(`COPY ${source}: outside the build context`)
  if (!existsSync(join(context, path))) throw new Error(`COPY ${source}: not in the build context`)
  if (ignored(rules, path)) throw new Error(`COPY ${source}: excluded by .dockerignore`)
  if (statSync(join(context, path)).isDirectory()) {
    mkdirSync(to, { recursive: true })
    for (const entry of readdirSync(join(context, path))) {
      const child = path === '' ? entry : `${path}/${entry}`
      if (!ignored(rules, child)) copyFromContext(rules, child, join(to, entry))
    }
  } else {
    mkdirSync(dirname(to), { recursive: true })
    cpSync(join(context, path), to)
  }
}

/** ARGs declared before the first FROM: for FROM lines, and as defaults of a stage's own ARG. */
const globalArgs = {}
const stages = []
let stage
const rules = ignoreRules(join(context, '.dockerignore'))
const expand = (text, vars) => text.replace(/\$\{?(\w+)\}?/g, (_, name) => vars[name] ?? '')
const stageVars = () => ({ ...stage.args, ...stage.env })
/** A path inside a stage's root: absolute, or relative to its WORKDIR. */
const inStage = (root, path, workdir) => join(root, posix.resolve(workdir, path))

for (const [keyword, rest] of instructions(readFileSync(join(context, 'Dockerfile'), 'utf8'))) {
  if (keyword !== 'ARG' && keyword !== 'FROM' && stage === undefined) throw new Error(`${keyword} before FROM`)
  switch (keyword) {
    case 'ARG': {
      const equals = rest.indexOf('=')
      const [name, value] = equals === -1 ? [rest, undefined] : [rest.slice(0, equals), rest.slice(equals + 1)]
      if (stage === undefined) globalArgs[name] = value ?? ''
      else stage.args[name] = value === undefined ? globalArgs[name] ?? '' : expand(value, stageVars())
      break
    }
    case 'FROM': {
      const [image, as, name] = expand(rest, globalArgs).split(/\s+/)
      const root = join(work, `stage-${stages.length}`)
      if (!dryRun) mkdirSync(root, { recursive: true })
      stage = { image, name: as?.toUpperCase() === 'AS' ? name : String(stages.length), root, workdir: '/', args: {}, env: {}, user: 'root', expose: [] }
      stages.push(stage)
      console.error(`== FROM ${image}${stage.name === String(stages.length - 1) ? '' : ` AS ${stage.name}`}`)
      break
    }
    case 'WORKDIR':
      stage.workdir = posix.resolve(stage.workdir, expand(rest, stageVars()))
      if (!dryRun) mkdirSync(join(stage.root, stage.workdir), { recursive: true })
      break
    case 'ENV':
      if (!/^\w+=/.test(rest)) throw new Error(`ENV ${rest}: only the KEY=value form is carried out`)
      for (const [, name, value] of rest.matchAll(/(\w+)=("[^"]*"|\S*)/g)) stage.env[name] = expand(value.replace(/^"|"$/g, ''), stageVars())
      break
    case 'COPY': {
      const words = rest.split(/\s+/)
      const flags = Object.fromEntries(words.filter((word) => word.startsWith('--')).map((word) => word.slice(2).split('=')))
      const paths = words.filter((word) => !word.startsWith('--'))
      const destination = paths.pop()
      const into = destination.endsWith('/') || paths.length > 1
      const target = inStage(stage.root, destination, stage.workdir)
      for (const source of dryRun ? [] : paths) {
        const from = flags.from === undefined ? undefined : stages.find((earlier) => earlier.name === flags.from)
        if (flags.from !== undefined && from === undefined) throw new Error(`COPY --from=${flags.from}: no such stage`)
        const path = from === undefined ? join(context, source) : inStage(from.root, source, from.workdir)
        if (!existsSync(path)) throw new Error(`COPY ${source}: not found${from === undefined ? ' in the build context' : ` in stage ${from.name}`}`)
        // As Docker does: a folder's contents go into the destination; a file goes into it when it is a folder.
        const to = into && !statSync(path).isDirectory() ? join(target, posix.basename(source)) : target
        if (from === undefined) {
          copyFromContext(rules, source, to)
        } else {
          mkdirSync(dirname(to), { recursive: true })
          cpSync(path, to, { recursive: true, verbatimSymlinks: true })
        }
      }
      console.error(`COPY ${rest}`)
      break
    }
    case 'RUN':
      console.error(`RUN ${rest}`)
      // The step's output goes to stderr: stdout carries only the JSON.
      if (!dryRun) execFileSync('sh', ['-c', rest], { cwd: join(stage.root, stage.workdir), env: { ...process.env, ...stage.env }, stdio: ['ignore', 2, 2] })
      break
    case 'USER':
      stage.user = rest
      break
    case 'EXPOSE':
      stage.expose.push(...rest.split(/\s+/))
      break
    case 'HEALTHCHECK':
      stage.healthcheck = JSON.parse(rest.slice(rest.indexOf('CMD') + 3).trim())
      break
    case 'CMD':
      stage.cmd = JSON.parse(rest)
      break
    case 'STOPSIGNAL':
      stage.stopSignal = rest
      break
    default:
      throw new Error(`Dockerfile instruction ${keyword} is not carried out by scripts/dockerfile-steps.mjs: teach it first`)
  }
}

const image = stages.at(-1)
console.log(JSON.stringify({
  image: image.image,
  root: join(image.root, image.workdir),
  workdir: image.workdir,
  env: image.env,
  user: image.user,
  expose: image.expose,
  healthcheck: image.healthcheck,
  cmd: image.cmd,
  stopSignal: image.stopSignal,
  // What the build context would hand the engine, for the caller to check no secret gets in.
  contextExcludes: Object.fromEntries(['.env', '.env.production', 'node_modules', '.git', 'dist', 'test'].map((path) => [path, ignored(rules, path)]))
}, null, 2))
