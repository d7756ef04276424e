/**
 * IVS's per-account quotas held by the fleet, not by each instance (issue 12): viewer tokens in
 * API-token mode (every token a CreateParticipantToken call; IVS allows 50 per second per
 * account) through 1, 2 and 3 `serve` processes sharing one native Redis, against the
 * wire-compatible IVS server in this process, which enforces 50 TPS and answers 429 past it.
 *
 *   bun run bench/quotas.ts [--json] [--rounds 3] [--tokens 300] [--instances 1,2,3]
 *
 * Per round and N: N fresh processes on a fresh key prefix, then --tokens viewer tokens spread over
 * them at once. Figures: tokens/s from the first request to the last answer (the client's view; a
 * burst gets a whole window at once, then 50 per window); the steady rate as a share of IVS's 50 TPS
 * (IVS's own acceptance times: the calls after the first window's 50, over the time from the first
 * accepted call to the last; goal ≥ 90 % used); the most calls IVS accepted in any 1 s window; and
 * throttles (goal 0 at every N). Medians over rounds.
 */
import { parseArgs } from 'node:util'
import { Cluster, type Instance } from '../test/support/fleet-cluster'
import { awsModeEnv, startIvsServer } from '../test/support/ivs-server'
import { startRedis } from '../test/support/redis'
import { machineInfo, runBench } from './support/child'
import { median } from './support/common'

const TPS = 50
const API_KEY = 'bench-quotas-api-key-0123456789'
const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    tokens: { type: 'string', default: '300' },
    instances: { type: 'string', default: '1,2,3' },
  },
})
const rounds = Number(args.rounds)
const tokens = Number(args.tokens)
const counts = args.instances.split(',').map(Number)
const say = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`)

interface Round {
  tokensPerSec: number
  /** Calls IVS accepted after the first window's burst, per second, over IVS's 50. */
  steadyShare: number
  peakPerWindow: number
  throttled: number
  failed: number
}

await runBench('bench:quotas', main)

async function main(): Promise<void> {
  const machine = machineInfo()
  say(`machine: ${machine.cpu}, ${machine.cores} cores, bun ${machine.bun}, ${machine.date}, load ${machine.load1}`)
  say(
    `${tokens} viewer tokens per round in API-token mode (CreateParticipantToken, IVS: ${TPS}/s per account), instances ${counts.join(', ')}, ${rounds} round(s), one native Redis`,
  )
  const [redis, ivs] = await Promise.all([startRedis(), startIvsServer({ region: 'eu-west-1' })])
  const results: Record<number, Round[]> = {}
  let prefix = 0
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const n of counts) {
        const cluster = new Cluster(
          {
            ...awsModeEnv(ivs),
            API_SECRET_KEY: API_KEY,
            REDIS_HOST: '127.0.0.1',
            REDIS_PORT: String(redis.port),
            REDIS_KEY_PREFIX: `bq${++prefix}x${process.pid}:`,
            STAGE_CAPACITY: '500',
            MAX_STAGES: '20',
            RATE_LIMIT_MAX_REQUESTS: '10000000',
            LOG_LEVEL: 'info',
          },
          API_KEY,
        )
        try {
          const instances: Instance[] = []
          for (let i = 0; i < n; i++) instances.push(await cluster.start(`i${i}`))
          ivs.resetCounts()
          const started = performance.now()
          const statuses = await Promise.all(
            Array.from({ length: tokens }, (_, i) =>
              instances[i % n]!.api('/api/token/viewer', { method: 'POST', json: { userId: `bench-${i}` } }).then((r) => r.status),
            ),
          )
          const seconds = (performance.now() - started) / 1000
          const accepted = ivs.acceptedAt('CreateParticipantToken')
          const spanS = (Math.max(...accepted) - Math.min(...accepted)) / 1000
          const r: Round = {
            tokensPerSec: tokens / seconds,
            steadyShare: (accepted.length - TPS) / spanS / TPS,
            peakPerWindow: ivs.peakInWindow('CreateParticipantToken', 1000),
            throttled: ivs.answered('CreateParticipantToken', 429),
            failed: statuses.filter((s) => s !== 200).length,
          }
          ;(results[n] ??= []).push(r)
          say(
            `round ${round} N=${n}: ${r.tokensPerSec.toFixed(1)} tokens/s; steady ${(r.steadyShare * 100).toFixed(1)} % of ${TPS} TPS; peak ${r.peakPerWindow}/s, ${r.throttled} throttled, ${r.failed} failed`,
          )
        } finally {
          await cluster.killAll()
        }
      }
    }
  } finally {
    await ivs.stop()
    await redis.stop()
  }
  const perN = counts.map((n) => {
    const list = results[n]!
    const tokensPerSec = median(list.map((r) => r.tokensPerSec))
    return {
      instances: n,
      tokensPerSec: Math.round(tokensPerSec * 10) / 10,
      shareOfQuota: Math.round(median(list.map((r) => r.steadyShare)) * 1000) / 1000,
      peakPerWindow: Math.max(...list.map((r) => r.peakPerWindow)),
      throttled: list.reduce((sum, r) => sum + r.throttled, 0),
      failed: list.reduce((sum, r) => sum + r.failed, 0),
    }
  })
  say(`\nmedians of ${rounds} round(s):`)
  for (const p of perN) {
    say(
      `  N=${p.instances}: ${p.tokensPerSec} tokens/s; steady ${(p.shareOfQuota * 100).toFixed(1)} % of IVS's ${TPS} TPS used (goal ≥ 90 %), peak ${p.peakPerWindow} per 1 s window, ${p.throttled} throttled (goal 0), ${p.failed} failed`,
    )
  }
  const targets = {
    shareOfQuota: { min: 0.9, pass: perN.every((p) => p.shareOfQuota >= 0.9) },
    throttled: { max: 0, pass: perN.every((p) => p.throttled === 0 && p.failed === 0) },
  }
  if (args.json) console.log(JSON.stringify({ machine, tokens, rounds, tps: TPS, perN, targets }))
}
