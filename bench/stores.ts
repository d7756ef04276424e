/**
 * The shared stores side by side, through the Store contract alone (no HTTP): viewer assignments/s
 * and heartbeats/s on the memory store, Upstash REST (the test REST server in front of its own
 * redis-server), native Redis standalone and a native 3-master cluster, all in one run, each as a
 * ratio to the memory store; and round trips per 1,000 heartbeats, counted by the servers.
 * Issue 10. Also the client choice: raw EVALSHA/s of Bun's RedisClient and of ioredis on the same
 * redis-server.
 *
 *   bun run bench/stores.ts [--json] [--rounds 3] [--viewers 20000] [--in-flight 64]
 *
 * Assignments: --viewers assignViewer calls, --in-flight at a time, onto stages of 500 seats.
 * Heartbeats: batches of 1,000 entries (as HeartbeatBatcher would write them), 4 in flight, for
 * every seated viewer, twice. Round trips: Upstash REST requests the server answered, or EVAL/EVALSHA
 * calls Redis executed (INFO commandstats, summed over cluster nodes), per 1,000 heartbeats.
 * Figures are medians over rounds, each round on a fresh key prefix.
 */

import { parseArgs } from 'node:util'
import { RedisClient } from 'bun'
import { Redis } from 'ioredis'
import { createLogger } from '../src/log'
import { MemoryStore } from '../src/store/memory'
import { RedisStore } from '../src/store/redis'
import type { RedisConnection } from '../src/store/redis-connection'
import type { Store } from '../src/store/types'
import { UpstashStore } from '../src/store/upstash'
import { startRedis, startRedisCluster } from '../test/support/redis'
import { machineInfo, runBench, spawnChild } from './support/child'
import { benchStageRecord, median } from './support/common'
import type { StackCall, StackCounts } from './support/upstash-stack'

