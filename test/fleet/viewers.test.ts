/**
 * ViewerService.issueToken without HTTP: the real memory store, stage service (local provider,
 * create lock) and self-signed token issuer, on a manual clock.
 */
import { beforeAll, describe, expect, test } from 'bun:test'
import { decodeJwt } from 'jose'
import { AppError } from '../../src/errors'
import { CreateLock } from '../../src/fleet/create-lock'
import { HeartbeatBatcher } from '../../src/fleet/heartbeats'
import { stageRecord } from '../../src/fleet/records'
import { type RoomOutcome, StageService } from '../../src/fleet/stages'
import { ViewerSessions } from '../../src/fleet/viewer-session'
import { type RoomMaker, ViewerService } from '../../src/fleet/viewers'
import { LocalStageProvider } from '../../src/ivs/local'
import { generateKeyPair, importPrivateKey, SelfSignedTokenIssuer } from '../../src/ivs/signer'
import type { TokenIssuer } from '../../src/ivs/types'
import { silentLogger } from '../../src/log'
import { Counters } from '../../src/metrics/counters'
import { MemoryStore } from '../../src/store/memory'
import { ManualClock, ManualTicker } from '../support/clock'

let signingKey: CryptoKey
beforeAll(async () => {
  signingKey = (await importPrivateKey((await generateKeyPair()).privateKeyPem)).key
})

interface Options {
  capacity?: number
  maxStages?: number
  maxSubscriptions?: number
  seatWaitMs?: number
  /** Wraps the self-signed issuer (a failing one, one that picks its own participant ids). */
  tokens?: (real: TokenIssuer) => TokenIssuer
  room?: (stages: StageService, clock: ManualClock, store: MemoryStore) => RoomMaker
  provider?: LocalStageProvider
}

/** A fleet of one instance with its master stage: capacity 2 and at most 3 stages unless told otherwise. */
async function fleet(options: Options = {}) {
  const clock = new ManualClock(Date.UTC(2026, 11, 1, 12))
  const store = new MemoryStore({ stageCapacity: options.capacity ?? 2 })
  const provider = options.provider ?? new LocalStageProvider({ region: 'us-east-1', whipUrl: 'https://whip.example' })
  const counters = new Counters()
  const lock = new CreateLock(
    { store, clock, sleep: async () => {}, ticker: new ManualTicker(), logger: silentLogger },
    { instanceId: 'i-1', spacingMs: 0, leaseMs: 3_000, renewMs: 1_000, pollMs: 10, maxWaitMs: 100 },
  )
  const maxStages = options.maxStages ?? 3
  const stages = new StageService(
    { store, provider, lock, events: { publish: async () => {} }, counters, clock, logger: silentLogger },
    { fleetId: 'fl', maxStages, masterStageArn: null },
  )
  const master = (await stages.start()).arn
  const real = new SelfSignedTokenIssuer(signingKey, 'arn:aws:ivs:us-east-1:000000000000:public-key/unit', clock)
  const sessions = new ViewerSessions({ key: Buffer.alloc(32, 5) })
  const viewers = new ViewerService(
    {
      store,
      tokens: options.tokens ? options.tokens(real) : real,
      sessions,
      heartbeats: new HeartbeatBatcher({ store, clock }, { windowMs: 0, maxBatch: 1 }),
      room: options.room ? options.room(stages, clock, store) : stages,
      counters,
      clock,
      logger: silentLogger,
    },
    {
      maxStages,
      maxSubscriptions: options.maxSubscriptions ?? 1_000,
      heartbeatIntervalMs: 15_000,
      viewerTokenTtlMin: 60,
      seatWaitMs: options.seatWaitMs ?? 5_000,
    },
  )
  const counts = async () => (await store.listStages()).map((s) => s.viewerCount)
  const seatOf = async (userId: string) => (await store.findViewer(userId))?.stageArn ?? null
  const counter = (name: string, reason?: string) =>
    counters
      .snapshot()
      .filter((s) => s.name === name && (reason === undefined || s.dimensions.reason === reason))
      .reduce((sum, s) => sum + s.value, 0)
  return { clock, store, provider, stages, viewers, sessions, master, counts, seatOf, counter }
}

