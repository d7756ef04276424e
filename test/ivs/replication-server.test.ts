import { afterEach, describe, expect, test } from 'bun:test'
import {
  CreateParticipantTokenCommand,
  DeleteStageCommand,
  GetStageCommand,
  type IVSRealTimeClient,
  ListParticipantReplicasCommand,
  ListParticipantsCommand,
  StartParticipantReplicationCommand,
  type StartParticipantReplicationRequest,
  StopParticipantReplicationCommand,
} from '@aws-sdk/client-ivs-realtime'
import { UnsecuredJWT } from 'jose'
import { createIvsRealTimeClient } from '../../src/ivs/aws-api'
import { TEST_CREDENTIALS } from '../support/ivs-client'
import { IVS_OPERATIONS, type IvsServer, type IvsStage, startIvsServer } from '../support/ivs-server'

/**
 * The test IVS server's stage sessions, participants and participant replication, through the real
 * SDK client: every rule it models (test/support/ivs-server/participants.ts) and every refusal.
 */
const servers: IvsServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})

/** The rules' tests call faster than IVS's 5 TPS allow: they lift it (the last test keeps it). */
const UNTHROTTLED = Object.fromEntries(IVS_OPERATIONS.map((op) => [op, 1000]))

async function setup(stageCount = 2, tps: Record<string, number> = UNTHROTTLED) {
  const server = await startIvsServer({ tps })
  servers.push(server)
  const client = createIvsRealTimeClient({ region: server.region, endpoint: server.url, credentials: TEST_CREDENTIALS })
  const stages = Array.from({ length: stageCount }, (_, i) => server.seedStage({ name: `s${i}` }))
  return { server, client, stages }
}

/** A self-signed participant token's claims as the WHIP endpoint passes them on (unsigned here: the server does not verify). */
const tokenFor = (stage: IvsStage, jti?: string, userId?: string) =>
  new UnsecuredJWT({ resource: stage.arn, ...(jti ? { jti } : {}), ...(userId ? { user_id: userId } : {}), capabilities: { allow_publish: true } }).encode()

/** The SDK's error as IVS sent it: its name (x-amzn-ErrorType), status and exceptionMessage. */
async function failure(promise: Promise<unknown>): Promise<{ name: string; status: number; message: string }> {
  try {
    await promise
  } catch (error) {
    const e = error as { name: string; $metadata: { httpStatusCode: number }; exceptionMessage?: string; message: string }
    return { name: e.name, status: e.$metadata.httpStatusCode, message: e.exceptionMessage ?? e.message }
  }
  throw new Error('expected IVS to refuse')
}

const start = (client: IVSRealTimeClient, input: StartParticipantReplicationRequest) => client.send(new StartParticipantReplicationCommand(input))
const replicasOf = async (client: IVSRealTimeClient, sourceStageArn: string, participantId: string) =>
  (await client.send(new ListParticipantReplicasCommand({ sourceStageArn, participantId }))).replicas!
const sessionOf = async (client: IVSRealTimeClient, arn: string) => (await client.send(new GetStageCommand({ arn }))).stage!.activeSessionId
const listed = async (client: IVSRealTimeClient, stageArn: string) => {
  const sessionId = await sessionOf(client, stageArn)
  return sessionId ? (await client.send(new ListParticipantsCommand({ stageArn, sessionId }))).participants! : []
}

