import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors'
import {
  type Admission,
  admitNewViewer,
  findRoom,
  fleetFull,
  refusalError,
  type StageQuotaNotice,
  stageQuotaReached,
  subscriptionQuotaReached,
} from '../../src/fleet/admission'
import type { StageStatus, StageView } from '../../src/store/types'

const stage = (seq: number, viewerCount: number, status: StageStatus = 'active', capacity = 3): StageView => ({
  arn: `arn:aws:ivs:us-east-1:000000000000:stage/St${String(seq).padStart(10, '0')}`,
  name: `s-${seq}`,
  isMaster: seq === 0,
  status,
  seq,
  createdAt: 0,
  drainingSince: status === 'draining' ? 0 : null,
  tags: {},
  endpoints: { whip: 'https://whip.example', events: 'wss://events.example' },
  viewerCount,
  capacity,
})
const limits = { maxStages: 3, maxSubscriptions: 100 }
const ivsRefused: StageQuotaNotice = { value: 'IVS refused a new stage: quota exceeded', expiresInMs: 41_200 }

describe('findRoom: the seats alone', () => {
  test('a free seat on an active stage: seated now, nothing to grow', () => {
    expect(findRoom({ stages: [stage(0, 3), stage(1, 2)], stageQuota: ivsRefused }, 3)).toEqual({ ok: true, grow: false })
  })

  test('the capacity is read from each stage', () => {
    expect(findRoom({ stages: [stage(0, 3, 'active', 3), stage(1, 3, 'active', 4)], stageQuota: null }, 2)).toEqual({ ok: true, grow: false })
    expect(findRoom({ stages: [stage(0, 3, 'active', 3), stage(1, 4, 'active', 4)], stageQuota: null }, 2).ok).toBe(false)
  })

  test('room on a draining or an excluded stage is no room', () => {
    const stages = [stage(0, 3), stage(1, 0, 'draining'), stage(2, 1)]
    expect(findRoom({ stages, stageQuota: null, exclude: [stages[2]!.arn] }, 5)).toEqual({ ok: true, grow: true })
    expect(findRoom({ stages, stageQuota: null }, 5)).toEqual({ ok: true, grow: false })
  })

  test('every stage full below MAX_STAGES: room once a stage is added', () => {
    expect(findRoom({ stages: [stage(0, 3), stage(1, 3)], stageQuota: null }, 3)).toEqual({ ok: true, grow: true })
    expect(findRoom({ stages: [], stageQuota: null }, 3)).toEqual({ ok: true, grow: true })
  })

  test('every stage full at MAX_STAGES: max-stages, retry in 5 s (before any stage-quota notice)', () => {
    const refused: Admission = {
      ok: false,
      refusal: { kind: 'max-stages', message: 'every stage is full and MAX_STAGES (2) is reached', retryAfterSeconds: 5 },
    }
    expect(findRoom({ stages: [stage(0, 3), stage(1, 3)], stageQuota: null }, 2)).toEqual(refused)
    expect(findRoom({ stages: [stage(0, 3), stage(1, 3)], stageQuota: ivsRefused }, 2)).toEqual(refused)
  })

  test('every stage full, IVS refused a stage: stage-quota with its text, retry when the notice runs out', () => {
    expect(findRoom({ stages: [stage(0, 3)], stageQuota: ivsRefused }, 3)).toEqual({
      ok: false,
      refusal: { kind: 'stage-quota', message: 'IVS refused a new stage: quota exceeded', retryAfterSeconds: 42 },
    })
  })
})

describe('admitNewViewer: the subscription quota, then the seats', () => {
  test('below the quota: as findRoom says', () => {
    expect(admitNewViewer({ stages: [stage(0, 2)], stageQuota: null }, limits)).toEqual({ ok: true, grow: false })
    expect(admitNewViewer({ stages: [stage(0, 3)], stageQuota: null }, limits)).toEqual({ ok: true, grow: true })
    expect(admitNewViewer({ stages: [stage(0, 3)], stageQuota: ivsRefused }, limits)).toMatchObject({ ok: false, refusal: { kind: 'stage-quota' } })
  })

  test('at the quota: subscription-quota even with free seats, naming the viewers and the quota', () => {
    const stages = [stage(0, 3, 'active', 50), stage(1, 2, 'draining', 50)]
    expect(admitNewViewer({ stages, stageQuota: null }, { maxStages: 20, maxSubscriptions: 5 })).toEqual({
      ok: false,
      refusal: {
        kind: 'subscription-quota',
        message: "the fleet holds 5 viewers, the account's concurrent-subscription quota (IVS_MAX_SUBSCRIPTIONS 5)",
        retryAfterSeconds: 5,
      },
    })
  })
})

describe('refusals: one wording each', () => {
  test('messages and Retry-After', () => {
    expect(fleetFull(20)).toEqual({ kind: 'max-stages', message: 'every stage is full and MAX_STAGES (20) is reached', retryAfterSeconds: 5 })
    expect(subscriptionQuotaReached(20_000, 20_000).message).toBe(
      "the fleet holds 20000 viewers, the account's concurrent-subscription quota (IVS_MAX_SUBSCRIPTIONS 20000)",
    )
    expect(stageQuotaReached({ value: 'x', expiresInMs: 59_001 }).retryAfterSeconds).toBe(60)
    expect(stageQuotaReached({ value: 'x', expiresInMs: 10 }).retryAfterSeconds).toBe(1) // never 0
  })

  test('the error: 503 CAPACITY_EXHAUSTED with the kind as details.reason and Retry-After', () => {
    const error = refusalError(fleetFull(2))
    expect(error).toBeInstanceOf(AppError)
    expect([error.code, error.message, error.details, error.retryAfterSeconds]).toEqual([
      'CAPACITY_EXHAUSTED',
      'every stage is full and MAX_STAGES (2) is reached',
      { reason: 'max-stages' },
      5,
    ])
  })
})

describe('FANOUT_MODE=replicate: the fleet stops at the master and 5 replicas', () => {
  const replicate = { maxStages: 6, maxSubscriptions: 100, ceiling: 'replication-quota' as const }
  const full = (n: number) => Array.from({ length: n }, (_, i) => stage(i, 3))

  test('past the last seat of 6 stages: refused with the replication quota as the reason, by name', () => {
    expect(admitNewViewer({ stages: full(5), stageQuota: null }, replicate)).toEqual({ ok: true, grow: true })
    const refused = admitNewViewer({ stages: full(6), stageQuota: null }, replicate)
    expect(refused.ok).toBe(false)
    const refusal = (refused as Extract<Admission, { ok: false }>).refusal
    expect(refusal.kind).toBe('replication-quota')
    expect(refusal.message).toContain('IVS replicates one participant into at most 5 stages')
    expect(refusal.message).toContain('6 stages')
    const error = refusalError(refusal)
    expect([error.code, error.details, error.retryAfterSeconds]).toEqual(['CAPACITY_EXHAUSTED', { reason: 'replication-quota' }, 5])
  })

  test('the same ceiling in findRoom (the wait for a new stage) and fleetFull; MAX_STAGES named when it is the lower one', () => {
    expect(findRoom({ stages: full(6), stageQuota: null }, 6, 'replication-quota')).toEqual({ ok: false, refusal: fleetFull(6, 'replication-quota') })
    expect(fleetFull(4).kind).toBe('max-stages')
  })
})