/** The AppError `promise` rejected with. */
async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  )
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`)
  return error
}

describe('ViewerService.issueToken: seating', () => {
  test('fill-first: the master fills, then a new stage; a freed seat on a lower stage is taken first', async () => {
    const f = await fleet()
    const seated: string[] = []
    for (const userId of ['u1', 'u2', 'u3', 'u4']) seated.push((await f.viewers.issueToken({ userId })).stageArn)
    const second = (await f.store.listStages())[1]!.arn
    expect(seated).toEqual([f.master, f.master, second, second])
    expect(await f.counts()).toEqual([2, 2])
    await f.viewers.leave({ userId: 'u1', stageArn: f.master })
    expect((await f.viewers.issueToken({ userId: 'u5' })).stageArn).toBe(f.master)
    expect(await f.counts()).toEqual([2, 2])
    expect(f.counter('TokensIssued')).toBe(5)
  })

  test('the token, the presence and the viewer session agree: stage, participant id, subscribe only', async () => {
    const f = await fleet()
    const token = await f.viewers.issueToken({ userId: 'alice', attributes: { seat: 'front' } })
    const claims = decodeJwt(token.token)
    expect(claims).toMatchObject({ resource: f.master, jti: token.participantId, user_id: 'alice', attributes: { seat: 'front' } })
    expect(claims.capabilities).toEqual({ allow_publish: false, allow_subscribe: true })
    expect(await f.store.findViewer('alice')).toMatchObject({ stageArn: f.master, participantId: token.participantId })
    expect(f.sessions.verify(token.viewerSession, f.clock.now())).toEqual({
      userId: 'alice',
      participantId: token.participantId,
      stageArn: f.master,
      exp: Math.floor(Date.parse(token.expirationTime) / 1000),
    })
    expect(token.heartbeatIntervalMs).toBe(15_000)
    expect(Date.parse(token.expirationTime) - f.clock.now()).toBe(60 * 60_000)
  })

  test('one seat per user: a second token keeps the seat, with the new participant id', async () => {
    const f = await fleet()
    const first = await f.viewers.issueToken({ userId: 'alice' })
    await f.viewers.issueToken({ userId: 'bob' })
    const second = await f.viewers.issueToken({ userId: 'alice' })
    expect(second.stageArn).toBe(first.stageArn)
    expect(second.participantId).not.toBe(first.participantId)
    expect(await f.counts()).toEqual([2])
    expect((await f.store.findViewer('alice'))?.participantId).toBe(second.participantId)
  })

  test('no token, no seat: a seat taken for the request is given back; a seat held before stays', async () => {
    let failing = false
    const f = await fleet({
      tokens: (real) => ({
        strategy: real.strategy,
        issue: (request) => (failing ? Promise.reject(new AppError('UPSTREAM_UNAVAILABLE', 'IVS is down')) : real.issue(request)),
      }),
    })
    const held = await f.viewers.issueToken({ userId: 'alice' })
    failing = true
    expect((await refusal(f.viewers.issueToken({ userId: 'bob' }))).code).toBe('UPSTREAM_UNAVAILABLE')
    expect(await f.seatOf('bob')).toBeNull()
    expect(await f.counts()).toEqual([1])
    expect((await refusal(f.viewers.issueToken({ userId: 'alice' }))).code).toBe('UPSTREAM_UNAVAILABLE')
    expect(await f.seatOf('alice')).toBe(held.stageArn)
    expect(f.counter('TokensIssued')).toBe(1)
  })

  test("an issuer that picks its own participant id (CreateParticipantToken): presence records the token's id", async () => {
    let n = 0
    const f = await fleet({
      tokens: (real) => ({ strategy: 'api', issue: (request) => real.issue({ ...request, participantId: `ivs-picked-${++n}` }) }),
    })
    const token = await f.viewers.issueToken({ userId: 'alice' })
    expect(token.participantId).toBe('ivs-picked-1')
    expect(await f.store.findViewer('alice')).toMatchObject({ stageArn: f.master, participantId: 'ivs-picked-1' })
    expect(f.sessions.verify(token.viewerSession, f.clock.now())?.participantId).toBe('ivs-picked-1')
    expect(await f.counts()).toEqual([1]) // recorded on the same seat, not a second one
    const again = await f.viewers.issueToken({ userId: 'alice' })
    expect([again.participantId, (await f.store.findViewer('alice'))?.participantId]).toEqual(['ivs-picked-2', 'ivs-picked-2'])
    expect(await f.counts()).toEqual([1])
  })

  // Issue 20 item 5: the issuer's id used to be recorded by a second assignViewer, which moved the
  // viewer off a stage that started draining during the IVS call (token and seat disagreed).
  test("an issuer picking its own id while the stage drains: presence stays on the token's stage", async () => {
    let drainFirst: (() => Promise<unknown>) | null = null
    const f = await fleet({
      tokens: (real) => ({
        strategy: 'api',
        issue: async (request) => {
          await drainFirst?.()
          return real.issue({ ...request, participantId: 'ivs-picked' })
        },
      }),
    })
    for (const userId of ['u1', 'u2', 'u3']) await f.viewers.issueToken({ userId }) // u3 on a second stage, one seat free there
    await f.viewers.leave({ userId: 'u1', stageArn: f.master })
    drainFirst = () => f.stages.drain(f.master) // the leader drains the master during the IVS call
    const token = await f.viewers.issueToken({ userId: 'u4' })
    expect(token.stageArn).toBe(f.master)
    expect(await f.store.findViewer('u4')).toMatchObject({ stageArn: token.stageArn, participantId: token.participantId })
    expect(await f.counts()).toEqual([2, 1]) // the seat on the second stage stayed free
    // The draining stage's viewers are told to rejoin: u4 too, by its first heartbeat.
    const beat = await refusal(f.viewers.heartbeat({ userId: 'u4', stageArn: token.stageArn }))
    expect([beat.code, beat.details?.draining]).toEqual(['REJOIN_REQUIRED', true])
  })

  test('an issuer picking its own id while the seat is lost (stage deleted): the viewer is not seated elsewhere; the heartbeat says rejoin', async () => {
    let meanwhile: (() => Promise<unknown>) | null = null
    const f = await fleet({
      tokens: (real) => ({
        strategy: 'api',
        issue: async (request) => {
          await meanwhile?.()
          return real.issue({ ...request, participantId: 'ivs-picked' })
        },
      }),
    })
    for (const userId of ['u1', 'u2', 'u3']) await f.viewers.issueToken({ userId }) // u3 on a second stage, one seat free there
    const second = (await f.store.listStages())[1]!.arn
    // During the IVS call the second stage is deleted and a seat frees on the master.
    meanwhile = async () => {
      await f.stages.delete(second)
      await f.viewers.leave({ userId: 'u1', stageArn: f.master })
    }
    const token = await f.viewers.issueToken({ userId: 'u4' })
    expect(token.stageArn).toBe(second)
    expect(await f.store.findViewer('u4')).toBeNull() // not seated on the master behind its token's back
    expect(await f.counts()).toEqual([1])
    const beat = await refusal(f.viewers.heartbeat({ userId: 'u4', stageArn: token.stageArn }))
    expect(beat.code).toBe('REJOIN_REQUIRED')
  })
})

describe('ViewerService.issueToken: when no seat can be had', () => {
  test('every stage full at MAX_STAGES: CAPACITY_EXHAUSTED, reason max-stages, Retry-After 5, nobody seated', async () => {
    const f = await fleet({ maxStages: 2 })
    for (const userId of ['u1', 'u2', 'u3', 'u4']) await f.viewers.issueToken({ userId })
    const error = await refusal(f.viewers.issueToken({ userId: 'u5' }))
    expect([error.code, error.details, error.retryAfterSeconds]).toEqual(['CAPACITY_EXHAUSTED', { reason: 'max-stages' }, 5])
    expect(error.message).toContain('MAX_STAGES (2)')
    expect(await f.seatOf('u5')).toBeNull()
    expect(await f.counts()).toEqual([2, 2])
    expect(f.counter('CapacityRefusals', 'max-stages')).toBe(1)
    expect((await f.viewers.issueToken({ userId: 'u1' })).stageArn).toBe(f.master) // a seated viewer still gets its token
  })

  test("the account's subscription quota: new viewers refused (subscription-quota), seated ones still served", async () => {
    const f = await fleet({ maxSubscriptions: 3, maxStages: 5 })
    for (const userId of ['u1', 'u2', 'u3']) await f.viewers.issueToken({ userId })
    const error = await refusal(f.viewers.issueToken({ userId: 'u4' }))
    expect([error.code, error.details, error.retryAfterSeconds]).toEqual(['CAPACITY_EXHAUSTED', { reason: 'subscription-quota' }, 5])
    expect(await f.seatOf('u4')).toBeNull()
    expect((await f.viewers.issueToken({ userId: 'u2' })).stageArn).toBe(f.master)
    expect(f.counter('CapacityRefusals', 'subscription-quota')).toBe(1)
  })

  test("IVS refuses a new stage (the account's stage quota): stage-quota with Retry-After until the notice ends, IVS not asked again", async () => {
    const provider = new LocalStageProvider({ region: 'us-east-1', whipUrl: 'https://whip.example' })
    const f = await fleet({ provider })
    let asked = 0
    provider.createStage = async () => {
      asked++
      throw new AppError('CAPACITY_EXHAUSTED', 'ServiceQuotaExceededException: stages per account')
    }
    for (const userId of ['u1', 'u2']) await f.viewers.issueToken({ userId })
    const first = await refusal(f.viewers.issueToken({ userId: 'u3' }))
    expect([first.code, first.details, first.retryAfterSeconds]).toEqual(['CAPACITY_EXHAUSTED', { reason: 'stage-quota' }, 60])
    expect(first.message).toContain('ServiceQuotaExceededException')
    f.clock.advance(30_000)
    const later = await refusal(f.viewers.issueToken({ userId: 'u4' }))
    expect([later.details, later.retryAfterSeconds, asked]).toEqual([{ reason: 'stage-quota' }, 30, 1])
    expect(f.counter('CapacityRefusals', 'stage-quota')).toBe(2)
  })

  test('leaving: never seated on the stage left; with no seat elsewhere at MAX_STAGES the viewer keeps the one it has', async () => {
    const f = await fleet({ maxStages: 2 })
    await f.viewers.issueToken({ userId: 'u1' })
    const moved = await f.viewers.issueToken({ userId: 'u1', leaving: f.master })
    expect(moved.stageArn).not.toBe(f.master)
    expect(await f.counts()).toEqual([0, 1])
    // The master has room, but it is the stage being left.
    const back = await f.viewers.issueToken({ userId: 'u2', leaving: moved.stageArn })
    expect(back.stageArn).toBe(f.master)
    for (const userId of ['u3', 'u4']) await f.viewers.issueToken({ userId })
    expect(await f.counts()).toEqual([2, 2])
    const error = await refusal(f.viewers.issueToken({ userId: 'u1', leaving: moved.stageArn }))
    expect(error.details).toEqual({ reason: 'max-stages' })
    expect(await f.seatOf('u1')).toBe(moved.stageArn)
  })

  test('the wait for a new stage is bounded by the clock, not by rounds', async () => {
    let asks = 0
    // Room is promised each time, but others take every new seat first; each round costs a second.
    const f = await fleet({
      maxStages: 10,
      seatWaitMs: 5_000,
      room: (_, clock) => ({
        makeRoom: async (): Promise<RoomOutcome> => {
          asks++
          clock.advance(1_000)
          return { ok: true }
        },
      }),
    })
    for (const userId of ['u1', 'u2']) await f.viewers.issueToken({ userId })
    const error = await refusal(f.viewers.issueToken({ userId: 'u3' }))
    expect([error.code, error.details]).toEqual(['CAPACITY_EXHAUSTED', { reason: 'max-stages' }])
    expect(asks).toBe(5)
  })

  test('a stage another instance adds during the wait is taken', async () => {
    let asks = 0
    let theirs = ''
    const elsewhere = new LocalStageProvider({ region: 'us-east-1', whipUrl: 'https://whip.example' })
    const f = await fleet({
      room: (_, clock, store) => ({
        makeRoom: async (): Promise<RoomOutcome> => {
          clock.advance(1_000)
          // The first two rounds find nothing; then the other instance's stage appears in the store.
          if (++asks === 3) {
            const created = await elsewhere.createStage({ name: 'theirs', tags: {} })
            await store.addStage(stageRecord(created, { isMaster: false, seq: await store.nextStageSeq() }, clock.now()), 10)
            theirs = created.arn
          }
          return { ok: true }
        },
      }),
    })
    for (const userId of ['u1', 'u2']) await f.viewers.issueToken({ userId })
    const seat = await f.viewers.issueToken({ userId: 'u3' })
    expect([seat.stageArn, asks, await f.counts()]).toEqual([theirs, 3, [2, 1]])
  })
})
