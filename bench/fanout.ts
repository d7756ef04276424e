/**
 * Hybrid fan-out at scale (issue 21's open item): how soon a new stage gets its feed while the
 * leader's replication rounds run, in a fleet that grows to --stages stages.
 *
 *   bun run bench/fanout.ts [--json] [--rounds 3] [--stages 120] [--small 12] [--log-file serve.jsonl]
 *
 * Each round is a fresh fleet (IVS test server, serve, relay, publisher); figures are medians over rounds.
 *
 * Real processes: `serve` (FANOUT_MODE=hybrid, AWS mode) against the wire-compatible IVS server in
 * this process at IVS's real 5 TPS per operation, a relay process, a test publisher; the stage WHIP
 * endpoint double makes the relay's sessions participants that publish. Viewers arrive one after
 * another (2 seats a stage), so serve creates stages ahead of them up to --stages, each followed by
 * its hook: an origin gets the relay, every other stage a replica of its origin's relay participant.
 *
 * Figure, per stage fed by a replica: IVS's CreateStage answer → the replication ACTIVE at IVS. The
 * first --small stages (a fleet whose rounds read a few origins in well under a second) are the
 * baseline of the same run; the ratio is the p90 past 5 × --small stages over the baseline's p90,
 * every stage fed later than 1 s is listed, and the target is every replica stage fed within 2 s. A hook that found the fan-out busy for its whole wait leaves its stage to the leader's
 * next round (seconds later at scale): counted from serve's log.
 */
import { parseArgs } from 'node:util'
import { originsNeeded } from '../src/fleet/origin-assignment'
import { generateKeyPair } from '../src/ivs/signer'
import { eventually } from '../test/support/eventually'
import { describeRates, ivsRates, startWatchedIvs } from '../test/support/feed-watch'
import { Cluster } from '../test/support/fleet-cluster'
import { awsModeEnv } from '../test/support/ivs-server'
import { spawnRelay } from '../test/support/process'
import { TestPublisher } from '../test/support/publisher'
import { machineInfo, runBench } from './support/child'
import { median } from './support/common'

const API_KEY = 'bench-fanout-api-key-0123456789'
const PUBLISH_SECRET = 'bench-fanout-publish-secret-0123'
const KEY_ARN = 'arn:aws:ivs:eu-west-1:123456789012:public-key/BenchFanout1'
const BUSY_HOOK = "the fan-out is busy: a new stage's feed is left to the leader's next round"

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    stages: { type: 'string', default: '120' },
    small: { type: 'string', default: '12' },
    rounds: { type: 'string', default: '3' },
    'log-file': { type: 'string' },
  },
})
const STAGES = Number(args.stages)
const SMALL = Number(args.small)
const ROUNDS = Number(args.rounds)
if (!Number.isInteger(STAGES) || !Number.isInteger(SMALL) || !Number.isInteger(ROUNDS) || ROUNDS < 1 || SMALL < 6 || STAGES < 5 * SMALL + 12) {
  process.stderr.write('usage: bun run bench/fanout.ts [--json] [--rounds R ≥ 1] [--stages N ≥ 5 × small + 12] [--small S ≥ 6] [--log-file PATH]\n')
  process.exit(2)
}
const say = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`)
const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!

/** A stage fed later than this after its creation had viewers sent to a stage without the broadcaster. */
const LATE_MS = 1_000

interface Round {
  rampSeconds: number
  /** Created → replica ACTIVE (ms), the baseline's stages and those past 5 × --small. */
  small: number[]
  large: number[]
  /** Replica stages fed later than LATE_MS: stage number (the master is #1) and ms. */
  late: { stage: number; ms: number }[]
  busyHooks: number
  replicaStages: number
  /** IVS's calls during the ramp, per operation (peaks), and throttles. */
  ivs: string
}

await runBench('bench:fanout', main)

async function main(): Promise<void> {
  const machine = machineInfo()
  say(`machine: ${machine.cpu}, ${machine.cores} cores, bun ${machine.bun}, ${machine.date}, load ${machine.load1}`)
  say(
    `serve FANOUT_MODE=hybrid against the IVS test server at 5 TPS per operation, a relay, a test publisher; viewers one after another, 2 seats a stage, up to ${STAGES} stages (${originsNeeded(STAGES)} origins); ${ROUNDS} round(s)`,
  )
  const rounds: Round[] = []
  for (let i = 1; i <= ROUNDS; i++) {
    const r = await ramp(i === ROUNDS ? args['log-file'] : undefined)
    rounds.push(r)
    say(
      `round ${i}: ramp ${r.rampSeconds.toFixed(1)} s; created → replica ACTIVE: baseline p90 ${quantile(r.small, 0.9).toFixed(0)} ms; ` +
        `stages ${5 * SMALL}–${STAGES} median ${median(r.large).toFixed(0)} ms, p90 ${quantile(r.large, 0.9).toFixed(0)} ms, max ${Math.max(...r.large).toFixed(0)} ms; ` +
        `fed later than ${LATE_MS} ms: ${r.late.length} of ${r.replicaStages}${r.late.length ? ` (${r.late.map((l) => `#${l.stage} ${l.ms.toFixed(0)} ms`).join(', ')})` : ''}; busy hooks ${r.busyHooks}`,
    )
    say(`  ${r.ivs}`)
  }
  const of = (f: (r: Round) => number) => median(rounds.map(f))
  const summary = {
    bench: 'fanout',
    machine,
    stages: STAGES,
    rounds: ROUNDS,
    baselineP90Ms: of((r) => quantile(r.small, 0.9)),
    largeMedianMs: of((r) => median(r.large)),
    largeP90Ms: of((r) => quantile(r.large, 0.9)),
    largeMaxMs: of((r) => Math.max(...r.large)),
    late: of((r) => r.late.length),
    replicaStages: of((r) => r.replicaStages),
    busyHooks: of((r) => r.busyHooks),
    rampSeconds: of((r) => r.rampSeconds),
  }
  const ratio = summary.largeP90Ms / summary.baselineP90Ms
  say(`\nmedians of ${ROUNDS} round(s), stage created → its replica ACTIVE:`)
  say(`  baseline (stages 2–${SMALL}): p90 ${summary.baselineP90Ms.toFixed(0)} ms`)
  say(
    `  stages ${5 * SMALL}–${STAGES}: median ${summary.largeMedianMs.toFixed(0)} ms, p90 ${summary.largeP90Ms.toFixed(0)} ms (${ratio.toFixed(1)}× the baseline's), max ${summary.largeMaxMs.toFixed(0)} ms`,
  )
  say(
    `  fed later than ${LATE_MS} ms: ${summary.late} of ${summary.replicaStages} replica stages; hooks that found the fan-out busy: ${summary.busyHooks}; ramp ${summary.rampSeconds.toFixed(1)} s`,
  )
  const pass = summary.largeMaxMs <= 2 * LATE_MS
  say(`  every replica stage fed within ${2 * LATE_MS} ms of its creation (max): ${pass ? 'PASS' : 'MISS'}`)
  if (args.json) process.stdout.write(`${JSON.stringify({ ...summary, ratio, target: { maxMs: 2 * LATE_MS, pass } })}\n`)
}