describe('stage sessions and ListParticipants', () => {
  test('a WHIP session makes its token’s participant (the jti) CONNECTED and published; the first starts a session, the last leaving ends it', async () => {
    const { server, client, stages } = await setup(1)
    const [stage] = stages as [IvsStage]
    const token = tokenFor(stage, 'broadcaster-1', 'obs')
    expect(await sessionOf(client, stage.arn)).toBeUndefined()
    server.control.whipSession(stage.arn, token, 'up')
    const sessionId = await sessionOf(client, stage.arn)
    expect(sessionId).toMatch(/^st-[a-zA-Z0-9]{13}$/)
    expect(await listed(client, stage.arn)).toEqual([
      {
        participantId: 'broadcaster-1',
        userId: 'obs',
        state: 'CONNECTED',
        published: true,
        firstJoinTime: expect.any(Date),
        recordingState: 'DISABLED',
        replicationType: 'NONE',
      },
    ])
    server.control.whipSession(stage.arn, token, 'down')
    expect(await sessionOf(client, stage.arn)).toBeUndefined()
    // An ended session is still listed by its id.
    const ended = await client.send(new ListParticipantsCommand({ stageArn: stage.arn, sessionId: sessionId! }))
    expect(ended.participants!.map((p) => [p.participantId, p.state, p.published])).toEqual([['broadcaster-1', 'DISCONNECTED', true]])
    // The same token back: the same participant, in a new session.
    server.control.whipSession(stage.arn, token, 'up')
    expect(await sessionOf(client, stage.arn)).not.toBe(sessionId)
    expect((await listed(client, stage.arn)).map((p) => p.participantId)).toEqual(['broadcaster-1'])
  })

  test('the participant of a CreateParticipantToken token is the id IVS issued; a token without jti is a participant of its own; unknown stages are ignored', async () => {
    const { server, client, stages } = await setup(1)
    const [stage] = stages as [IvsStage]
    const { participantToken } = await client.send(new CreateParticipantTokenCommand({ stageArn: stage.arn, userId: 'u-1', capabilities: ['PUBLISH'] }))
    server.control.whipSession(stage.arn, participantToken!.token!, 'up')
    server.control.whipSession(stage.arn, tokenFor(stage), 'up')
    server.control.whipSession('arn:aws:ivs:eu-west-1:123456789012:stage/NotHere12345', tokenFor(stage, 'x'), 'up')
    const ids = (await listed(client, stage.arn)).map((p) => [p.participantId, p.userId])
    expect(ids).toContainEqual([participantToken!.participantId, 'u-1'])
    expect(ids).toHaveLength(2)
    expect(ids.every(([id]) => /^[a-zA-Z0-9-]{1,64}$/.test(id!))).toBe(true)
  })

  test('one filter per request (filterByPublished false is none), paging, and the model’s bounds', async () => {
    const { server, client, stages } = await setup(1)
    const stageArn = stages[0]!.arn
    server.control.setParticipants(stageArn, [
      { participantId: 'a', userId: 'ua', published: true, state: 'CONNECTED' },
      { participantId: 'b', published: false, state: 'CONNECTED' },
      { participantId: 'c', published: true, state: 'DISCONNECTED' },
    ])
    const sessionId = (await sessionOf(client, stageArn))!
    const list = async (input: Record<string, unknown>) =>
      (await client.send(new ListParticipantsCommand({ stageArn, sessionId, ...input }))).participants!.map((p) => p.participantId)
    expect(await list({})).toEqual(['a', 'b', 'c'])
    expect(await list({ filterByPublished: true })).toEqual(['a', 'c'])
    expect(await list({ filterByPublished: false })).toEqual(['a', 'b', 'c'])
    expect(await list({ filterByState: 'CONNECTED' })).toEqual(['a', 'b'])
    expect(await list({ filterByUserId: 'ua' })).toEqual(['a'])
    expect(await list({ filterByRecordingState: 'ACTIVE' })).toEqual([])
    expect(await list({ filterByPublished: false, filterByState: 'DISCONNECTED' })).toEqual(['c'])

    const two = await failure(client.send(new ListParticipantsCommand({ stageArn, sessionId, filterByPublished: true, filterByState: 'CONNECTED' })))
    expect(two).toEqual({
      name: 'ValidationException',
      status: 400,
      message: 'Only one of filterByUserId, filterByPublished, filterByState, or filterByRecordingState can be provided per request',
    })
    expect((await failure(client.send(new ListParticipantsCommand({ stageArn, sessionId: 'st-1' })))).status).toBe(400)
    expect((await failure(client.send(new ListParticipantsCommand({ stageArn, sessionId, maxResults: 101 })))).status).toBe(400)
    expect((await failure(client.send(new ListParticipantsCommand({ stageArn, sessionId, nextToken: 'bm90LWEtdG9rZW4' })))).status).toBe(400)

    const pages: string[][] = []
    let nextToken: string | undefined
    do {
      const out = await client.send(new ListParticipantsCommand({ stageArn, sessionId, maxResults: 2, nextToken }))
      pages.push(out.participants!.map((p) => p.participantId!))
      nextToken = out.nextToken
    } while (nextToken)
    expect(pages).toEqual([['a', 'b'], ['c']])
  })
})

