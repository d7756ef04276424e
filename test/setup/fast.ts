/**
 * `npm run test:fast`: every test file except those needing system tools (SYSTEM_TESTS in
 * system-tools.ts), so it needs nothing but `npm ci`: no root, no system services, no browser.
 * Two or more worker processes (one per core; a worker keeps one global across its files, as the
 * plain run does), the slowest files first as timings.json measured them. Extra arguments go to
 * `bun test` (`npm run test:fast -- test/relay`). Refresh the timings after big changes with
 * `npm run test:fast -- --update-timings`.
 */
import { join } from 'node:path'
import { SYSTEM_TESTS } from './system-tools'

export const fastTierArgs = (extra: string[] = []): string[] => [
  'test',
  '--timeout',
  '30000',
  '--parallel',
  '--no-isolate',
  `--timings=${join(import.meta.dir, 'timings.json')}`,
  ...Object.keys(SYSTEM_TESTS).map((file) => `--path-ignore-patterns=${file}`),
  ...extra,
]

if (import.meta.main) {
  const started = performance.now()
  const run = Bun.spawn([process.execPath, ...fastTierArgs(process.argv.slice(2))], { stdio: ['inherit', 'inherit', 'inherit'] })
  const code = await run.exited
  console.log(`test:fast: ${((performance.now() - started) / 1000).toFixed(1)} s, exit ${code}`)
  process.exit(code)
}
