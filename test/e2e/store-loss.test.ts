/**
 * The shared Redis loses its data (FLUSHALL) under a running fleet: publisher tokens and readiness
 * answer 503 with the reason until the leader's next tick puts the master and the fleet's tagged
 * stages back, then everything serves again without a restart. In process with a hand-driven
 * ticker, and as two processes on one real redis-server and one IVS server with real timers.
 * Local stages (no AWS) live in that same store: a FLUSHALL loses them too, so the fleet starts over.
 */
import { afterAll, afterEach, describe, expect, test } from 'bun:test'
import { Redis } from 'ioredis'
import { generateKeyPair } from '../../src/ivs/signer'
import { ManualTicker } from '../support/clock'
import { eventually } from '../support/eventually'
import { Cluster, type Instance } from '../support/fleet-cluster'
import { beforeAllOrFail } from '../support/hooks'
import { awsModeEnv, type IvsServer, startIvsServer } from '../support/ivs-server'
import { type RedisServer, startRedis } from '../support/redis'
import { startTestServer } from '../support/serve'

// The in-process server in AWS mode: the SDK's default credential chain reads these (the IVS server accepts any signature).
process.env.AWS_ACCESS_KEY_ID = 'AKIDLOCALTEST'
process.env.AWS_SECRET_ACCESS_KEY = 'local-test-secret'

const API_KEY = 'store-loss-api-key-0123456789'
let redis: RedisServer
let client: Redis
let ivs: IvsServer
let cluster: Cluster | null = null
let n = 0

beforeAllOrFail(async () => {
  ;[redis, ivs] = await Promise.all([startRedis(), startIvsServer({ region: 'eu-west-1', whipUrl: 'https://whip.example.test' })])
  client = new Redis({ port: redis.port })
})
afterEach(async () => {
  await cluster?.killAll()
  cluster = null
})
afterAll(async () => {
  client?.disconnect()
  await Promise.all([redis?.stop(), ivs?.stop()])
})

const ready = async (url: string) => {
  const res = await fetch(`${url}/health/ready`)
  return { status: res.status, body: await res.json() }
}

