import { afterAll, describe, expect, test } from 'bun:test'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { FLEET_TAG } from '../../src/fleet/stages'
import { generateKeyPair } from '../../src/ivs/signer'
import { StartupError } from '../../src/serve'
import { eventually } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { type IvsServer, startIvsServer } from '../support/ivs-server'
import { startTestServer, type TestServer } from '../support/serve'
import { startUpstashStack, type UpstashStack } from '../support/upstash-server'

// The SDK's default credential chain reads these; the local IVS server accepts any signature.
process.env.AWS_ACCESS_KEY_ID = 'AKIDLOCALTEST'
process.env.AWS_SECRET_ACCESS_KEY = 'local-test-secret'

let stack: UpstashStack
let ivs: IvsServer
let n = 0
const API_KEY = 'aws-mode-api-key-0123456789'
const KEY_ARN = 'arn:aws:ivs:eu-west-1:123456789012:public-key/KeyId0000001'

beforeAllOrFail(async () => {
  stack = await startUpstashStack()
  ivs = await startIvsServer({ region: 'eu-west-1', whipUrl: 'https://whip.example.test' })
})
afterAll(async () => {
  await ivs?.stop()
  await stack?.stop()
})

const awsEnv = (extra: Record<string, string> = {}) => ({
  IVS_PROVIDER: 'aws',
  AWS_REGION: 'eu-west-1',
  IVS_ENDPOINT: ivs.url,
  API_SECRET_KEY: API_KEY,
  UPSTASH_REDIS_REST_URL: stack.rest.url,
  UPSTASH_REDIS_REST_TOKEN: stack.rest.token,
  REDIS_KEY_PREFIX: `aws${++n}:`,
  ...extra,
})
const viewer = (server: TestServer, userId: string) => server.api('/api/token/viewer', { method: 'POST', json: { userId } })