/** One fresh fleet ramped to STAGES stages. */
async function ramp(logFile: string | undefined): Promise<Round> {
  const { ivs, whip, watch } = await startWatchedIvs()
  const { privateKeyPem } = await generateKeyPair()
  const cluster = new Cluster(
    {
      ...awsModeEnv(ivs),
      API_SECRET_KEY: API_KEY,
      IVS_PUBLIC_KEY_ARN: KEY_ARN,
      IVS_PRIVATE_KEY: privateKeyPem,
      FANOUT_MODE: 'hybrid',
      MAX_STAGES: String(STAGES),
      STAGE_CAPACITY: '2',
      SCALE_UP_THRESHOLD: '2',
      SCALE_DOWN_THRESHOLD: '0',
      HEARTBEAT_TIMEOUT_MS: '600000',
      RATE_LIMIT_MAX_REQUESTS: '10000000',
      LOG_LEVEL: 'info',
    },
    API_KEY,
  )
  let relay: Awaited<ReturnType<typeof spawnRelay>> | null = null
  let publisher: TestPublisher | null = null
  try {
    watch.start()
    const serve = await cluster.start('serve')
    await serve.waitForLog((l) => l.msg === 'became leader')
    relay = await spawnRelay({ API_SERVER_URL: serve.url, API_SECRET_KEY: API_KEY, SERVER_ID: 'edge1', PUBLISH_SECRET, LOG_LEVEL: 'warn' })
    publisher = new TestPublisher(relay.url, PUBLISH_SECRET)
    await publisher.start()
    const master = [...ivs.stages.keys()][0]!
    await eventually('the relay in the master', () => watch.feedsOf(master).some((f) => f.kind === 'relay'), 10_000)

    const from = performance.now()
    const order: string[] = []
    for (let i = 0; order.length < STAGES - 1; i++) {
      const res = await serve.api('/api/token/viewer', { method: 'POST', json: { userId: `viewer-${i}` } })
      if (res.status !== 200) throw new Error(`viewer ${i}: ${res.status} ${await res.text()}`)
      for (const arn of ivs.stages.keys()) if (arn !== master && !order.includes(arn)) order.push(arn)
      if (i > STAGES * 3) throw new Error(`${STAGES * 3} viewers seated but only ${order.length + 1} stages made`)
    }
    await eventually('every stage fed', () => order.every((arn) => watch.feedsOf(arn).length > 0), 120_000, 50)
    const to = performance.now()
    const rampSeconds = (to - from) / 1000

    // Created: when IVS received the CreateStage that made it (found by the stage's name).
    const createdAt = (arn: string) =>
      ivs.requests.find((r) => r.operation === 'CreateStage' && r.status === 200 && r.body?.name === ivs.stages.get(arn)?.name)!.at
    const replicas = order
      .map((arn, index) => ({ stage: index + 2, kind: watch.feedsOf(arn)[0]!.kind, arn }))
      .filter((r) => r.kind === 'replica')
      .map((r) => ({ stage: r.stage, ms: watch.firstAt(r.arn, (f) => f.kind === 'replica')! - createdAt(r.arn) }))
    if (logFile)
      await Bun.write(
        logFile,
        serve
          .logs()
          .map((l) => JSON.stringify(l))
          .join('\n'),
      )
    return {
      rampSeconds,
      small: replicas.filter((r) => r.stage <= SMALL).map((r) => r.ms),
      large: replicas.filter((r) => r.stage >= 5 * SMALL).map((r) => r.ms),
      late: replicas.filter((r) => r.ms > LATE_MS),
      busyHooks: serve.logs().filter((l) => l.msg === BUSY_HOOK).length,
      replicaStages: replicas.length,
      ivs: describeRates('IVS', ivsRates(ivs, from, to)),
    }
  } finally {
    await publisher?.stop().catch(() => {})
    if (relay && relay.p.proc.exitCode === null) relay.p.kill('SIGKILL')
    await relay?.p.proc.exited
    await cluster.killAll()
    watch.stop()
    await whip.stop()
    await ivs.stop()
  }
}
