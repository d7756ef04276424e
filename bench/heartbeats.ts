/**
 * Viewer heartbeats against the Upstash store: how many heartbeats share one REST call, and what
 * batching costs in latency. DESIGN.md §8; issue 4 (target: ≥ 100 heartbeats per REST call).
 *
 *   bun run bench/heartbeats.ts [--json] [--rounds 3] [--seconds 10] [--rate 10000] [--viewers 10000]
 *
 * Processes: redis-server and the test Upstash REST server (test/support/upstash-server.ts) run in
 * child processes; this process runs the real client path (HeartbeatBatcher, 200 ms window as in
 * src/config/settings.ts, over an UpstashStore) and the load generator. Viewers are seated first (assignViewer);
 * then heartbeat i goes to viewer i mod viewers, so at the default figures each viewer beats once
 * per second. Pacing is open-loop: heartbeats are submitted on schedule (every 1/rate s, checked
 * each ~1 ms tick) without waiting for earlier answers; latency runs from submit (performance.now)
 * to the resolved outcome. REST calls are the server's own counters, reset before each round and
 * read once every outcome is in. Each figure is the median over rounds. Exits non-zero when a
 * heartbeat fails or is not 'ok', not when a target is missed.
 */
import { parseArgs } from 'node:util'
import { systemClock } from '../src/clock'
import { describeError } from '../src/errors'
import { HeartbeatBatcher } from '../src/fleet/heartbeats'
import { createLogger } from '../src/log'
import { UpstashStore } from '../src/store/upstash'
import { machineInfo, runBench, spawnChild } from './support/child'
import { benchStageRecord, median } from './support/common'
import type { StackCall, StackCounts } from './support/upstash-stack'

const TARGET_PER_CALL = 100
const WINDOW_MS = 200 // the remote-store heartbeat window in src/config/settings.ts
const MAX_BATCH = 5_000 // as src/config/settings.ts
const CAPACITY = 500 // seats per stage; stages = viewers / CAPACITY
const SEAT_IN_FLIGHT = 200
const WARMUP_SECONDS = 2
const ROOT = new URL('..', import.meta.url).pathname

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    rate: { type: 'string', default: '10000' },
    viewers: { type: 'string', default: '10000' },
  },
})
const rounds = positiveInt('rounds', args.rounds)
const seconds = Number(args.seconds)
const rate = positiveInt('rate', args.rate)
const viewers = positiveInt('viewers', args.viewers)
if (!(seconds > 0)) usage('--seconds must be a positive number')