describe('serve on AWS IVS (wire-compatible server) and Upstash', () => {
  test('tokens and tagged stages; after a restart every viewer and stage is still known', async () => {
    const { privateKeyPem } = await generateKeyPair()
    const env = awsEnv({ IVS_PUBLIC_KEY_ARN: KEY_ARN, IVS_PRIVATE_KEY: privateKeyPem, STAGE_CAPACITY: '2', SCALE_UP_THRESHOLD: '2', SCALE_DOWN_THRESHOLD: '1' })
    const foreign = ivs.seedStage({ name: 'not-ours', tags: { team: 'other' } })
    const first = await startTestServer(env)
    const publisher = (await (await first.api('/api/token/publisher', { method: 'POST', json: { userId: 'publisher-123' } })).json()).data
    expect(decodeProtectedHeader(publisher.token).kid).toBe(KEY_ARN)
    expect(decodeJwt(publisher.token).whip_url).toBe('https://whip.example.test')
    expect(publisher.whipUrl).toBe('https://whip.example.test')
    const seats = []
    for (let i = 0; i < 3; i++) seats.push((await (await viewer(first, `viewer-${i}`)).json()).data.stageArn)
    const stagesBefore = (await (await first.api('/api/stage/list')).json()).data.stages
    expect(stagesBefore.length).toBe(2)
    for (const s of stagesBefore) {
      expect(ivs.stages.has(s.stageArn)).toBe(true)
      expect(ivs.stages.get(s.stageArn)!.tags[FLEET_TAG]).toBe(env.REDIS_KEY_PREFIX.replace(':', ''))
    }
    await first.stop()

    const second = await startTestServer(env)
    try {
      const stagesAfter = (await (await second.api('/api/stage/list')).json()).data.stages
      expect(stagesAfter.map((s: { stageArn: string; viewerCount: number }) => [s.stageArn, s.viewerCount])).toEqual(
        stagesBefore.map((s: { stageArn: string; viewerCount: number }) => [s.stageArn, s.viewerCount]),
      )
      for (let i = 0; i < 3; i++) {
        const hb = await second.api('/api/viewer/heartbeat', { method: 'POST', json: { userId: `viewer-${i}`, stageArn: seats[i] } })
        expect(hb.status).toBe(200)
      }
      expect(ivs.stages.get(foreign.arn)).toBeDefined()
      expect(ivs.requests.filter((r) => (r.body as { arn?: string } | null)?.arn === foreign.arn && r.operation !== 'GetStage').length).toBe(0)
    } finally {
      await second.stop()
    }
  })

  test('a stage of the fleet that the store lost is re-adopted; the foreign stage is not', async () => {
    const env = awsEnv()
    const fleetId = env.REDIS_KEY_PREFIX.replace(':', '')
    const orphan = ivs.seedStage({ name: 'orphan', tags: { [FLEET_TAG]: fleetId } })
    const foreign = ivs.seedStage({ name: 'foreign', tags: { team: 'other' } })
    const server = await startTestServer(env)
    try {
      const arns = (await (await server.api('/api/stage/list')).json()).data.stages.map((s: { stageArn: string }) => s.stageArn)
      expect(arns).toContain(orphan.arn)
      expect(arns).not.toContain(foreign.arn)
    } finally {
      await server.stop()
    }
  })

  test('200 viewer tokens with self-signed keys make zero CreateParticipantToken calls', async () => {
    const { privateKeyPem } = await generateKeyPair()
    const server = await startTestServer(awsEnv({ IVS_PUBLIC_KEY_ARN: KEY_ARN, IVS_PRIVATE_KEY: privateKeyPem, STAGE_CAPACITY: '1000' }))
    try {
      ivs.resetCounts()
      const statuses = await Promise.all(Array.from({ length: 200 }, (_, i) => viewer(server, `burst-${i}`).then((r) => r.status)))
      expect(statuses.every((s) => s === 200)).toBe(true)
      expect(ivs.calls.CreateParticipantToken).toBe(0)
    } finally {
      await server.stop()
    }
  })

  test('without keys, 200 viewer tokens all succeed and IVS never sees more than 50 per second', async () => {
    const server = await startTestServer(awsEnv({ STAGE_CAPACITY: '1000' }))
    try {
      ivs.resetCounts()
      const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => viewer(server, `api-${i}`)))
      expect(responses.map((r) => r.status).filter((s) => s !== 200)).toEqual([])
      expect(ivs.calls.CreateParticipantToken).toBe(200)
      expect(ivs.peakInWindow('CreateParticipantToken', 1000)).toBeLessThanOrEqual(50)
      expect(ivs.answered('CreateParticipantToken', 429)).toBe(0)
      // Presence records IVS's participant id, the one in the token.
      const body = (await responses[0]!.json()).data
      expect((await server.store.findViewer('api-0'))!.participantId).toBe(body.participantId)
    } finally {
      await server.stop()
    }
  }, 20_000)

  test('API tokens: a stage that starts draining during CreateParticipantToken keeps the viewer the token is for (issue 20 item 5)', async () => {
    const server = await startTestServer(awsEnv({ STAGE_CAPACITY: '2' }))
    try {
      const master = (await server.stages.master()).arn
      expect((await viewer(server, 'first')).status).toBe(200)
      // A second stage with free seats: where a second assignment would move the viewer.
      const other = (await (await server.api('/api/stage', { method: 'POST', json: { name: 'other' } })).json()).data.stageArn
      ivs.control.operationLatencyMs.CreateParticipantToken = 400
      const pending = viewer(server, 'racer')
      await eventually('CreateParticipantToken in flight', () => ivs.inFlight('CreateParticipantToken') === 1, 3_000)
      await server.stages.drain(master) // what the leader does at scale-down, here while IVS is issuing the token
      const res = await pending
      expect(res.status).toBe(200)
      const token = (await res.json()).data
      expect(token.stageArn).toBe(master)
      expect(await server.store.findViewer('racer')).toMatchObject({ stageArn: master, participantId: token.participantId })
      expect((await server.store.getStage(other))!.viewerCount).toBe(0)
      // The viewer hears to rejoin like every viewer of the draining stage, and moves.
      const beat = await server.api('/api/viewer/heartbeat', { method: 'POST', json: { userId: 'racer', stageArn: master } })
      expect([beat.status, (await beat.json()).error.code]).toEqual([404, 'REJOIN_REQUIRED'])
    } finally {
      ivs.control.operationLatencyMs = {}
      await server.stop()
    }
  }, 20_000)

  test('a token IVS refuses gives back a seat the request took, but never one the viewer already held', async () => {
    const server = await startTestServer(awsEnv())
    try {
      expect((await viewer(server, 'seated')).status).toBe(200)
      ivs.control.failAlways('CreateParticipantToken', 'InternalServerException')
      const again = await viewer(server, 'seated')
      const fresh = await viewer(server, 'newcomer')
      expect([again.status, fresh.status]).toEqual([503, 503])
      expect((await fresh.json()).error.code).toBe('UPSTREAM_UNAVAILABLE')
      expect(await server.store.findViewer('seated')).not.toBeNull()
      expect(await server.store.findViewer('newcomer')).toBeNull()
    } finally {
      ivs.control.clearFailures()
      await server.stop()
    }
  }, 20_000)

  test('a MASTER_STAGE_ARN that does not exist is a configuration error', async () => {
    const error = await startTestServer(awsEnv({ MASTER_STAGE_ARN: 'arn:aws:ivs:eu-west-1:123456789012:stage/DoesNotExist' })).then(
      () => null,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(StartupError)
    expect((error as Error).message).toContain('MASTER_STAGE_ARN')
  })
})
