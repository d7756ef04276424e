/**
 * The memory store holding present viewers: RSS (target ≤ 200 MB for 100,000 viewers) and the
 * presence sweeper's cost. DESIGN.md §8; issue 4.
 *
 *   bun run bench/presence-memory.ts [--json] [--viewers 100000] [--stages 20] [--rounds 5]
 *
 * One fresh child process (bench/support/presence.ts) does everything, so its RSS is the store's
 * plus Bun's own: RSS after an empty MemoryStore with its stages (capacity viewers/stages each),
 * then after seating every viewer through assignViewer, each read after Bun.gc(true). The RSS
 * target applies to the total (what the process would hold). Sweeps go the way the fleet loop's
 * sweeper does (sweepViewers in batches of 1,000 until one comes back short): a full sweep removes
 * everyone (silentSince in the future), an empty sweep finds nobody silent (the steady-state cost of
 * each sweeper tick); medians over rounds, re-seating before each. Exits non-zero when anything
 * fails, not when a target is missed.
 */
import { parseArgs } from 'node:util'
import { machineInfo, runBench, spawnChild } from './support/child'
import { median } from './support/common'
import type { PresenceJob, PresenceResult } from './support/presence'

const TARGET_RSS_MB = 200
const SWEEP_BATCH = 1_000 // FleetService.sweepSilentViewers
const MB = 1024 * 1024
const ROOT = new URL('..', import.meta.url).pathname

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    viewers: { type: 'string', default: '100000' },
    stages: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
  },
})
const viewers = positiveInt('viewers', args.viewers)
const stages = positiveInt('stages', args.stages)
const rounds = positiveInt('rounds', args.rounds)

const say = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`)

await runBench('bench:presence', main)

async function main(): Promise<void> {
  const machine = machineInfo()
  say(`machine: ${machine.cpu}, ${machine.cores} cores, bun ${machine.bun}, ${machine.date}, load ${machine.load1}`)
  say(`memory store: ${fmt(viewers)} viewers on ${stages} stages of ${fmt(Math.ceil(viewers / stages))}, in a fresh child process; ${rounds} sweep round(s)`)

  const child = spawnChild('presence', [process.execPath, 'bench/support/presence.ts'], { cwd: ROOT, ipc: true })
  const r = await child.call<PresenceResult>({ viewers, stages, rounds, sweepBatch: SWEEP_BATCH } satisfies PresenceJob)

  const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10
  const ms = (n: number) => Math.round(n * 100) / 100
  const summary = {
    machine,
    viewers,
    stages,
    rounds,
    sweepBatch: SWEEP_BATCH,
    rssMB: { baseline: mb(r.baselineRss), seated: mb(r.seatedRss), delta: mb(r.seatedRss - r.baselineRss) },
    heapUsedMB: { baseline: mb(r.baselineHeap), seated: mb(r.seatedHeap), delta: mb(r.seatedHeap - r.baselineHeap) },
    rssBytesPerViewer: Math.round((r.seatedRss - r.baselineRss) / viewers),
    heapBytesPerViewer: Math.round((r.seatedHeap - r.baselineHeap) / viewers),
    seatMs: ms(r.seatMs),
    fullSweepMs: ms(median(r.fullSweepMs)),
    emptySweepMs: ms(median(r.emptySweepMs)),
    targets: { rssMB: { max: TARGET_RSS_MB, pass: r.seatedRss / MB <= TARGET_RSS_MB } },
    perRound: { fullSweepMs: r.fullSweepMs.map(ms), emptySweepMs: r.emptySweepMs.map(ms) },
  }

  say(`\nRSS (after Bun.gc(true)):`)
  say(`  empty store + stages   ${summary.rssMB.baseline} MB`)
  say(`  ${fmt(viewers)} viewers seated   ${summary.rssMB.seated} MB   target <= ${TARGET_RSS_MB} MB  ${passMiss(summary.targets.rssMB.pass)}`)
  say(
    `  difference             ${summary.rssMB.delta} MB = ${fmt(summary.rssBytesPerViewer)} bytes/viewer   (JS heap used: +${summary.heapUsedMB.delta} MB, ${fmt(summary.heapBytesPerViewer)} bytes/viewer)`,
  )
  say(`seating ${fmt(viewers)} viewers (assignViewer, one by one): ${fmt(summary.seatMs)} ms`)
  say(`sweep, medians of ${rounds} (sweepViewers in batches of ${fmt(SWEEP_BATCH)}):`)
  say(`  removing all ${fmt(viewers)}   ${summary.fullSweepMs} ms   per round: ${summary.perRound.fullSweepMs.join(', ')}`)
  say(`  finding nobody         ${summary.emptySweepMs} ms   per round: ${summary.perRound.emptySweepMs.join(', ')}`)
  if (args.json) process.stdout.write(`${JSON.stringify(summary)}\n`)
}

function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) usage(`--${name} must be a positive integer`)
  return n
}

function usage(message: string): never {
  process.stderr.write(`bench:presence-memory: ${message}\nusage: bun run bench/presence-memory.ts [--json] [--viewers N] [--stages S] [--rounds R]\n`)
  process.exit(2)
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function passMiss(pass: boolean): string {
  return pass ? 'PASS' : 'MISS'
}
