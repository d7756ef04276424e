/**
 * The in-process rate limiter under a flood of distinct keys (issue 14: every wrong API key used
 * to get its own window, 79 → 306 MB after 1.2 million). Each run is a fresh child of this script,
 * so heaps do not mix: the capped limiter, and as a baseline in the same run an uncapped Map
 * holding the same windows (what the limiter did before). Prints heap growth after a full GC, the
 * windows kept and the cost per hit; medians of rounds.
 *
 *   bun run bench/limiter-memory.ts [--keys 1200000] [--rounds 3] [--json]
 */
import { parseArgs } from 'node:util'
import { RateLimiter } from '../src/web/rate-limiter'

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '1200000' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    child: { type: 'string' },
  },
})
const keys = Number(args.keys)

interface Sample {
  kept: number
  heapMb: number
  usPerHit: number
}

function flood(kind: 'capped' | 'uncapped'): Sample {
  const clock = { now: () => 0 }
  const capped = new RateLimiter({ windowMs: 60_000, max: 5 }, clock)
  const uncapped = new Map<string, { count: number; resetAt: number }>()
  const hit =
    kind === 'capped'
      ? (key: string) => capped.hit(key)
      : (key: string) => {
          const window = uncapped.get(key) ?? { count: 0, resetAt: 60_000 }
          window.count++
          uncapped.set(key, window)
        }
  Bun.gc(true)
  const before = process.memoryUsage().heapUsed
  const started = performance.now()
  for (let i = 0; i < keys; i++) hit(`wrong-key-${i}:198.51.100.${i & 255}`)
  const ms = performance.now() - started
  Bun.gc(true)
  return {
    kept: kind === 'capped' ? capped.size : uncapped.size,
    heapMb: (process.memoryUsage().heapUsed - before) / 1e6,
    usPerHit: (ms * 1000) / keys,
  }
}

if (args.child) {
  process.stdout.write(JSON.stringify(flood(args.child as 'capped' | 'uncapped')))
  process.exit(0)
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
async function child(kind: string): Promise<Sample> {
  const proc = Bun.spawn([process.execPath, import.meta.path, '--child', kind, '--keys', String(keys)], { stdout: 'pipe', stderr: 'inherit' })
  const text = await new Response(proc.stdout).text()
  if ((await proc.exited) !== 0) throw new Error(`${kind} child failed`)
  return JSON.parse(text) as Sample
}
const samples: Record<'capped' | 'uncapped', Sample[]> = { capped: [], uncapped: [] }
for (let round = 0; round < Number(args.rounds); round++) {
  for (const kind of ['capped', 'uncapped'] as const) samples[kind].push(await child(kind))
}
const summary = Object.fromEntries(
  Object.entries(samples).map(([kind, list]) => [
    kind,
    { kept: median(list.map((s) => s.kept)), heapMb: median(list.map((s) => s.heapMb)), usPerHit: median(list.map((s) => s.usPerHit)) },
  ]),
)
const result = { keys, ...summary, heapRatio: summary.capped!.heapMb / summary.uncapped!.heapMb }
if (args.json) console.log(JSON.stringify(result))
else {
  console.log(`${keys.toLocaleString()} distinct keys in one window (medians of ${args.rounds} rounds, fresh process each):`)
  for (const kind of ['capped', 'uncapped'] as const) {
    const s = summary[kind]!
    console.log(`  ${kind.padEnd(9)} kept ${s.kept.toLocaleString().padStart(9)}  heap +${s.heapMb.toFixed(1).padStart(6)} MB  ${s.usPerHit.toFixed(2)} µs/hit`)
  }
  console.log(`  capped / uncapped heap: ${(result.heapRatio * 100).toFixed(1)} %`)
}