describe('StartParticipantReplication', () => {
  test('the replica joins the destination published (REPLICA, its source named, attributes merged); the source shows SOURCE; ListParticipantReplicas shows it ACTIVE', async () => {
    const { server, client, stages } = await setup(2)
    const [source, destination] = stages as [IvsStage, IvsStage]
    server.control.setParticipants(source.arn, [
      { participantId: 'obs-1', userId: 'broadcaster', published: true, state: 'CONNECTED', attributes: { role: 'host', lang: 'en' } },
    ])
    const sourceSessionId = await sessionOf(client, source.arn)
    expect(await sessionOf(client, destination.arn)).toBeUndefined()
    const out = await start(client, {
      sourceStageArn: source.arn,
      destinationStageArn: destination.arn,
      participantId: 'obs-1',
      reconnectWindowSeconds: 10,
      attributes: { lang: 'fr' },
    })
    expect(out.$metadata.httpStatusCode).toBe(200)
    const destinationSessionId = await sessionOf(client, destination.arn)
    expect(destinationSessionId).toMatch(/^st-[a-zA-Z0-9]{13}$/)
    expect(await listed(client, destination.arn)).toEqual([
      expect.objectContaining({
        participantId: 'obs-1',
        userId: 'broadcaster',
        state: 'CONNECTED',
        published: true,
        replicationType: 'REPLICA',
        replicationState: 'ACTIVE',
        sourceStageArn: source.arn,
        sourceSessionId,
      }),
    ])
    expect(server.participants(destination.arn)[0]).toMatchObject({ participantId: 'obs-1' })
    expect(await listed(client, source.arn)).toEqual([
      expect.objectContaining({ participantId: 'obs-1', replicationType: 'SOURCE', replicationState: 'ACTIVE' }),
    ])
    expect(await replicasOf(client, source.arn, 'obs-1')).toEqual([
      {
        sourceStageArn: source.arn,
        participantId: 'obs-1',
        sourceSessionId,
        destinationStageArn: destination.arn,
        destinationSessionId,
        replicationState: 'ACTIVE',
      },
    ])
    expect(server.replications()).toMatchObject([{ reconnectWindowSeconds: 10, state: 'ACTIVE' }])
    expect(server.requests.find((r) => r.operation === 'StartParticipantReplication')!.body).toEqual({
      sourceStageArn: source.arn,
      destinationStageArn: destination.arn,
      participantId: 'obs-1',
      reconnectWindowSeconds: 10,
      attributes: { lang: 'fr' },
    })
  })

  test('every refusal: 400 for input outside the model, 404 for a missing stage, 409 unless the participant publishes, 402 past 5', async () => {
    const { server, client, stages } = await setup(8)
    const [source, destination, ...more] = stages as [IvsStage, IvsStage, ...IvsStage[]]
    server.control.setParticipants(source.arn, [
      { participantId: 'obs-1', published: true, state: 'CONNECTED' },
      { participantId: 'viewer-1', published: false, state: 'CONNECTED' },
      { participantId: 'gone-1', published: true, state: 'DISCONNECTED' },
    ])
    const base = { sourceStageArn: source.arn, destinationStageArn: destination.arn, participantId: 'obs-1' }
    const refused = async (input: Partial<StartParticipantReplicationRequest>) => failure(start(client, { ...base, ...input }))
    const missing = 'arn:aws:ivs:eu-west-1:123456789012:stage/Missing12345'

    for (const input of [
      { participantId: 'obs_1' },
      { participantId: 'x'.repeat(65) },
      { participantId: '' },
      { sourceStageArn: 'arn:aws:ivs:eu-west-1:123456789012:channel/abc' },
      { destinationStageArn: 'not-an-arn' },
      { reconnectWindowSeconds: 61 },
      { reconnectWindowSeconds: -1 },
      { reconnectWindowSeconds: 1.5 },
      { attributes: { big: 'x'.repeat(1100) } },
      { destinationStageArn: source.arn },
    ]) {
      expect([input, (await refused(input)).name]).toEqual([input, 'ValidationException'])
    }
    expect(await refused({ sourceStageArn: missing })).toEqual({ name: 'ResourceNotFoundException', status: 404, message: `Resource ${missing} not found` })
    expect((await refused({ destinationStageArn: missing })).status).toBe(404)
    for (const participantId of ['nobody', 'viewer-1', 'gone-1']) {
      expect(await refused({ participantId })).toEqual({
        name: 'ConflictException',
        status: 409,
        message: `Participant ${participantId} is not publishing in stage ${source.arn}`,
      })
    }
    // Nothing was started by any of them.
    expect(server.replications()).toEqual([])
    expect(await sessionOf(client, destination.arn)).toBeUndefined()

    await start(client, { ...base, reconnectWindowSeconds: 60 })
    expect(await refused({})).toEqual({
      name: 'ConflictException',
      status: 409,
      message: `Participant obs-1 is already replicated to stage ${destination.arn}`,
    })
    // A replica is not a source (undocumented: refused here).
    expect((await refused({ sourceStageArn: destination.arn, destinationStageArn: more[0]!.arn })).name).toBe('ConflictException')

    for (const stage of more.slice(0, 4)) await start(client, { ...base, destinationStageArn: stage.arn })
    expect(await refused({ destinationStageArn: more[4]!.arn })).toEqual({
      name: 'ServiceQuotaExceededException',
      status: 402,
      message: 'Participant obs-1 already has the maximum of 5 active replications',
    })
    await client.send(new StopParticipantReplicationCommand({ sourceStageArn: source.arn, destinationStageArn: more[0]!.arn, participantId: 'obs-1' }))
    await start(client, { ...base, destinationStageArn: more[4]!.arn })
    expect((await replicasOf(client, source.arn, 'obs-1')).filter((r) => r.replicationState === 'ACTIVE')).toHaveLength(5)
  })
})

