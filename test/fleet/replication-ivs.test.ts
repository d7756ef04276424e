import { afterAll, describe, expect, test } from 'bun:test'
import { ManualTicker } from '../support/clock'
import { until } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { awsModeEnv, type IvsServer, startIvsServer } from '../support/ivs-server'
import { enc, freshServer } from '../support/serve'

/**
 * FANOUT_MODE replicate and hybrid in one serve process against the wire-compatible IVS test server
 * (the real AWS SDK, the real provider): the leader's rounds driven by hand, IVS's replicas read back.
 */
let ivs: IvsServer
// The AWS SDK reads its credentials from the process's environment, not from the config.
const SDK_ENV = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_EC2_METADATA_DISABLED'] as const
const saved = SDK_ENV.map((name) => [name, process.env[name]] as const)
beforeAllOrFail(async () => {
  ivs = await startIvsServer()
  for (const name of SDK_ENV) process.env[name] = awsModeEnv(ivs)[name]
})
afterAll(async () => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  await ivs?.stop()
})

const KEY = 'fanout-test-key-0123456789'

async function serve(mode: 'replicate' | 'hybrid', env: Record<string, string> = {}) {
  // The real clock (stage creations are spaced by it); the loop's ticks and the leader's rounds by hand.
  // A fleet of its own on the shared IVS server (the key prefix names the fleet's tag).
  const fleet = { REDIS_KEY_PREFIX: `${mode}:` }
  const server = await freshServer({ ...awsModeEnv(ivs), API_SECRET_KEY: KEY, FANOUT_MODE: mode, ...fleet, ...env }, { ticker: new ManualTicker() })
  // Start-up (the master at IVS) finishes in the background.
  await until('the master stage', () => server.stages.master().catch(() => null), 10_000)
  const json = async (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const res = await server.api(path, init)
    return { status: res.status, body: (await res.json()) as { data: any; error?: any } }
  }
  const round = () => server.replication.reconcile()
  const activeInto = (arn: string) => ivs.replications().filter((r) => r.state === 'ACTIVE' && r.destinationStageArn === arn)
  return { server, json, round, activeInto }
}

describe('replicate mode against the IVS test server', () => {
  test('the broadcaster replicated into each new stage at once, again when it returns as a new participant, stopped before a stage is deleted; 6 stages at most', async () => {
    const { server, json, round, activeInto } = await serve('replicate', {
      MAX_STAGES: '8',
      STAGE_CAPACITY: '1',
      SCALE_UP_THRESHOLD: '1',
      SCALE_DOWN_THRESHOLD: '0',
    })
    await using _ = server
    const master = (await server.stages.master()).arn
    const publisher = (await json('/api/token/publisher', { method: 'POST', json: { userId: 'broadcaster' } })).body.data
    expect(publisher.stageArn).toBe(master)
    ivs.control.whipSession(master, publisher.token, 'up')
    await round()
    expect((await json('/api/stats')).body.data.stages[0].feed).toEqual({ kind: 'direct' })

    // A stage made now has its replica before the request answers.
    const made = (await json('/api/stage', { method: 'POST', json: { name: 'extra' } })).body.data
    expect(activeInto(made.stageArn).map((r) => [r.sourceStageArn, r.participantId])).toEqual([[master, publisher.participantId]])

    // Viewers fill the fleet: on-demand stages get theirs too, up to 6 stages; the next viewer is refused by the replication quota.
    const refused: any[] = []
    for (let i = 0; i < 7; i++) {
      const r = await json('/api/token/viewer', { method: 'POST', json: { userId: `viewer-${i}` } })
      if (r.status !== 200) refused.push(r)
    }
    const stages = await server.store.listStages()
    expect(stages.length).toBe(6)
    expect(refused.length).toBe(1)
    expect([refused[0].status, refused[0].body.error.code, refused[0].body.error.details.reason]).toEqual([503, 'CAPACITY_EXHAUSTED', 'replication-quota'])
    expect(refused[0].body.error.message).toContain('IVS replicates one participant into at most 5 stages')
    for (const s of stages.filter((x) => !x.isMaster)) expect(activeInto(s.arn).length).toBe(1)
    await round()
    const stats = (await json('/api/stats')).body.data
    expect([stats.fanoutMode, stats.activeReplications]).toEqual(['replicate', 5])
    expect(stats.stages.slice(1).map((s: any) => s.feed)).toEqual(Array(5).fill({ kind: 'replica', originStageArn: master }))

    // The broadcaster reconnects with a new token: a new participant, replicated again; the old replicas go.
    ivs.control.whipSession(master, publisher.token, 'down')
    const again = (await json('/api/token/publisher', { method: 'POST', json: { userId: 'broadcaster' } })).body.data
    ivs.control.whipSession(master, again.token, 'up')
    await round()
    for (const s of stages.filter((x) => !x.isMaster)) expect(activeInto(s.arn).map((r) => r.participantId)).toEqual([again.participantId])

    // Deleting a stage stops its replication first.
    const victim = stages[5]!.arn
    const before = ivs.requests.length
    expect((await json(`/api/stage/${enc(victim)}`, { method: 'DELETE' })).status).toBe(200)
    const ops = ivs.requests.slice(before).map((r) => r.operation)
    expect(ops.indexOf('StopParticipantReplication')).toBeGreaterThanOrEqual(0)
    expect(ops.indexOf('StopParticipantReplication')).toBeLessThan(ops.indexOf('DeleteStage'))
    // No relay in this mode: a relay publish token is refused.
    expect((await json('/api/token/mediaserver', { method: 'POST', json: { serverId: 'r1', stageArn: master } })).status).toBe(409)
  }, 60_000)
})

