import { afterEach, describe, expect, test } from 'bun:test'
import { AppError, type ErrorCode } from '../../src/errors'
import { FLEET_TAG } from '../../src/fleet/stages'
import { STAGE_ARN_PATTERN } from '../../src/ivs/arn'
import { AwsStageProvider } from '../../src/ivs/aws'
import { statusOf } from '../../src/web/error-status'
import { TEST_CREDENTIALS, testIvsApi } from '../support/ivs-client'
import { type IvsErrorType, type IvsServer, type IvsServerOptions, startIvsServer } from '../support/ivs-server'

const WHIP_URL = 'https://whip.test.invalid'
const servers: IvsServer[] = []

async function ivsServer(options: IvsServerOptions = {}): Promise<IvsServer> {
  const server = await startIvsServer({ whipUrl: WHIP_URL, ...options })
  servers.push(server)
  return server
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(AppError)
    return error as AppError
  }
  throw new Error('expected the call to fail')
}

describe('AwsStageProvider against a wire-compatible IVS server, through the real SDK client', () => {
  test('every stage operation round-trips, signed with SigV4', async () => {
    const server = await ivsServer()
    const provider = new AwsStageProvider(testIvsApi(server).api)

    const created = await provider.createStage({ name: 'fleet-1', tags: { [FLEET_TAG]: 'ivsf', team: 'video' } })
    expect(created.arn).toMatch(STAGE_ARN_PATTERN)
    expect(created.arn.startsWith(`arn:aws:ivs:${server.region}:${server.accountId}:stage/`)).toBe(true)
    expect(created).toEqual({
      arn: created.arn,
      name: 'fleet-1',
      tags: { [FLEET_TAG]: 'ivsf', team: 'video' },
      endpoints: { whip: WHIP_URL, events: 'wss://global.events.live-video.net' },
    })
    expect(server.requests.at(-1)!.body).toEqual({ name: 'fleet-1', tags: { [FLEET_TAG]: 'ivsf', team: 'video' } })

    expect(await provider.getStage(created.arn)).toEqual(created)
    expect(await provider.updateStage(created.arn, { name: 'renamed' })).toEqual({ ...created, name: 'renamed' })
    expect((await provider.getStage(created.arn))!.name).toBe('renamed')
    expect(await provider.listStages()).toEqual([{ ...created, name: 'renamed' }])

    await provider.deleteStage(created.arn)
    expect(await provider.getStage(created.arn)).toBeNull()
    await provider.deleteStage(created.arn) // already gone: not an error
    expect(server.answered('DeleteStage', 404)).toBe(1)
    expect(server.stages.size).toBe(0)

    expect(server.requests.length).toBeGreaterThanOrEqual(9)
    expect(server.requests.every((r) => r.signed)).toBe(true)
  })

  test('the WHIP endpoint a stage reports is whatever IVS answers', async () => {
    const server = await ivsServer()
    server.control.whipUrl = 'https://abcdefgh1234.global-bm.whip.live-video.net'
    const stage = await new AwsStageProvider(testIvsApi(server).api).createStage({ name: 's', tags: {} })
    expect(stage.endpoints.whip).toBe('https://abcdefgh1234.global-bm.whip.live-video.net')
  })

  test('ListStages is followed across every page; the tag filter spares GetStage calls', async () => {
    const server = await ivsServer()
    const tagged = Array.from({ length: 3 }, (_, i) => server.seedStage({ name: `ours-${i}`, tags: { [FLEET_TAG]: 'ivsf' } }))
    for (let i = 0; i < 4; i++) server.seedStage({ name: `theirs-${i}`, tags: { [FLEET_TAG]: 'other' } })
    const provider = new AwsStageProvider(testIvsApi(server).api, { pageSize: 3 })

    const summaries = await provider.listStageSummaries()
    expect(summaries).toHaveLength(7)
    expect(new Set(summaries.map((s) => s.arn)).size).toBe(7)
    expect(server.calls.ListStages).toBe(3)
    expect(server.requests.filter((r) => r.operation === 'ListStages').map((r) => r.body!.maxResults)).toEqual([3, 3, 3])

    server.resetCounts()
    const ours = await provider.listStages({ tags: { [FLEET_TAG]: 'ivsf' } })
    expect(ours.map((s) => s.arn).sort()).toEqual(tagged.map((s) => s.arn).sort())
    expect(ours.every((s) => s.endpoints.whip === WHIP_URL)).toBe(true)
    expect(server.calls.GetStage).toBe(3)

    expect(await provider.listStages()).toHaveLength(7)
  })

  test('ping is one ListStages call; throttling still counts as reachable, a 500 does not', async () => {
    const server = await ivsServer()
    const provider = new AwsStageProvider(testIvsApi(server).api)
    await provider.ping()
    expect(server.requests.map((r) => [r.operation, r.body])).toEqual([['ListStages', { maxResults: 1 }]])

    server.control.failNext('ListStages', 'ThrottlingException')
    await provider.ping()

    server.control.failNext('ListStages', 'InternalServerException', 2)
    const error = await rejection(provider.ping())
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE')
    expect(server.calls.ListStages).toBe(3)
  })

  describe('IVS errors become AppErrors', () => {
    const cases: [IvsErrorType, ErrorCode, number][] = [
      ['ValidationException', 'VALIDATION_ERROR', 400],
      ['AccessDeniedException', 'UPSTREAM_UNAVAILABLE', 503],
      ['PendingVerification', 'UPSTREAM_UNAVAILABLE', 503],
      ['ResourceNotFoundException', 'NOT_FOUND', 404],
      ['ConflictException', 'CONFLICT', 409],
      ['ServiceQuotaExceededException', 'CAPACITY_EXHAUSTED', 503],
      ['UnrecognizedClientException', 'UPSTREAM_UNAVAILABLE', 503],
    ]
    for (const [type, code, status] of cases) {
      test(`${type} → ${code} ${status}, not retried`, async () => {
        const server = await ivsServer()
        const provider = new AwsStageProvider(testIvsApi(server).api)
        server.control.failNext('UpdateStage', type, 1, `upstream says ${type}`)
        const error = await rejection(provider.updateStage(`arn:aws:ivs:eu-west-1:123456789012:stage/AbCdEf123456`, { name: 'x' }))
        expect(error.code).toBe(code)
        expect(statusOf(error.code)).toBe(status)
        expect(server.calls.UpdateStage).toBe(1)
      })
    }

    test('AccessDenied says IVS denied access and points at IAM', async () => {
      const server = await ivsServer()
      server.control.failNext('CreateStage', 'AccessDeniedException', 1, 'User: arn:aws:iam::123456789012:user/app is not authorized')
      const error = await rejection(new AwsStageProvider(testIvsApi(server).api).createStage({ name: 's', tags: {} }))
      expect(error.message).toMatch(/IVS denied access to CreateStage/)
      expect(error.message).toMatch(/IAM/)
      expect(error.message).toMatch(/ivs:CreateStage/)
    })

    test('the service’s own answers: bad name → 400, unknown stage → 404 / null, stage quota → 503', async () => {
      const server = await ivsServer({ maxStages: 2 })
      const provider = new AwsStageProvider(testIvsApi(server).api)
      const invalid = await rejection(provider.createStage({ name: 'not a valid name!', tags: {} }))
      expect([invalid.code, invalid.message]).toEqual(['VALIDATION_ERROR', 'IVS rejected CreateStage: name is invalid'])

      const missing = 'arn:aws:ivs:eu-west-1:123456789012:stage/Missing12345'
      expect(await provider.getStage(missing)).toBeNull()
      const notFound = await rejection(provider.updateStage(missing, { name: 'x' }))
      expect([notFound.code, notFound.message]).toEqual(['NOT_FOUND', `stage ${missing} not found at IVS`])

      await provider.createStage({ name: 'a', tags: {} })
      await provider.createStage({ name: 'b', tags: {} })
      const quota = await rejection(provider.createStage({ name: 'c', tags: {} }))
      expect([quota.code, statusOf(quota.code)]).toEqual(['CAPACITY_EXHAUSTED', 503])
      expect(quota.retryAfterSeconds).toBeGreaterThan(0)
      expect(server.answered('CreateStage', 402)).toBe(1)
    })

    test('no credential material reaches the error', async () => {
      const server = await ivsServer()
      const echo = `The request signature does not match. Authorization: AWS4-HMAC-SHA256 Credential=${TEST_CREDENTIALS.accessKeyId}/20260101/eu-west-1/ivs/aws4_request, key ${TEST_CREDENTIALS.secretAccessKey}`
      const provider = new AwsStageProvider(testIvsApi(server).api)
      for (const type of ['ValidationException', 'ConflictException', 'AccessDeniedException', 'UnrecognizedClientException'] as const) {
        server.control.failNext('CreateStage', type, 1, echo)
        const error = await rejection(provider.createStage({ name: 's', tags: {} }))
        const visible = JSON.stringify({ message: error.message, details: error.details })
        expect(visible).not.toContain(TEST_CREDENTIALS.accessKeyId)
        expect(visible).not.toContain(TEST_CREDENTIALS.secretAccessKey)
      }
    })
  })

  describe('retries', () => {
    test('5xx answers are retried with growing, jittered backoff until one succeeds', async () => {
      const server = await ivsServer()
      const { api, sleeps } = testIvsApi(server)
      server.control.failNext('GetStage', 'InternalServerException', 2)
      const stage = server.seedStage({ name: 'x' })
      expect((await new AwsStageProvider(api).getStage(stage.arn))!.arn).toBe(stage.arn)
      expect(server.calls.GetStage).toBe(3)
      expect(sleeps).toHaveLength(2)
      expect(sleeps[0]).toBeGreaterThanOrEqual(50)
      expect(sleeps[0]).toBeLessThanOrEqual(100)
      expect(sleeps[1]).toBeGreaterThanOrEqual(100)
      expect(sleeps[1]).toBeLessThanOrEqual(200)
    })

    test('a persistent 500 ends in UPSTREAM_UNAVAILABLE after 4 attempts, within 2 s of real backoff', async () => {
      const server = await ivsServer()
      const { api } = testIvsApi(server, { realSleep: true })
      server.control.failAlways('CreateStage', 'InternalServerException')
      const started = performance.now()
      const error = await rejection(new AwsStageProvider(api).createStage({ name: 's', tags: {} }))
      const elapsed = performance.now() - started
      expect([error.code, statusOf(error.code)]).toEqual(['UPSTREAM_UNAVAILABLE', 503])
      expect(error.message).toMatch(/CreateStage failed after 4 attempts/)
      expect(error.retryAfterSeconds).toBeGreaterThan(0)
      expect(server.calls.CreateStage).toBe(4)
      expect(elapsed).toBeLessThan(2000)
    })

    test('throttling past 5 TPS (two instances sharing the account) is retried until every create succeeds', async () => {
      const server = await ivsServer()
      const first = new AwsStageProvider(testIvsApi(server, { realSleep: true }).api)
      const second = new AwsStageProvider(testIvsApi(server, { realSleep: true }).api)
      const creates = [first, second].flatMap((p, i) => Array.from({ length: 5 }, (_, j) => p.createStage({ name: `s-${i}-${j}`, tags: {} })))
      const stages = await Promise.all(creates)
      expect(new Set(stages.map((s) => s.arn)).size).toBe(10)
      expect(server.answered('CreateStage', 429)).toBeGreaterThan(0)
      expect(server.answered('CreateStage', 200)).toBe(10)
      expect(server.peakInWindow('CreateStage')).toBeLessThanOrEqual(5)
    })

    test('one instance paces its own burst of creates to 5 per second, so IVS never throttles it', async () => {
      const server = await ivsServer()
      const provider = new AwsStageProvider(testIvsApi(server).api)
      await Promise.all(Array.from({ length: 8 }, (_, i) => provider.createStage({ name: `s-${i}`, tags: {} })))
      expect(server.answered('CreateStage', 200)).toBe(8)
      expect(server.answered('CreateStage', 429)).toBe(0)
    })

    test('a throttled burst without pacing is what the pacer prevents (control for the test above)', async () => {
      const server = await ivsServer()
      const provider = new AwsStageProvider(testIvsApi(server, { ratePerSecond: { CreateStage: 1000 } }).api)
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => provider.createStage({ name: `s-${i}`, tags: {} })))
      expect(server.answered('CreateStage', 429)).toBeGreaterThan(0)
      const failed = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as AppError)
      expect(failed.length).toBe(3)
      expect(failed.every((e) => e.code === 'UPSTREAM_UNAVAILABLE' && e.details?.reason === 'throttled')).toBe(true)
    })

    test('connection refused is retried, then UPSTREAM_UNAVAILABLE', async () => {
      const server = await ivsServer()
      const { api, sleeps } = testIvsApi(server)
      await server.stop()
      const error = await rejection(new AwsStageProvider(api).getStage('arn:aws:ivs:eu-west-1:123456789012:stage/AbCdEf123456'))
      expect(error.code).toBe('UPSTREAM_UNAVAILABLE')
      expect(error.details).toMatchObject({ reason: 'network', attempts: 4 })
      expect(sleeps).toHaveLength(3)
    })
  })

  describe('latency', () => {
    test('injected latency delays the answer but the call succeeds', async () => {
      const server = await ivsServer()
      const stage = server.seedStage({ name: 'slow' })
      server.control.latencyMs = 200
      const started = performance.now()
      expect((await new AwsStageProvider(testIvsApi(server).api).getStage(stage.arn))!.name).toBe('slow')
      expect(performance.now() - started).toBeGreaterThanOrEqual(195)
    })

    test('an attempt slower than the attempt timeout is aborted and retried, then UPSTREAM_UNAVAILABLE', async () => {
      const server = await ivsServer()
      const stage = server.seedStage({ name: 'slow' })
      server.control.latencyMs = 300
      const { api } = testIvsApi(server, { attemptTimeoutMs: 100 })
      const started = performance.now()
      const error = await rejection(new AwsStageProvider(api).getStage(stage.arn))
      expect(error.code).toBe('UPSTREAM_UNAVAILABLE')
      expect(error.message).toMatch(/no answer from IVS within 100 ms/)
      expect(error.details).toMatchObject({ reason: 'timeout', attempts: 4 })
      expect(performance.now() - started).toBeLessThan(1000)
    })
  })
})