describe('FLUSHALL under a running fleet', () => {
  test('publisher tokens and readiness are 503 with the reason until the next leader tick restores the master and the tagged stages', async () => {
    const ticker = new ManualTicker()
    const server = await startTestServer(
      { ...awsModeEnv(ivs), REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port), REDIS_KEY_PREFIX: `loss${++n}:`, API_SECRET_KEY: API_KEY },
      { ticker },
    )
    try {
      const publisher = () => server.api('/api/token/publisher', { method: 'POST', json: { userId: 'pub' } })
      const first = await publisher()
      expect(first.status).toBe(200)
      const master = (await first.json()).data.stageArn as string
      const second = (await (await server.api('/api/stage', { method: 'POST', json: { name: 'second' } })).json()).data.stageArn as string
      await server.loop.tick()
      expect(server.lease.isLeader).toBe(true)

      await client.flushall()
      const lost = await publisher()
      expect(lost.status).toBe(503)
      expect((await lost.json()).error.message).toContain('the store has lost its record')
      // First readiness call since the flush (nothing cached): 503, naming the master stage.
      const notReady = await ready(server.url)
      expect(notReady.status).toBe(503)
      expect(notReady.body.error.details.checks.fleet).toMatchObject({ ok: false, kind: 'master stage' })
      expect(notReady.body.error.details.checks.fleet.error).toContain('the store has lost its record')
      expect(notReady.body.error.details.checks.store.ok).toBe(true)
      // Viewers keep coming in meanwhile, on a stage made for them.
      const viewer = await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'v-during' } })
      expect(viewer.status).toBe(200)
      const newcomerStage = (await viewer.json()).data.stageArn as string

      await server.loop.tick()
      const back = await publisher()
      expect(back.status).toBe(200)
      expect((await back.json()).data.stageArn).toBe(master)
      const stages = (await (await server.api('/api/stage/list')).json()).data.stages as { stageArn: string; isMaster: boolean }[]
      expect(stages.filter((s) => s.isMaster).map((s) => s.stageArn)).toEqual([master])
      expect(stages.map((s) => s.stageArn).sort()).toEqual([master, second, newcomerStage].sort())
      // Readiness answers are reused for 2 s: allow for the cached 503.
      await eventually('ready again', async () => (await ready(server.url)).status === 200, 5_000, 200)
      expect((await ready(server.url)).status).toBe(200)
    } finally {
      await server.stop()
    }
  }, 30_000)

  test('local stages are lost with the store: the next leader tick starts the fleet over with a new master, and it serves again', async () => {
    const ticker = new ManualTicker()
    const server = await startTestServer(
      { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port), REDIS_KEY_PREFIX: `loss${++n}:`, API_SECRET_KEY: API_KEY },
      { ticker },
    )
    try {
      const publisher = () => server.api('/api/token/publisher', { method: 'POST', json: { userId: 'pub' } })
      const master = (await (await publisher()).json()).data.stageArn as string
      await server.api('/api/stage', { method: 'POST', json: { name: 'second' } })
      await server.loop.tick()
      expect(server.lease.isLeader).toBe(true)
      expect(await server.provider.listStages()).toHaveLength(2)

      await client.flushall()
      expect(await server.provider.listStages()).toEqual([])
      expect((await publisher()).status).toBe(503)
      await server.loop.tick()
      const back = await publisher()
      expect(back.status).toBe(200)
      const newMaster = (await back.json()).data.stageArn as string
      expect(newMaster).not.toBe(master)
      const stages = (await (await server.api('/api/stage/list')).json()).data.stages as { stageArn: string; isMaster: boolean }[]
      expect(stages.map((s) => [s.stageArn, s.isMaster])).toEqual([[newMaster, true]])
      expect((await server.provider.listStages()).map((s) => s.arn)).toEqual([newMaster])
      await eventually('ready again', async () => (await ready(server.url)).status === 200, 5_000, 200)
    } finally {
      await server.stop()
    }
  }, 30_000)

  test('two processes: both serve publisher tokens for the same master again within a couple of ticks', async () => {
    const prefix = `lossp${++n}x${Date.now().toString(36)}:`
    const { privateKeyPem } = await generateKeyPair()
    cluster = new Cluster(
      {
        ...awsModeEnv(ivs),
        API_SECRET_KEY: API_KEY,
        IVS_PUBLIC_KEY_ARN: 'arn:aws:ivs:eu-west-1:123456789012:public-key/StoreLoss001',
        IVS_PRIVATE_KEY: privateKeyPem,
        REDIS_HOST: '127.0.0.1',
        REDIS_PORT: String(redis.port),
        REDIS_KEY_PREFIX: prefix,
        // A 3 s lease: the loop ticks every second.
        LEADER_LEASE_MS: '3000',
        LOG_LEVEL: 'info',
      },
      API_KEY,
    )
    const a = await cluster.start('a', {}, 15_000)
    const b = await cluster.start('b', {}, 15_000)
    const publisher = async (i: Instance) => {
      const res = await i.api('/api/token/publisher', { method: 'POST', json: { userId: 'pub' } })
      return { status: res.status, stageArn: res.status === 200 ? ((await res.json()).data.stageArn as string) : null }
    }
    const master = (await publisher(a)).stageArn!
    expect((await publisher(b)).stageArn).toBe(master)
    await a.waitForLog((l) => l.msg === 'became leader', 5_000).catch(() => b.waitForLog((l) => l.msg === 'became leader', 5_000))

    await client.flushall()
    const flushedAt = performance.now()
    expect((await publisher(a)).status).toBe(503)
    const back = new Map<string, number>()
    while (back.size < 2 && performance.now() - flushedAt < 10_000) {
      for (const i of [a, b]) {
        if (back.has(i.name)) continue
        const answer = await publisher(i)
        if (answer.status === 200) {
          expect(answer.stageArn).toBe(master)
          back.set(i.name, performance.now() - flushedAt)
        }
      }
      await Bun.sleep(50)
    }
    console.log(`publisher tokens back after FLUSHALL: ${[...back].map(([name, ms]) => `${name} ${(ms / 1000).toFixed(2)} s`).join(', ')}`)
    expect([...back.keys()].sort()).toEqual(['a', 'b'])
    expect(Math.max(...back.values())).toBeLessThan(3_000)
    const restored = (i: Instance) => i.logs().some((l) => l.msg === 'fleet records restored: the store had lost the master stage')
    await Promise.any([a, b].map((i) => i.waitForLog((l) => l.msg === 'fleet records restored: the store had lost the master stage', 5_000)))
    expect([a, b].filter(restored).length).toBe(1)
    for (const i of [a, b]) {
      await eventually(`${i.name} ready again`, async () => (await ready(i.url)).status === 200, 5_000, 200)
      expect((await ready(i.url)).status).toBe(200)
    }
  }, 60_000)
})