describe('hybrid mode against the IVS test server', () => {
  test("origins get the relay, the rest replicas of an origin's relay participant; the relay is refused a replica-fed stage", async () => {
    const { server, json, round, activeInto } = await serve('hybrid', { MAX_STAGES: '10' })
    await using _ = server
    for (let i = 0; i < 7; i++) expect((await json('/api/stage', { method: 'POST', json: { name: `h${i}` } })).status).toBe(200)
    const stages = await server.store.listStages()
    expect(stages.length).toBe(8)
    const origins = (await server.replication.relayStages()).map((s) => s.arn)
    expect(origins).toEqual([stages[0]!.arn, stages[6]!.arn])
    // The relay's own list: GET /api/media/stages (and the registration's) names the origins only.
    const listed = (await json('/api/media/stages')).body.data.stages.map((x: { stageArn: string }) => x.stageArn)
    expect(listed).toEqual(origins)
    const registered = await json('/api/media/register', { method: 'POST', json: { serverId: 'r1', ipAddress: '127.0.0.1', port: 3001 } })
    expect(registered.body.data.stages.map((x: { stageArn: string }) => x.stageArn)).toEqual(origins)
    // The relay publishes into the origins with the tokens serve gives it.
    for (const arn of origins) {
      const token = (await json('/api/media/token', { method: 'POST', json: { serverId: 'r1', stageArn: arn } })).body.data
      ivs.control.whipSession(arn, token.token, 'up')
    }
    const refused = await json('/api/media/token', { method: 'POST', json: { serverId: 'r1', stageArn: stages[3]!.arn } })
    expect([refused.status, refused.body.error.code]).toEqual([409, 'CONFLICT'])
    await round()
    await round()
    for (const s of stages.slice(1, 6)) expect(activeInto(s.arn).map((r) => r.sourceStageArn)).toEqual([stages[0]!.arn])
    expect(activeInto(stages[7]!.arn).map((r) => r.sourceStageArn)).toEqual([stages[6]!.arn])
    const feeds = (await json('/api/stats')).body.data.stages.map((s: any) => s.feed?.kind ?? null)
    expect(feeds).toEqual(['relay', 'replica', 'replica', 'replica', 'replica', 'replica', 'relay', 'replica'])
  }, 60_000)
})
