import { afterEach, describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors'
import { AwsStageProvider } from '../../src/ivs/aws'
import { type Logger, silentLogger } from '../../src/log'
import { statusOf } from '../../src/web/error-status'
import { testIvsApi } from '../support/ivs-client'
import { IVS_OPERATIONS, type IvsServer, type IvsServerOptions, type IvsStage, startIvsServer } from '../support/ivs-server'

/** AwsStageProvider's participants and participant replication against the wire-compatible IVS server, through the real SDK client. */
const servers: IvsServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})

const UNTHROTTLED = Object.fromEntries(IVS_OPERATIONS.map((op) => [op, 1000]))

async function setup(stageCount: number, options: { server?: IvsServerOptions; pageSize?: number; logger?: Logger } = {}) {
  const server = await startIvsServer({ tps: UNTHROTTLED, ...options.server })
  servers.push(server)
  const provider = new AwsStageProvider(testIvsApi(server, { logger: options.logger }).api, { pageSize: options.pageSize })
  const stages = Array.from({ length: stageCount }, (_, i) => server.seedStage({ name: `s${i}` }))
  return { server, provider, stages }
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(AppError)
    return error as AppError
  }
  throw new Error('expected the call to fail')
}

const MISSING = 'arn:aws:ivs:eu-west-1:123456789012:stage/Missing12345'

describe('participants and publishingParticipants', () => {
  test('no session: [] and 0 after one GetStage; a missing stage is NOT_FOUND', async () => {
    const { server, provider, stages } = await setup(1)
    expect(await provider.participants(stages[0]!.arn)).toEqual([])
    expect(await provider.publishingParticipants(stages[0]!.arn)).toBe(0)
    expect([server.calls.GetStage, server.calls.ListParticipants]).toEqual([2, 0])
    const missing = await rejection(provider.participants(MISSING))
    expect([missing.code, missing.message]).toEqual(['NOT_FOUND', `stage ${MISSING} not found at IVS`])
  })

  test('those that published in the current session, replicas with their source; viewers left out by the one filter IVS takes', async () => {
    const { server, provider, stages } = await setup(2)
    const [source, destination] = stages as [IvsStage, IvsStage]
    server.control.setParticipants(source.arn, [
      { participantId: 'obs-1', userId: 'broadcaster', published: true, state: 'CONNECTED' },
      { participantId: 'old-1', published: true, state: 'DISCONNECTED' },
      { participantId: 'viewer-1', userId: 'v', published: false, state: 'CONNECTED' },
    ])
    await provider.startReplication({ sourceStageArn: source.arn, destinationStageArn: destination.arn, participantId: 'obs-1', reconnectWindowSeconds: 0 })
    server.control.setParticipants(destination.arn, [{ participantId: 'guest-1', published: true, state: 'CONNECTED' }])
    server.resetCounts()

    expect(await provider.participants(source.arn)).toEqual([
      { participantId: 'obs-1', userId: 'broadcaster', published: true, state: 'CONNECTED', replicationType: 'SOURCE', sourceStageArn: null },
      { participantId: 'old-1', userId: null, published: true, state: 'DISCONNECTED', replicationType: 'NONE', sourceStageArn: null },
    ])
    expect(server.requests.map((r) => [r.operation, r.body])).toEqual([
      ['GetStage', { arn: source.arn }],
      ['ListParticipants', { stageArn: source.arn, sessionId: server.stages.get(source.arn)!.activeSessionId, filterByPublished: true, maxResults: 100 }],
    ])
    expect(await provider.participants(destination.arn)).toEqual([
      { participantId: 'obs-1', userId: 'broadcaster', published: true, state: 'CONNECTED', replicationType: 'REPLICA', sourceStageArn: source.arn },
      { participantId: 'guest-1', userId: null, published: true, state: 'CONNECTED', replicationType: 'NONE', sourceStageArn: null },
    ])

    // Publishing: published, CONNECTED and not a replica. Still one GetStage and one ListParticipants.
    server.resetCounts()
    expect(await provider.publishingParticipants(source.arn)).toBe(1)
    expect(await provider.publishingParticipants(destination.arn)).toBe(1)
    expect([server.calls.GetStage, server.calls.ListParticipants]).toEqual([2, 2])
  })

  test('every page of ListParticipants is followed', async () => {
    const { server, provider, stages } = await setup(1, { pageSize: 2 })
    const ids = ['p1', 'p2', 'p3', 'p4', 'p5']
    server.control.setParticipants(
      stages[0]!.arn,
      ids.map((participantId) => ({ participantId, published: true, state: 'CONNECTED' as const })),
    )
    expect((await provider.participants(stages[0]!.arn)).map((p) => p.participantId)).toEqual(ids)
    expect(server.calls.ListParticipants).toBe(3)
    expect(await provider.publishingParticipants(stages[0]!.arn)).toBe(5)
  })
})

