/**
 * The allowed imports between folders (DESIGN §3, docs/architecture.md), checked on every source
 * file: a rule broken anywhere fails here, naming the file and the import.
 */
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { Glob } from 'bun'

const ROOT = resolve(import.meta.dir, '../..')

interface Rule {
  /** Files the rule applies to (repo-relative prefix). */
  from: string
  /** What they must not import: repo-relative folder prefixes, or package names (prefix match). */
  forbidden: string[]
  why: string
}

export const RULES: Rule[] = [
  {
    from: 'src/fleet/',
    forbidden: ['src/web/', 'src/http/', 'src/config/', 'elysia', '@elysiajs/', '@aws-sdk/', '@upstash/redis', 'ioredis', 'bun'],
    why: 'the domain gets a Store, a StageProvider, a Clock and its own settings passed in; no HTTP, SDK or Redis client',
  },
  { from: 'src/store/', forbidden: ['src/fleet/', 'src/http/', 'src/web/'], why: 'the store holds the contract and its fixed rules, not the domain' },
  { from: 'src/ivs/', forbidden: ['src/fleet/', 'src/http/', 'src/web/'], why: 'providers and token issuers know nothing of the fleet' },
  { from: 'src/web/', forbidden: ['src/fleet/', 'src/http/', 'src/store/'], why: 'shared HTTP plumbing for both modes' },
  { from: 'relay/', forbidden: ['src/fleet/', 'src/store/', 'src/http/'], why: 'the relay reaches serve over HTTP/WS only' },
]

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

const matches = (to: string, forbidden: string) =>
  forbidden.endsWith('/') ? `${to}/`.startsWith(forbidden) : to === forbidden || to.startsWith(`${forbidden}/`)

/** Every broken rule in the given files (repo-relative path → source). */
export function violations(files: Record<string, string>, rules: Rule[] = RULES): string[] {
  const out: string[] = []
  for (const [file, source] of Object.entries(files)) {
    for (const rule of rules) {
      if (!file.startsWith(rule.from)) continue
      for (const specifier of importsOf(source)) {
        const to = target(file, specifier)
        const broken = rule.forbidden.find((f) => matches(to, f))
        if (broken) out.push(`${file} imports ${specifier} (${rule.from} must not import ${broken}: ${rule.why})`)
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
    })
    expect(broken.map((v) => v.split(' (')[0])).toEqual([
      'src/fleet/x.ts imports elysia',
      'src/fleet/x.ts imports ../http/app',
      'src/fleet/x.ts imports bun',
      'src/fleet/x.ts imports @aws-sdk/client-s3',
      'src/store/y.ts imports ../fleet/stages',
      'src/ivs/z.ts imports ../fleet/stages',
      'relay/w.ts imports ../src/store/memory',
    ])
  })

  test('every source file keeps the rules', () => {
    const files = sourceFiles()
    expect(Object.keys(files).length).toBeGreaterThan(60)
    expect(violations(files)).toEqual([])
  })

  test('no module is over 300 lines', () => {
    const long = Object.entries(sourceFiles())
      .map(([file, source]) => [file, source.split('\n').length] as const)
      .filter(([, lines]) => lines > 300)
    expect(long).toEqual([])
  })
})