describe('the end of a replication', () => {
  test('StopParticipantReplication: STOPPED, the replica DISCONNECTED and its session over; 404 when none runs; a new start replaces the stopped one', async () => {
    const { server, client, stages } = await setup(2)
    const [source, destination] = stages as [IvsStage, IvsStage]
    server.control.setParticipants(source.arn, [{ participantId: 'obs-1', published: true, state: 'CONNECTED' }])
    const key = { sourceStageArn: source.arn, destinationStageArn: destination.arn, participantId: 'obs-1' }
    await start(client, key)
    const destinationSessionId = (await sessionOf(client, destination.arn))!
    await client.send(new StopParticipantReplicationCommand(key))
    expect((await replicasOf(client, source.arn, 'obs-1')).map((r) => r.replicationState)).toEqual(['STOPPED'])
    expect(await sessionOf(client, destination.arn)).toBeUndefined()
    const replica = (await client.send(new ListParticipantsCommand({ stageArn: destination.arn, sessionId: destinationSessionId }))).participants!
    expect(replica.map((p) => [p.state, p.replicationType, p.replicationState])).toEqual([['DISCONNECTED', 'REPLICA', 'STOPPED']])
    expect((await listed(client, source.arn))[0]).toMatchObject({ replicationType: 'SOURCE', replicationState: 'STOPPED' })

    expect(await failure(client.send(new StopParticipantReplicationCommand(key)))).toEqual({
      name: 'ResourceNotFoundException',
      status: 404,
      message: `No active replication of participant obs-1 to stage ${destination.arn}`,
    })
    const missing = 'arn:aws:ivs:eu-west-1:123456789012:stage/Missing12345'
    expect((await failure(client.send(new StopParticipantReplicationCommand({ ...key, destinationStageArn: missing })))).status).toBe(404)
    expect((await failure(client.send(new StopParticipantReplicationCommand({ ...key, participantId: 'obs_1' })))).name).toBe('ValidationException')

    await start(client, key)
    expect((await replicasOf(client, source.arn, 'obs-1')).map((r) => r.replicationState)).toEqual(['ACTIVE'])
    expect((await listed(client, destination.arn)).map((p) => [p.participantId, p.state])).toEqual([['obs-1', 'CONNECTED']])
  })

  test('deleting either stage stops the replication: the destination’s is listed STOPPED at the source, a deleted source lists none', async () => {
    const { server, client, stages } = await setup(3)
    const [source, first, second] = stages as [IvsStage, IvsStage, IvsStage]
    server.control.setParticipants(source.arn, [{ participantId: 'obs-1', published: true, state: 'CONNECTED' }])
    await start(client, { sourceStageArn: source.arn, destinationStageArn: first.arn, participantId: 'obs-1' })
    await start(client, { sourceStageArn: source.arn, destinationStageArn: second.arn, participantId: 'obs-1' })
    await client.send(new DeleteStageCommand({ arn: first.arn }))
    expect((await replicasOf(client, source.arn, 'obs-1')).map((r) => [r.destinationStageArn, r.replicationState])).toEqual(
      [
        [first.arn, 'STOPPED'],
        [second.arn, 'ACTIVE'],
      ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    )
    await client.send(new DeleteStageCommand({ arn: source.arn }))
    expect(await replicasOf(client, source.arn, 'obs-1')).toEqual([])
    expect(server.replications().map((r) => r.state)).toEqual([])
    expect(server.participants(second.arn)).toEqual([])
    expect(await sessionOf(client, second.arn)).toBeUndefined()
  })

  test('reconnect window 0: the source leaving stops its replications at once', async () => {
    const { server, client, stages } = await setup(2)
    const [source, destination] = stages as [IvsStage, IvsStage]
    const token = tokenFor(source, 'obs-1')
    server.control.whipSession(source.arn, token, 'up')
    await start(client, { sourceStageArn: source.arn, destinationStageArn: destination.arn, participantId: 'obs-1', reconnectWindowSeconds: 0 })
    server.control.whipSession(source.arn, token, 'down')
    expect((await replicasOf(client, source.arn, 'obs-1')).map((r) => r.replicationState)).toEqual(['STOPPED'])
    expect(await sessionOf(client, source.arn)).toBeUndefined()
    expect(await sessionOf(client, destination.arn)).toBeUndefined()
  })

  test('reconnect window 1 s (real time): back within it the replication goes on; away past it, STOPPED; a new participant is not replicated until started again', async () => {
    const { server, client, stages } = await setup(2)
    const [source, destination] = stages as [IvsStage, IvsStage]
    const token = tokenFor(source, 'obs-1')
    const state = async (participantId = 'obs-1') => (await replicasOf(client, source.arn, participantId)).map((r) => r.replicationState)
    server.control.whipSession(source.arn, token, 'up')
    const sessionId = await sessionOf(client, source.arn)
    await start(client, { sourceStageArn: source.arn, destinationStageArn: destination.arn, participantId: 'obs-1', reconnectWindowSeconds: 1 })

    server.control.whipSession(source.arn, token, 'down')
    await Bun.sleep(500)
    // Within the window: still ACTIVE, the source's session kept for its return, the replica still in.
    expect(await state()).toEqual(['ACTIVE'])
    expect(await sessionOf(client, source.arn)).toBe(sessionId)
    expect((await listed(client, destination.arn))[0]).toMatchObject({ state: 'CONNECTED', replicationState: 'ACTIVE' })
    server.control.whipSession(source.arn, token, 'up')
    await Bun.sleep(800)
    expect(await state()).toEqual(['ACTIVE'])

    server.control.whipSession(source.arn, token, 'down')
    const leftAt = performance.now()
    await Bun.sleep(800)
    expect(await state()).toEqual(['ACTIVE'])
    while ((await state())[0] === 'ACTIVE' && performance.now() - leftAt < 3000) await Bun.sleep(50)
    const stoppedAfter = performance.now() - leftAt
    expect(await state()).toEqual(['STOPPED'])
    expect(stoppedAfter).toBeGreaterThanOrEqual(950)
    expect(stoppedAfter).toBeLessThan(1500)
    expect(await sessionOf(client, source.arn)).toBeUndefined()
    expect(await sessionOf(client, destination.arn)).toBeUndefined()

    // The broadcaster back with a new token is a new participant: nothing replicates it until asked.
    server.control.whipSession(source.arn, tokenFor(source, 'obs-2'), 'up')
    expect(await state('obs-2')).toEqual([])
    expect(await listed(client, destination.arn)).toEqual([])
    await start(client, { sourceStageArn: source.arn, destinationStageArn: destination.arn, participantId: 'obs-2', reconnectWindowSeconds: 1 })
    expect((await listed(client, destination.arn)).map((p) => [p.participantId, p.replicationType])).toEqual([['obs-2', 'REPLICA']])
    expect(await state()).toEqual(['STOPPED'])
  })

  test('setParticipants drives the same rules: a source marked not publishing starts its window', async () => {
    const { server, client, stages } = await setup(2)
    const [source, destination] = stages as [IvsStage, IvsStage]
    server.control.setParticipants(source.arn, [{ participantId: 'obs-1', published: true, state: 'CONNECTED' }])
    await start(client, { sourceStageArn: source.arn, destinationStageArn: destination.arn, participantId: 'obs-1' })
    server.control.setParticipants(source.arn, [])
    expect((await replicasOf(client, source.arn, 'obs-1')).map((r) => r.replicationState)).toEqual(['STOPPED'])
  })
})

describe('ListParticipantReplicas', () => {
  test('pages of at most 50, one entry per destination; an unknown participant or stage has none; ids are checked', async () => {
    const { server, client, stages } = await setup(6)
    const [source, ...destinations] = stages as [IvsStage, ...IvsStage[]]
    server.control.setParticipants(source.arn, [{ participantId: 'obs-1', published: true, state: 'CONNECTED' }])
    for (const d of destinations) await start(client, { sourceStageArn: source.arn, destinationStageArn: d.arn, participantId: 'obs-1' })
    const pages: number[] = []
    const seen: string[] = []
    let nextToken: string | undefined
    do {
      const out = await client.send(new ListParticipantReplicasCommand({ sourceStageArn: source.arn, participantId: 'obs-1', maxResults: 2, nextToken }))
      pages.push(out.replicas!.length)
      seen.push(...out.replicas!.map((r) => r.destinationStageArn!))
      nextToken = out.nextToken
    } while (nextToken)
    expect(pages).toEqual([2, 2, 1])
    expect(seen.sort()).toEqual(destinations.map((d) => d.arn).sort())
    expect(await replicasOf(client, source.arn, 'someone-else')).toEqual([])
    expect(await replicasOf(client, 'arn:aws:ivs:eu-west-1:123456789012:stage/Missing12345', 'obs-1')).toEqual([])
    const tooMany = client.send(new ListParticipantReplicasCommand({ sourceStageArn: source.arn, participantId: 'obs-1', maxResults: 51 }))
    expect((await failure(tooMany)).name).toBe('ValidationException')
    expect((await failure(replicasOf(client, source.arn, 'obs_1'))).name).toBe('ValidationException')
  })
})

describe('counted like every operation', () => {
  test('calls and requests recorded, 5 TPS each (429 past it), failNext and failAlways', async () => {
    const { server, client, stages } = await setup(2, {})
    const [source, destination] = stages as [IvsStage, IvsStage]
    server.control.setParticipants(source.arn, [{ participantId: 'obs-1', published: true, state: 'CONNECTED' }])
    const list = () => client.send(new ListParticipantReplicasCommand({ sourceStageArn: source.arn, participantId: 'obs-1' }))
    const burst = await Promise.allSettled(Array.from({ length: 6 }, list))
    expect(burst.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.name)).toEqual(['ThrottlingException'])
    expect([server.calls.ListParticipantReplicas, server.answered('ListParticipantReplicas', 429)]).toEqual([6, 1])

    const key = { sourceStageArn: source.arn, destinationStageArn: destination.arn, participantId: 'obs-1' }
    server.control.failNext('StartParticipantReplication', 'InternalServerException')
    expect((await failure(start(client, key))).status).toBe(500)
    await start(client, key)
    server.control.failAlways('StopParticipantReplication', 'AccessDeniedException')
    expect((await failure(client.send(new StopParticipantReplicationCommand(key)))).status).toBe(403)
    expect((await failure(client.send(new StopParticipantReplicationCommand(key)))).status).toBe(403)
    server.control.clearFailures()
    await client.send(new StopParticipantReplicationCommand(key))
    expect([server.calls.StartParticipantReplication, server.calls.StopParticipantReplication]).toEqual([2, 3])
    expect(server.requests.filter((r) => r.operation === 'StopParticipantReplication').map((r) => [r.status, r.signed])).toEqual([
      [403, true],
      [403, true],
      [200, true],
    ])
  })
})