describe('startReplication', () => {
  test('StartParticipantReplication with every field; starting one already ACTIVE is not an error (one ListParticipantReplicas to tell), and logs no warning', async () => {
    const warnings: string[] = []
    const logger: Logger = { ...silentLogger, warn: (message) => void warnings.push(message), child: () => logger }
    const { server, provider, stages } = await setup(2, { logger })
    const [source, destination] = stages as [IvsStage, IvsStage]
    server.control.setParticipants(source.arn, [{ participantId: 'obs-1', published: true, state: 'CONNECTED' }])
    const request = {
      sourceStageArn: source.arn,
      destinationStageArn: destination.arn,
      participantId: 'obs-1',
      reconnectWindowSeconds: 30,
      attributes: { a: 'b' },
    }
    await provider.startReplication(request)
    expect(server.requests.at(-1)!.body).toEqual(request)
    expect(server.replications()).toMatchObject([{ destinationStageArn: destination.arn, state: 'ACTIVE', reconnectWindowSeconds: 30 }])

    await provider.startReplication(request)
    expect([server.answered('StartParticipantReplication', 409), server.calls.ListParticipantReplicas]).toEqual([1, 1])
    expect(server.replications()).toHaveLength(1)
    expect(warnings).toEqual([])
  })

  test('IVS’s refusals: 409 → CONFLICT (not publishing), 402 → CAPACITY_EXHAUSTED replication-quota, 404 → NOT_FOUND, 400 → VALIDATION_ERROR; none retried', async () => {
    const { server, provider, stages } = await setup(8)
    const [source, destination, ...more] = stages as [IvsStage, IvsStage, ...IvsStage[]]
    server.control.setParticipants(source.arn, [
      { participantId: 'obs-1', published: true, state: 'CONNECTED' },
      { participantId: 'viewer-1', published: false, state: 'CONNECTED' },
    ])
    const base = { sourceStageArn: source.arn, destinationStageArn: destination.arn, participantId: 'obs-1', reconnectWindowSeconds: 0 }

    const conflict = await rejection(provider.startReplication({ ...base, participantId: 'viewer-1' }))
    expect([conflict.code, statusOf(conflict.code), conflict.message]).toEqual([
      'CONFLICT',
      409,
      `IVS refused StartParticipantReplication because of a conflict: Participant viewer-1 is not publishing in stage ${source.arn}`,
    ])
    // The 409 was checked against the participant's replicas: none ACTIVE there, so it stands.
    expect([server.calls.StartParticipantReplication, server.calls.ListParticipantReplicas]).toEqual([1, 1])

    for (const stage of [destination, ...more.slice(0, 4)]) await provider.startReplication({ ...base, destinationStageArn: stage.arn })
    server.resetCounts()
    const quota = await rejection(provider.startReplication({ ...base, destinationStageArn: more[4]!.arn }))
    expect([quota.code, statusOf(quota.code), quota.details]).toEqual([
      'CAPACITY_EXHAUSTED',
      503,
      { upstreamError: 'ServiceQuotaExceededException', reason: 'replication-quota' },
    ])
    expect(quota.message).toBe('IVS service quota exceeded for StartParticipantReplication: Participant obs-1 already has the maximum of 5 active replications')
    expect(quota.retryAfterSeconds).toBeGreaterThan(0)

    const missing = await rejection(provider.startReplication({ ...base, destinationStageArn: MISSING }))
    expect([missing.code, missing.message]).toEqual(['NOT_FOUND', `source stage ${source.arn} or destination stage ${MISSING} not found at IVS`])
    for (const bad of [{ participantId: 'obs_1' }, { reconnectWindowSeconds: 61 }, { reconnectWindowSeconds: 300 }]) {
      const invalid = await rejection(provider.startReplication({ ...base, ...bad }))
      expect([bad, invalid.code, statusOf(invalid.code)]).toEqual([bad, 'VALIDATION_ERROR', 400])
    }
    expect(server.calls.StartParticipantReplication).toBe(5)
  })

  test('the stage quota keeps its plain CAPACITY_EXHAUSTED (no replication reason)', async () => {
    const { provider } = await setup(0, { server: { maxStages: 0 } })
    const quota = await rejection(provider.createStage({ name: 'x', tags: {} }))
    expect([quota.code, quota.details]).toEqual(['CAPACITY_EXHAUSTED', { upstreamError: 'ServiceQuotaExceededException' }])
  })

  test('a 5xx is retried; an attempt that reached IVS before timing out makes its retry a 409 that is success', async () => {
    const { server, provider, stages } = await setup(2)
    const [source, destination] = stages as [IvsStage, IvsStage]
    server.control.setParticipants(source.arn, [{ participantId: 'obs-1', published: true, state: 'CONNECTED' }])
    const request = { sourceStageArn: source.arn, destinationStageArn: destination.arn, participantId: 'obs-1', reconnectWindowSeconds: 0 }
    server.control.failNext('StartParticipantReplication', 'InternalServerException')
    await provider.startReplication(request)
    expect(server.calls.StartParticipantReplication).toBe(2)
    await provider.stopReplication(request)

    // The first attempt is applied by IVS but answered after the attempt timeout: the retry meets it running.
    const slow = await setup(2)
    slow.server.control.setParticipants(slow.stages[0]!.arn, [{ participantId: 'obs-1', published: true, state: 'CONNECTED' }])
    slow.server.control.operationLatencyMs.StartParticipantReplication = 300
    const timedOut = new AwsStageProvider(testIvsApi(slow.server, { attemptTimeoutMs: 150 }).api)
    const started = timedOut.startReplication({ ...request, sourceStageArn: slow.stages[0]!.arn, destinationStageArn: slow.stages[1]!.arn })
    await Bun.sleep(200)
    slow.server.control.operationLatencyMs.StartParticipantReplication = 0
    await started
    expect(slow.server.replications().map((r) => r.state)).toEqual(['ACTIVE'])
    expect(slow.server.answered('StartParticipantReplication', 409)).toBeGreaterThanOrEqual(1)
  })
})