const say = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`)

interface Round {
  heartbeats: number
  ratePerSec: number
  restCalls: number
  perCall: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** How late the generator submitted against its schedule, worst case. */
  maxLagMs: number
  failures: Record<string, number>
}

await runBench('bench:heartbeats', main)

async function main(): Promise<void> {
  const machine = machineInfo()
  say(`machine: ${machine.cpu}, ${machine.cores} cores, bun ${machine.bun}, ${machine.date}, load ${machine.load1}`)

  const stack = spawnChild('upstash stack', [process.execPath, 'bench/support/upstash-stack.ts'], { cwd: ROOT, ipc: true })
  const rest = (call: StackCall) => {
    stack.assertRunning() // a clear error (with the child's output) rather than a failed send
    return stack.call<StackCounts>(call)
  }
  const { url, token } = await stack.call<{ url: string; token: string }>({ op: 'info' } satisfies StackCall)
  const logger = createLogger('warn', { component: 'store' }, (line) => process.stderr.write(`${line}\n`))
  const store = new UpstashStore({ url, token, prefix: `bench-hb-${process.pid}:`, logger, stageCapacity: CAPACITY })
  await store.loadScripts()

  // Seat the viewers: enough stages of CAPACITY, then assignViewer for each (SEAT_IN_FLIGHT at a time).
  const seatStarted = performance.now()
  const stages = Math.ceil(viewers / CAPACITY)
  for (let seq = 0; seq < stages; seq++) {
    if (!(await store.addStage(benchStageRecord(seq), stages))) throw new Error(`addStage ${seq} refused`)
  }
  const users = Array.from({ length: viewers }, (_, i) => `viewer-${i}`)
  const arns: string[] = new Array(viewers)
  for (let from = 0; from < viewers; from += SEAT_IN_FLIGHT) {
    await Promise.all(
      users.slice(from, from + SEAT_IN_FLIGHT).map(async (userId, k) => {
        const seat = await store.assignViewer({ userId, participantId: `p-${userId}`, now: Date.now() })
        if (!seat.ok) throw new Error(`assignViewer ${userId}: no seat`)
        arns[from + k] = seat.stage.arn
      }),
    )
  }
  say(`seated ${fmt(viewers)} viewers on ${stages} stages of ${CAPACITY} in ${((performance.now() - seatStarted) / 1000).toFixed(1)} s`)
  say(
    `load: ${fmt(rate)} heartbeats/s open-loop, ${rounds} round(s) of ${seconds} s after a ${WARMUP_SECONDS} s warm-up; batching window ${WINDOW_MS} ms (max ${fmt(MAX_BATCH)})`,
  )
  say('processes: redis-server and the REST server in children; store client, batcher and load generator in this one')

  const batcher = new HeartbeatBatcher({ store, clock: systemClock }, { windowMs: WINDOW_MS, maxBatch: MAX_BATCH })

  /** One open-loop run; resolves once every submitted heartbeat has its outcome. */
  async function drive(secs: number): Promise<Round> {
    const total = Math.round(secs * rate)
    const latencies = new Float64Array(total)
    const failures: Record<string, number> = {}
    const fail = (why: string) => (failures[why] = (failures[why] ?? 0) + 1)
    const outcomes: Promise<void>[] = []
    let maxLagMs = 0
    let first = 0
    let last = 0
    await rest({ op: 'resetCounts' })
    const start = performance.now()
    for (let sent = 0; sent < total; ) {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1)
      for (; sent < due; sent++) {
        const i = sent
        const v = i % viewers
        const at = performance.now()
        maxLagMs = Math.max(maxLagMs, at - (start + (i * 1000) / rate))
        if (i === 0) first = at
        last = at
        outcomes.push(
          batcher.submit({ userId: users[v]!, stageArn: arns[v]! }).then(
            (outcome) => {
              latencies[i] = performance.now() - at
              if (outcome !== 'ok') fail(`outcome ${outcome}`)
            },
            (error: unknown) => void fail(`error: ${describeError(error)}`),
          ),
        )
      }
      if (sent < total) await Bun.sleep(1)
    }
    await Promise.all(outcomes)
    const counts = await rest({ op: 'counts' })
    latencies.sort()
    const pick = (q: number) => latencies[Math.min(total - 1, Math.floor(q * total))]!
    return {
      heartbeats: total,
      ratePerSec: total > 1 ? ((total - 1) * 1000) / (last - first) : total,
      restCalls: counts.requests,
      perCall: total / Math.max(1, counts.requests),
      p50Ms: pick(0.5),
      p99Ms: pick(0.99),
      maxMs: latencies[total - 1]!,
      maxLagMs,
      failures,
    }
  }

  const warm = await drive(WARMUP_SECONDS)
  if (Object.keys(warm.failures).length > 0) throw new Error(`warm-up heartbeats failed: ${JSON.stringify(warm.failures)}`)

  const results: Round[] = []
  for (let i = 1; i <= rounds; i++) {
    const r = await drive(seconds)
    results.push(r)
    const bad = Object.values(r.failures).reduce((a, b) => a + b, 0)
    say(
      `round ${i}: ${fmt(r.heartbeats)} heartbeats at ${fmt(r.ratePerSec)}/s  ${fmt(r.restCalls)} REST calls  ${fmt(r.perCall)} per call` +
        `  latency p50 ${ms(r.p50Ms)} p99 ${ms(r.p99Ms)} max ${ms(r.maxMs)}  (generator lag max ${ms(r.maxLagMs)})` +
        (bad ? `  FAILED ${fmt(bad)}: ${JSON.stringify(r.failures)}` : ''),
    )
  }

  const mid = (pick: (r: Round) => number) => median(results.map(pick))
  const heartbeats = Math.round(mid((r) => r.heartbeats))
  const restCalls = Math.round(mid((r) => r.restCalls))
  const perCall = Math.round(mid((r) => r.perCall) * 10) / 10
  const failed = results.reduce((n, r) => n + Object.values(r.failures).reduce((a, b) => a + b, 0), 0)
  const round1 = (n: number) => Math.round(n * 10) / 10
  const summary = {
    machine,
    processes: { redisAndRestServer: 'child processes', storeClientAndLoadGenerator: 'bench process' },
    rounds,
    secondsPerRound: seconds,
    targetRatePerSec: rate,
    viewers,
    stages,
    windowMs: WINDOW_MS,
    heartbeats,
    ratePerSec: Math.round(mid((r) => r.ratePerSec)),
    restCalls,
    heartbeatsPerRestCall: perCall,
    latencyMs: { p50: round1(mid((r) => r.p50Ms)), p99: round1(mid((r) => r.p99Ms)), max: round1(mid((r) => r.maxMs)) },
    generatorMaxLagMs: round1(mid((r) => r.maxLagMs)),
    baselineOneCallPerHeartbeat: { restCalls: heartbeats, heartbeatsPerRestCall: 1 },
    failed,
    targets: { heartbeatsPerRestCall: { min: TARGET_PER_CALL, pass: perCall >= TARGET_PER_CALL } },
    perRound: results.map((r) => ({
      ...r,
      ratePerSec: Math.round(r.ratePerSec),
      perCall: round1(r.perCall),
      p50Ms: round1(r.p50Ms),
      p99Ms: round1(r.p99Ms),
      maxMs: round1(r.maxMs),
      maxLagMs: round1(r.maxLagMs),
    })),
  }

  say(`\nmedians of ${results.length} round(s):`)
  say(`  heartbeats sent     ${fmt(heartbeats)} in ${seconds} s at ${fmt(summary.ratePerSec)}/s (asked ${fmt(rate)}/s)`)
  say(`  REST calls          ${fmt(restCalls)}   (one call per heartbeat would be ${fmt(heartbeats)})`)
  say(
    `  heartbeats / call   ${fmt(perCall)}   target >= ${TARGET_PER_CALL}  ${passMiss(summary.targets.heartbeatsPerRestCall.pass)}   (baseline without batching: 1)`,
  )
  say(
    `  latency             p50 ${ms(summary.latencyMs.p50)}  p99 ${ms(summary.latencyMs.p99)}  max ${ms(summary.latencyMs.max)}   (batching window ${WINDOW_MS} ms)`,
  )
  say(`  generator lag       max ${ms(summary.generatorMaxLagMs)} behind schedule (not part of the latency above)`)
  if (args.json) process.stdout.write(`${JSON.stringify(summary)}\n`)
  if (failed > 0) {
    process.stderr.write(`bench:heartbeats: ${fmt(failed)} heartbeat(s) failed or were not 'ok'\n`)
    process.exitCode = 1
  }
}

function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) usage(`--${name} must be a positive integer`)
  return n
}

function usage(message: string): never {
  process.stderr.write(`bench:heartbeats: ${message}\nusage: bun run bench/heartbeats.ts [--json] [--rounds N] [--seconds S] [--rate R] [--viewers V]\n`)
  process.exit(2)
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function ms(n: number): string {
  return `${n.toFixed(1)} ms`
}

function passMiss(pass: boolean): string {
  return pass ? 'PASS' : 'MISS'
}
