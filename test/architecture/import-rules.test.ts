/**
 * The allowed imports between folders (DESIGN §3, docs/architecture.md), checked on every source
 * file: a rule broken anywhere fails here, naming the file and the import.
 */
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { Glob } from 'bun'

const ROOT = resolve(import.meta.dir, '../..')

export interface Rule {
  /** Files the rule applies to (repo-relative prefixes: folders end in "/", files in ".ts"). */
  from: string[]
  /** What they must not import: folders ("/"), files (".ts"), or package names (prefix match). */
  forbidden: string[]
  why: string
}

const ARCHITECTURE_DOC = 'docs/architecture.md'

/** The rules, read from the table under "## Rules (checked)" in docs/architecture.md: one source for the doc and the check. */
export function documentedRules(markdown: string): Rule[] {
  const section = markdown.split('## Rules (checked)')[1]?.split(/\n## /)[0] ?? ''
  const cells = (row: string) =>
    row
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((cell) => cell.trim())
  const ticked = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)
  return section
    .split('\n')
    .filter((line) => line.trim().startsWith('|'))
    .map(cells)
    .filter((row) => row.length === 3 && ticked(row[0]!).length > 0)
    .map(([from, forbidden, why]) => ({ from: ticked(from!), forbidden: ticked(forbidden!), why: why! }))
}

export const RULES: Rule[] = documentedRules(readFileSync(join(ROOT, ARCHITECTURE_DOC), 'utf8'))

/** Import specifiers of a TypeScript source: static imports and re-exports, dynamic imports. */
export function importsOf(source: string): string[] {
  const found: string[] = []
  const patterns = [/\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g]
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.push(match[1]!)
  return found
}

/** An import as a repo-relative path (relative specifiers) or a package name. */
function target(file: string, specifier: string): string {
  if (!specifier.startsWith('.')) return specifier
  return relative(ROOT, join(dirname(join(ROOT, file)), specifier))
}

const matches = (to: string, forbidden: string) => {
  if (forbidden.endsWith('/')) return `${to}/`.startsWith(forbidden)
  if (forbidden.endsWith('.ts')) return to === forbidden || to === forbidden.slice(0, -3)
  return to === forbidden || to.startsWith(`${forbidden}/`)
}

/** Every broken rule in the given files (repo-relative path → source). */
export function violations(files: Record<string, string>, rules: Rule[] = RULES): string[] {
  const out: string[] = []
  for (const [file, source] of Object.entries(files)) {
    for (const rule of rules) {
      const from = rule.from.find((prefix) => (prefix.endsWith('/') ? file.startsWith(prefix) : file === prefix))
      if (!from) continue
      for (const specifier of importsOf(source)) {
        const to = target(file, specifier)
        const broken = rule.forbidden.find((f) => matches(to, f))
        if (broken) out.push(`${file} imports ${specifier} (${from} must not import ${broken}: ${rule.why})`)
      }
    }
  }
  return out
}

function sourceFiles(): Record<string, string> {
  const files: Record<string, string> = {}
  for (const pattern of ['src/**/*.ts', 'relay/**/*.ts']) {
    for (const file of new Glob(pattern).scanSync(ROOT)) files[file] = readFileSync(join(ROOT, file), 'utf8')
  }
  return files
}

describe('import rules', () => {
  test('the rules are the table in docs/architecture.md, every row read', () => {
    const doc = readFileSync(join(ROOT, ARCHITECTURE_DOC), 'utf8')
    const rows = doc
      .split('## Rules (checked)')[1]!
      .split(/\n## /)[0]!
      .split('\n')
      .filter((line) => /^\|\s*`/.test(line))
    expect(RULES.length).toBe(rows.length)
    expect(RULES.length).toBeGreaterThanOrEqual(8)
    expect(RULES.find((r) => r.from.includes('src/http/') && r.forbidden.includes('relay/'))).toBeDefined()
    expect(RULES.find((r) => r.from.includes('src/fleet/') && r.forbidden.includes('src/serve.ts'))).toBeDefined()
    for (const rule of RULES) {
      expect(rule.forbidden.length).toBeGreaterThan(0)
      expect(rule.why.length).toBeGreaterThan(10)
    }
  })

  test('the checker finds imports of every form and catches each kind of violation', () => {
    expect(
      importsOf(
        `import a from './a'\nimport type { B } from "../b"\nexport { c } from './c'\nimport './side'\nconst d = await import('../d')\nimport {\n  e,\n} from 'elysia'`,
      ),
    ).toEqual(['./a', '../b', './c', 'elysia', './side', '../d'])
    const broken = violations({
      'src/fleet/x.ts': `import { Elysia } from 'elysia'\nimport type { App } from '../http/app'\nimport { RedisClient } from 'bun'\nimport { S3 } from '@aws-sdk/client-s3'\nimport { ok } from '../clock'`,
      'src/store/y.ts': `import { StageService } from '../fleet/stages'`,
      'src/ivs/z.ts': `import { FLEET_TAG } from '../fleet/stages'`,
      'relay/w.ts': `import { MemoryStore } from '../src/store/memory'\nimport { ok } from '../src/web/envelope'`,
      'src/fleet/v.ts': `import { startServe } from '../serve'`,
      'src/http/u.ts': `import { Fanout } from '../../relay/fanout'\nimport { startRelay } from '../../relay/main'`,
      'relay/http/s.ts': `import { startRelay } from '../main'`,
      'src/backends.ts': `import { startServe } from './serve'`,
      'relay/rtp/t.ts': `import { StageSession } from '../egress/stage-session'\nimport nodeDataChannel from 'node-datachannel'\nimport { parseRtp } from './rtp'`,
    })
    expect(broken.map((v) => v.split(' (')[0])).toEqual([
      'src/fleet/x.ts imports elysia',
      'src/fleet/x.ts imports ../http/app',
      'src/fleet/x.ts imports bun',
      'src/fleet/x.ts imports @aws-sdk/client-s3',
      'src/store/y.ts imports ../fleet/stages',
      'src/ivs/z.ts imports ../fleet/stages',
      'relay/w.ts imports ../src/store/memory',
      'src/fleet/v.ts imports ../serve',
      // Both a composition root and the relay.
      'src/http/u.ts imports ../../relay/main',
      'src/http/u.ts imports ../../relay/fanout',
      'src/http/u.ts imports ../../relay/main',
      'relay/http/s.ts imports ../main',
      'src/backends.ts imports ./serve',
      'relay/rtp/t.ts imports ../egress/stage-session',
      'relay/rtp/t.ts imports node-datachannel',
    ])
  })

  test('every source file keeps the rules', () => {
    const files = sourceFiles()
    expect(Object.keys(files).length).toBeGreaterThan(60)
    expect(violations(files)).toEqual([])
  })

  test('the relay keeps at most 6 modules at its top level (the rest in rooms by concern)', () => {
    const top = Object.keys(sourceFiles()).filter((file) => /^relay\/[^/]+\.ts$/.test(file))
    expect(top.length).toBeLessThanOrEqual(6)
  })

  test('no module is over 300 lines', () => {
    const long = Object.entries(sourceFiles())
      .map(([file, source]) => [file, source.split('\n').length] as const)
      .filter(([, lines]) => lines > 300)
    expect(long).toEqual([])
  })
})