describe('stopReplication and listReplicas', () => {
  test('stop: the running one stops; one not running, or with a stage gone, is not an error; a bad id is VALIDATION_ERROR', async () => {
    const { server, provider, stages } = await setup(2)
    const [source, destination] = stages as [IvsStage, IvsStage]
    server.control.setParticipants(source.arn, [{ participantId: 'obs-1', published: true, state: 'CONNECTED' }])
    const key = { sourceStageArn: source.arn, destinationStageArn: destination.arn, participantId: 'obs-1' }
    await provider.startReplication({ ...key, reconnectWindowSeconds: 0 })
    await provider.stopReplication(key)
    expect(await provider.listReplicas(source.arn, 'obs-1')).toEqual([{ destinationStageArn: destination.arn, participantId: 'obs-1', state: 'STOPPED' }])
    await provider.stopReplication(key)
    await provider.stopReplication({ ...key, destinationStageArn: MISSING })
    expect(server.answered('StopParticipantReplication', 404)).toBe(2)
    const invalid = await rejection(provider.stopReplication({ ...key, participantId: 'obs 1' }))
    expect(invalid.code).toBe('VALIDATION_ERROR')
    server.control.failNext('StopParticipantReplication', 'AccessDeniedException')
    expect((await rejection(provider.stopReplication(key))).code).toBe('UPSTREAM_UNAVAILABLE')
  })

  test('listReplicas follows every page (at most 50 each), ACTIVE and STOPPED; none for an unknown participant or stage', async () => {
    const { server, provider, stages } = await setup(6, { pageSize: 2 })
    const [source, ...destinations] = stages as [IvsStage, ...IvsStage[]]
    server.control.setParticipants(source.arn, [{ participantId: 'obs-1', published: true, state: 'CONNECTED' }])
    for (const d of destinations)
      await provider.startReplication({ sourceStageArn: source.arn, destinationStageArn: d.arn, participantId: 'obs-1', reconnectWindowSeconds: 0 })
    await provider.stopReplication({ sourceStageArn: source.arn, destinationStageArn: destinations[0]!.arn, participantId: 'obs-1' })
    server.resetCounts()
    const replicas = await provider.listReplicas(source.arn, 'obs-1')
    expect(replicas.map((r) => [r.destinationStageArn, r.state]).sort()).toEqual(destinations.map((d, i) => [d.arn, i === 0 ? 'STOPPED' : 'ACTIVE']).sort())
    expect(server.requests.map((r) => r.body!.maxResults)).toEqual([2, 2, 2])
    expect(await provider.listReplicas(source.arn, 'nobody')).toEqual([])
    expect(await provider.listReplicas(MISSING, 'obs-1')).toEqual([])
    expect((await new AwsStageProvider(testIvsApi(server).api).listReplicas(source.arn, 'obs-1')).length).toBe(5)
    expect(server.requests.at(-1)!.body!.maxResults).toBe(50)
  })
})

describe('the account’s 5 TPS', () => {
  test('a burst of replication calls is paced per operation: IVS at its real quota never throttles it', async () => {
    const { server, provider, stages } = await setup(9, { server: { tps: {} } })
    const [source, ...destinations] = stages as [IvsStage, ...IvsStage[]]
    server.control.setParticipants(source.arn, [
      { participantId: 'obs-1', published: true, state: 'CONNECTED' },
      { participantId: 'obs-2', published: true, state: 'CONNECTED' },
    ])
    const starts = destinations.map((d, i) =>
      provider.startReplication({
        sourceStageArn: source.arn,
        destinationStageArn: d.arn,
        participantId: i < 4 ? 'obs-1' : 'obs-2',
        reconnectWindowSeconds: 0,
      }),
    )
    const lists = Array.from({ length: 7 }, () => provider.listReplicas(source.arn, 'obs-1'))
    await Promise.all([...starts, ...lists])
    expect(server.answered('StartParticipantReplication', 200)).toBe(8)
    expect(server.answered('StartParticipantReplication', 429) + server.answered('ListParticipantReplicas', 429)).toBe(0)
    expect(server.peakInWindow('StartParticipantReplication')).toBeLessThanOrEqual(5)
    expect(server.peakInWindow('ListParticipantReplicas')).toBeLessThanOrEqual(5)
  })
})
