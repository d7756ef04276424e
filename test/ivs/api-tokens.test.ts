import { afterEach, describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors'
import { ApiTokenIssuer } from '../../src/ivs/api-tokens'
import type { TokenRequest } from '../../src/ivs/types'
import { statusOf } from '../../src/web/error-status'
import { testIvsApi } from '../support/ivs-client'
import { type IvsServer, startIvsServer } from '../support/ivs-server'

const servers: IvsServer[] = []

async function serverWithStage(): Promise<{ server: IvsServer; request: TokenRequest }> {
  const server = await startIvsServer()
  servers.push(server)
  const stage = server.seedStage({ name: 'viewers-1' })
  const request: TokenRequest = {
    stage: { arn: stage.arn, endpoints: { whip: stage.endpoints.whip, events: stage.endpoints.events } },
    userId: 'viewer-1',
    attributes: { displayName: 'Ada' },
    capabilities: ['SUBSCRIBE'],
    durationMinutes: 60,
  }
  return { server, request }
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})

const burst = (issuer: ApiTokenIssuer, request: TokenRequest, n: number) =>
  Promise.allSettled(Array.from({ length: n }, (_, i) => issuer.issue({ ...request, userId: `viewer-${i}` })))

describe('ApiTokenIssuer (CreateParticipantToken through the real SDK client)', () => {
  test('sends stage, user, attributes, capabilities and duration in minutes; returns the token IVS made', async () => {
    const { server, request } = await serverWithStage()
    const issuer = new ApiTokenIssuer(testIvsApi(server).api)
    const before = Date.now()
    const issued = await issuer.issue({ ...request, participantId: 'ignored-by-ivs' })

    expect(server.requests.at(-1)!.body).toEqual({
      stageArn: request.stage.arn,
      userId: 'viewer-1',
      attributes: { displayName: 'Ada' },
      capabilities: ['SUBSCRIBE'],
      duration: 60,
    })
    expect(issued.token.split('.')).toHaveLength(3)
    expect(issued.participantId).toMatch(/^[A-Za-z0-9]{12}$/)
    expect(issued.participantId).not.toBe('ignored-by-ivs')
    const expires = Date.parse(issued.expirationTime)
    expect(issued.expirationTime).toBe(new Date(expires).toISOString())
    expect(expires - before).toBeGreaterThanOrEqual(60 * 60_000 - 1000)
    expect(expires - before).toBeLessThanOrEqual(60 * 60_000 + 5000)
    expect(issuer.strategy).toBe('api')
  })

  test('a burst of 200 viewers is queued, not failed: IVS never sees more than 50 calls in any second and never throttles', async () => {
    const { server, request } = await serverWithStage()
    const { api } = testIvsApi(server)
    const issuer = new ApiTokenIssuer(api)
    const results = await burst(issuer, request, 200)

    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    const tokens = results.map((r) => (r as PromiseFulfilledResult<{ participantId: string }>).value.participantId)
    expect(new Set(tokens).size).toBe(200)
    expect(server.calls.CreateParticipantToken).toBe(200)
    expect(server.answered('CreateParticipantToken', 429)).toBe(0)
    expect(server.peakInWindow('CreateParticipantToken', 1000)).toBeLessThanOrEqual(50)
    const times = server.acceptedAt('CreateParticipantToken')
    expect(times.at(-1)! - times[0]!).toBeGreaterThan(3000) // really spread out, not just lucky
  })

  test('control: without the pacer the same kind of burst is throttled by IVS', async () => {
    const { server, request } = await serverWithStage()
    const issuer = new ApiTokenIssuer(testIvsApi(server, { ratePerSecond: { CreateParticipantToken: 10_000 } }).api)
    const results = await burst(issuer, request, 80)
    expect(server.answered('CreateParticipantToken', 429)).toBeGreaterThan(0)
    expect(results.filter((r) => r.status === 'rejected').length).toBe(30)
  })

  test('when the queue would wait longer than the maximum, the excess is refused at once with a clear 503', async () => {
    const { server, request } = await serverWithStage()
    const { api } = testIvsApi(server, { maxQueueWaitMs: 1500 })
    const issuer = new ApiTokenIssuer(api)
    const started = performance.now()
    const results = await burst(issuer, request, 200)
    const rejected = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as AppError)
    expect(rejected.length).toBe(100) // 50 now, 50 after one window (~1 s); the rest would wait longer than 1.5 s
    expect(rejected.every((e) => e instanceof AppError && e.code === 'UPSTREAM_UNAVAILABLE')).toBe(true)
    expect(rejected[0]!.message).toMatch(/CreateParticipantToken calls waiting for IVS's rate quota/)
    expect(rejected[0]!.retryAfterSeconds).toBeGreaterThanOrEqual(2)
    expect(server.answered('CreateParticipantToken', 200)).toBe(100)
    expect(performance.now() - started).toBeLessThan(2500)
  })

  test("throttling answers (another tool using the account's quota) are retried with backoff, and counted", async () => {
    const { server, request } = await serverWithStage()
    const outcomes: string[] = []
    const { api, sleeps } = testIvsApi(server, { observer: { attempt: (operation, outcome) => outcomes.push(`${operation} ${outcome}`) } })
    server.control.failNext('CreateParticipantToken', 'ThrottlingException', 2)
    await new ApiTokenIssuer(api).issue(request)
    expect(server.calls.CreateParticipantToken).toBe(3)
    expect(outcomes).toEqual(['CreateParticipantToken throttled', 'CreateParticipantToken throttled', 'CreateParticipantToken ok'])
    expect(sleeps).toHaveLength(2)
    expect(sleeps[0]).toBeGreaterThanOrEqual(200) // throttling backs off longer than a 5xx
    expect(sleeps[1]).toBeGreaterThanOrEqual(400)
  })

  test('IVS errors map to AppErrors: unknown stage → 404, oversized attributes → 400, persistent 500 → 503', async () => {
    const { server, request } = await serverWithStage()
    const issuer = new ApiTokenIssuer(testIvsApi(server).api)
    const fail = (promise: Promise<unknown>) =>
      promise.then(
        () => {
          throw new Error('expected a failure')
        },
        (e: AppError) => [e.code, statusOf(e.code)],
      )
    const missing = 'arn:aws:ivs:eu-west-1:123456789012:stage/Missing12345'
    expect(await fail(issuer.issue({ ...request, stage: { ...request.stage, arn: missing } }))).toEqual(['NOT_FOUND', 404])
    expect(await fail(issuer.issue({ ...request, attributes: { blob: 'x'.repeat(1100) } }))).toEqual(['VALIDATION_ERROR', 400])
    server.control.failAlways('CreateParticipantToken', 'InternalServerException')
    expect(await fail(issuer.issue(request))).toEqual(['UPSTREAM_UNAVAILABLE', 503])
  })

  test('injected latency slows each token but they still arrive', async () => {
    const { server, request } = await serverWithStage()
    server.control.latencyMs = 200
    const started = performance.now()
    const results = await burst(new ApiTokenIssuer(testIvsApi(server).api), request, 10)
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true)
    expect(performance.now() - started).toBeGreaterThanOrEqual(195)
  })
})
