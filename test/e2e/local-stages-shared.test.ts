/**
 * Local stages (no AWS) with a shared store, as the compose file runs them: two `serve` processes on
 * one real redis-server, no AWS variables. The local stages are one set for both (kept in the store,
 * not in either process): 30 viewers seated, one instance restarted, and both still report the same
 * master, the same stages and the same 30 seats, the viewers' heartbeats still answer ok; a stage
 * created through one instance is renamed and deleted through the other.
 */
import { afterAll, afterEach, describe, expect, test } from 'bun:test'
import { Cluster, type Instance } from '../support/fleet-cluster'
import { beforeAllOrFail } from '../support/hooks'
import { type RedisServer, startRedis } from '../support/redis'

const API_KEY = 'local-shared-api-key-0123456789'
let redis: RedisServer
let cluster: Cluster | null = null
let run = 0

beforeAllOrFail(async () => {
  redis = await startRedis()
})
afterEach(async () => {
  await cluster?.killAll()
  cluster = null
})
afterAll(async () => {
  await redis?.stop()
})

interface StageJson {
  stageArn: string
  name: string
  isMaster: boolean
  viewerCount: number
}

async function data<T>(response: Response | Promise<Response>, what: string): Promise<T> {
  const res = await response
  const body = (await res.json()) as { data?: T; error?: { code: string; message: string } }
  if (res.status !== 200) throw new Error(`${what} answered ${res.status}: ${JSON.stringify(body.error)}`)
  return body.data!
}

const stageList = async (i: Instance) => (await data<{ stages: StageJson[] }>(i.api('/api/stage/list'), `${i.name} stage list`)).stages
const masterOf = async (i: Instance) =>
  (await data<{ stageArn: string }>(i.api('/api/token/publisher', { method: 'POST', json: { userId: 'broadcaster' } }), `${i.name} publisher token`)).stageArn
const totalViewers = async (i: Instance) => (await data<{ totalViewers: number }>(i.api('/api/stats'), `${i.name} stats`)).totalViewers
/** [arn, name, isMaster, viewers] of every stage, in assignment order. */
const picture = async (i: Instance) => (await stageList(i)).map((s) => [s.stageArn, s.name, s.isMaster, s.viewerCount])

function localCluster(): Cluster {
  cluster = new Cluster(
    {
      API_SECRET_KEY: API_KEY,
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(redis.port),
      REDIS_KEY_PREFIX: `local${++run}x${Date.now().toString(36)}:`,
      // 30 viewers: the master full, a second stage with 10 (below the threshold: nothing made ahead).
      STAGE_CAPACITY: '20',
      SCALE_UP_THRESHOLD: '18',
      SCALE_DOWN_THRESHOLD: '1',
      RATE_LIMIT_MAX_REQUESTS: '1000000',
      SHUTDOWN_GRACE_MS: '100',
      LOG_LEVEL: 'info',
    },
    API_KEY,
  )
  return cluster
}

describe('local stages, two serve processes on one redis-server, no AWS', () => {
  test('30 viewers seated, one instance restarted: both keep the master, the stages and the 30 seats', async () => {
    const fleet = localCluster()
    const a = await fleet.start('a', {}, 15_000)
    const b = await fleet.start('b', {}, 15_000)
    expect(a.logs().find((l) => l.msg === 'serving')).toMatchObject({ provider: 'local', store: expect.stringContaining('redis') })

    const seated: { userId: string; stageArn: string; viewerSession: string }[] = []
    for (let n = 0; n < 30; n++) {
      const via = n % 2 === 0 ? a : b
      const userId = `viewer-${n}`
      const token = await data<{ stageArn: string; viewerSession: string }>(
        via.api('/api/token/viewer', { method: 'POST', json: { userId } }),
        `viewer token ${userId} via ${via.name}`,
      )
      seated.push({ userId, stageArn: token.stageArn, viewerSession: token.viewerSession })
    }
    const master = await masterOf(a)
    expect(await masterOf(b)).toBe(master)
    // Let the leader's loop (1 s ticks) settle.
    await Bun.sleep(1_500)
    const before = await picture(a)
    expect(await picture(b)).toEqual(before)
    expect(before.filter(([, , isMaster]) => isMaster).map(([arn]) => arn)).toEqual([master])
    expect(before.map(([, , , viewers]) => viewers)).toEqual([20, 10])
    expect(await totalViewers(a)).toBe(30)

    // Restart a (SIGTERM, then a new process on the same store).
    a.process.kill('SIGTERM')
    expect(await a.process.proc.exited).toBe(0)
    const again = await fleet.start('a-again', {}, 15_000)

    for (const i of [again, b]) {
      expect(await masterOf(i)).toBe(master)
      expect(await picture(i)).toEqual(before)
      expect(await totalViewers(i)).toBe(30)
    }
    // The seats are the viewers' own: a heartbeat through the restarted instance finds each one where it sat.
    const beats = await Promise.all(
      seated.map(async (v) => {
        const res = await again.api('/api/viewer/heartbeat', {
          method: 'POST',
          headers: { authorization: `Bearer ${v.viewerSession}` },
          json: { userId: v.userId, stageArn: v.stageArn },
        })
        return [v.userId, res.status]
      }),
    )
    expect(beats).toEqual(seated.map((v) => [v.userId, 200]))
    expect(again.logs().filter((l) => l.msg === 'master stage created')).toEqual([])
  }, 60_000)

  test('a stage created through one instance is renamed and deleted through the other', async () => {
    const fleet = localCluster()
    const a = await fleet.start('a', {}, 15_000)
    const b = await fleet.start('b', {}, 15_000)
    const created = await data<StageJson>(a.api('/api/stage', { method: 'POST', json: { name: 'made-on-a' } }), 'create via a')
    const path = `/api/stage/${encodeURIComponent(created.stageArn)}`

    const renamed = await data<StageJson>(b.api(path, { method: 'PUT', json: { name: 'renamed-on-b' } }), 'rename via b')
    expect(renamed).toMatchObject({ stageArn: created.stageArn, name: 'renamed-on-b' })
    expect((await data<StageJson>(a.api(path), 'get via a')).name).toBe('renamed-on-b')

    expect(await data<{ stageArn: string; removedViewers: number }>(b.api(path, { method: 'DELETE' }), 'delete via b')).toEqual({
      stageArn: created.stageArn,
      removedViewers: 0,
    })
    expect((await a.api(path)).status).toBe(404)
    expect((await stageList(a)).map((s) => s.stageArn)).not.toContain(created.stageArn)
    // A restart does not bring the deleted stage back, nor lose the master.
    const master = await masterOf(b)
    a.process.kill('SIGTERM')
    await a.process.proc.exited
    const again = await fleet.start('a-again', {}, 15_000)
    expect(await masterOf(again)).toBe(master)
    expect((await stageList(again)).map((s) => s.stageArn)).toEqual([master])
  }, 60_000)
})