const CAPACITY = 500
const HEARTBEAT_BATCH = 1_000
const HEARTBEATS_IN_FLIGHT = 4
const ROOT = new URL('..', import.meta.url).pathname

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    viewers: { type: 'string', default: '20000' },
    'in-flight': { type: 'string', default: '64' },
  },
})
const rounds = Number(args.rounds)
const viewers = Number(args.viewers)
const inFlight = Number(args['in-flight'])
const say = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`)

interface Kind {
  name: string
  make(prefix: string): Promise<Store>
  /** Round trips the server has counted so far. */
  roundTrips(): Promise<number>
}

interface Figures {
  assignsPerSec: number
  heartbeatsPerSec: number
  roundTripsPer1000: number
}

await runBench('bench:stores', main)

async function main(): Promise<void> {
  const machine = machineInfo()
  say(`machine: ${machine.cpu}, ${machine.cores} cores, bun ${machine.bun}, ${machine.date}, load ${machine.load1}`)
  const logger = createLogger('warn', { component: 'store' }, (line) => process.stderr.write(`${line}\n`))
  const stack = spawnChild('upstash stack', [process.execPath, 'bench/support/upstash-stack.ts'], { cwd: ROOT, ipc: true })
  const { url, token } = await stack.call<{ url: string; token: string }>({ op: 'info' } satisfies StackCall)
  const [plain, cluster] = await Promise.all([startRedis(), startRedisCluster()])
  const nodes = [plain.port, ...cluster.nodes.map((n) => n.port)].map((port) => ({ port, admin: new Redis({ port }) }))
  const scriptCalls = async (ports: number[]) => {
    let calls = 0
    for (const node of nodes.filter((n) => ports.includes(n.port))) {
      const stats = await node.admin.info('commandstats')
      for (const match of stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) calls += Number(match[1])
    }
    return calls
  }
  const native = (port: number, clustered: boolean): RedisConnection => ({
    host: '127.0.0.1',
    port,
    username: null,
    password: null,
    db: 0,
    tls: null,
    cluster: clustered,
  })
  const opened: Store[] = []
  const open = async (store: RedisStore) => {
    opened.push(store)
    if ((await store.open()) !== 'ready') throw new Error('redis store not ready')
    await store.loadScripts()
    return store
  }
  const kinds: Kind[] = [
    { name: 'memory', make: async () => new MemoryStore({ stageCapacity: CAPACITY }), roundTrips: async () => 0 },
    {
      name: 'upstash REST',
      make: async (prefix) => {
        const store = new UpstashStore({ url, token, prefix, logger, stageCapacity: CAPACITY })
        await store.loadScripts()
        return store
      },
      roundTrips: async () => (await stack.call<StackCounts>({ op: 'counts' } satisfies StackCall)).requests,
    },
    {
      name: 'redis standalone',
      make: (prefix) => open(new RedisStore({ connection: native(plain.port, false), prefix, logger, stageCapacity: CAPACITY })),
      roundTrips: () => scriptCalls([plain.port]),
    },
    {
      name: 'redis cluster',
      make: (prefix) => open(new RedisStore({ connection: native(cluster.port, true), prefix, logger, stageCapacity: CAPACITY })),
      roundTrips: () => scriptCalls(cluster.nodes.map((n) => n.port)),
    },
  ]

  say(
    `${viewers.toLocaleString('en-US')} assignments (${inFlight} in flight, stages of ${CAPACITY}), then heartbeats in batches of ${HEARTBEAT_BATCH.toLocaleString('en-US')} (${HEARTBEATS_IN_FLIGHT} in flight); ${rounds} round(s)`,
  )
  const results: Record<string, Figures[]> = {}
  for (let round = 1; round <= rounds; round++) {
    for (const kind of kinds) {
      const figures = await measure(kind, `bst${round}-${kind.name.replace(/\W/g, '')}-${process.pid}:`)
      ;(results[kind.name] ??= []).push(figures)
      say(
        `round ${round} ${kind.name.padEnd(16)} ${fmt(figures.assignsPerSec)} assignments/s  ${fmt(figures.heartbeatsPerSec)} heartbeats/s  ${figures.roundTripsPer1000} round trips per 1,000 heartbeats`,
      )
    }
  }

  const summary = Object.fromEntries(
    Object.entries(results).map(([name, list]) => [
      name,
      {
        assignsPerSec: Math.round(median(list.map((f) => f.assignsPerSec))),
        heartbeatsPerSec: Math.round(median(list.map((f) => f.heartbeatsPerSec))),
        roundTripsPer1000: median(list.map((f) => f.roundTripsPer1000)),
      },
    ]),
  ) as Record<string, Figures>
  const memory = summary.memory!
  const stores = Object.entries(summary).map(([name, f]) => ({
    name,
    ...f,
    assignRatio: round3(f.assignsPerSec / memory.assignsPerSec),
    heartbeatRatio: round3(f.heartbeatsPerSec / memory.heartbeatsPerSec),
  }))
  say(`\nmedians of ${rounds} round(s), as ratios to the memory store:`)
  for (const s of stores) {
    say(
      `  ${s.name.padEnd(16)} assignments ${fmt(s.assignsPerSec).padStart(8)}/s (${s.assignRatio.toFixed(3)})   heartbeats ${fmt(s.heartbeatsPerSec).padStart(9)}/s (${s.heartbeatRatio.toFixed(3)})   ${s.roundTripsPer1000} round trips / 1,000 heartbeats`,
    )
  }

  const clients = await clientChoice(plain.port)
  say(
    `\nclient choice, raw EVALSHA ('return 1', ${inFlight} in flight, 2 s, same redis-server): Bun RedisClient ${fmt(clients.bun)}/s, ioredis ${fmt(clients.ioredis)}/s (ratio ${(clients.ioredis / clients.bun).toFixed(2)})`,
  )

  for (const store of opened) await store.close()
  for (const node of nodes) node.admin.disconnect()
  await Promise.all([plain.stop(), cluster.stop()])
  if (args.json) console.log(JSON.stringify({ machine, viewers, inFlight, rounds, stores, clients }))

  async function measure(kind: Kind, prefix: string): Promise<Figures> {
    const store = await kind.make(prefix)
    const stages = Math.ceil(viewers / CAPACITY)
    for (let seq = 0; seq < stages; seq++) await store.addStage(benchStageRecord(seq), stages)
    const users = Array.from({ length: viewers }, (_, i) => `viewer-${i}`)
    const arns: string[] = new Array(viewers)
    let next = 0
    const assignStarted = performance.now()
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        for (let i = next++; i < viewers; i = next++) {
          const seat = await store.assignViewer({ userId: users[i]!, participantId: `p${i}`, now: Date.now() })
          if (!seat.ok) throw new Error(`${kind.name}: no seat for ${users[i]}`)
          arns[i] = seat.stage.arn
        }
      }),
    )
    const assignsPerSec = viewers / ((performance.now() - assignStarted) / 1000)

    const batches: { userId: string; stageArn: string }[][] = []
    for (let pass = 0; pass < 2; pass++) {
      for (let from = 0; from < viewers; from += HEARTBEAT_BATCH)
        batches.push(users.slice(from, from + HEARTBEAT_BATCH).map((userId, k) => ({ userId, stageArn: arns[from + k]! })))
    }
    const tripsBefore = await kind.roundTrips()
    let nextBatch = 0
    const beatStarted = performance.now()
    await Promise.all(
      Array.from({ length: HEARTBEATS_IN_FLIGHT }, async () => {
        for (let b = nextBatch++; b < batches.length; b = nextBatch++) {
          const outcomes = await store.heartbeat(batches[b]!, Date.now())
          if (outcomes.some((o) => o !== 'ok')) throw new Error(`${kind.name}: a heartbeat was not ok`)
        }
      }),
    )
    const beats = batches.reduce((sum, b) => sum + b.length, 0)
    const heartbeatsPerSec = beats / ((performance.now() - beatStarted) / 1000)
    const trips = (await kind.roundTrips()) - tripsBefore
    return { assignsPerSec, heartbeatsPerSec, roundTripsPer1000: round3((trips / beats) * 1000) }
  }
}

/** Raw EVALSHA throughput of each client against the same server: what the store's client choice costs. */
async function clientChoice(port: number): Promise<{ bun: number; ioredis: number }> {
  const source = 'return 1'
  const bun = new RedisClient(`redis://127.0.0.1:${port}`)
  await bun.connect()
  const sha = (await bun.send('SCRIPT', ['LOAD', source])) as string
  const io = new Redis({ port })
  const rate = async (call: () => Promise<unknown>) => {
    let done = 0
    const until = performance.now() + 2_000
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (performance.now() < until) {
          await call()
          done++
        }
      }),
    )
    return done / 2
  }
  const result = { bun: Math.round(await rate(() => bun.send('EVALSHA', [sha, '0']))), ioredis: Math.round(await rate(() => io.evalsha(sha, 0))) }
  bun.close()
  io.disconnect()
  return result
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000
}
