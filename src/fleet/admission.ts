/**
 * Admission, decided in one place: can a new viewer be seated now, and if not, why and when to ask
 * again. Pure: callers read the stages and the stage-quota notice from the store and pass them in;
 * the seat rule itself is the store's (store/fill-first.ts `hasFreeSeat`, by each stage's capacity).
 *
 * Used by the viewer's seat request (ViewerService), by the wait for a new stage (StageService) and
 * by the stats every dashboard reads (`capacityExhausted`, `capacityReason`), so all three say the
 * same thing in the same words.
 */
import { AppError } from '../errors'
import { hasFreeSeat } from '../store/fill-first'
import type { StageView } from '../store/types'
import type { AdmissionLimits, StageCeiling } from './settings'

/** The store notice (store.limits) that says IVS refused a new stage: the account holds all it may. */
export const STAGE_QUOTA_NOTICE = 'capacity'

/** Retry-After when the fleet is full or at the subscription quota: viewers leave all the time. */
const RETRY_AFTER_S = 5

/** IVS replicates one participant into at most this many stages (fixed: 402 beyond). */
export const REPLICAS_PER_PARTICIPANT = 5
/** FANOUT_MODE=replicate: the master and a replica of its broadcaster in each other stage. */
export const REPLICATE_MAX_STAGES = 1 + REPLICAS_PER_PARTICIPANT

export type RefusalKind = 'max-stages' | 'stage-quota' | 'subscription-quota' | 'replication-quota'

/** Why a new viewer is refused (`details.reason` of 503 CAPACITY_EXHAUSTED), the message, and Retry-After. */
export interface Refusal {
  kind: RefusalKind
  message: string
  retryAfterSeconds: number
}

/** The stage-quota notice as the store keeps it: IVS's refusal, and how long until anyone asks IVS again. */
export interface StageQuotaNotice {
  value: string
  expiresInMs: number
}

/** What admission looks at: the stages as the store reads them and the account's stage-quota notice. */
export interface FleetSeats {
  stages: readonly StageView[]
  stageQuota: StageQuotaNotice | null
  /** Stages the viewer may not be seated on (the one it is leaving). */
  exclude?: readonly string[]
}

/**
 * ok: a seat is free now (`grow: false`) or one is as soon as a stage is added (`grow: true`);
 * otherwise the refusal.
 */
export type Admission = { ok: true; grow: boolean } | { ok: false; refusal: Refusal }

/** `ceiling`: what `maxStages` is (MAX_STAGES, or replicate mode's 1 + 5 stages below it). */
export function fleetFull(maxStages: number, ceiling: StageCeiling = 'max-stages'): Refusal {
  if (ceiling === 'replication-quota') {
    return {
      kind: 'replication-quota',
      message: `every stage is full and the fleet holds ${maxStages} stages, all FANOUT_MODE=replicate can feed: IVS replicates one participant into at most ${REPLICAS_PER_PARTICIPANT} stages (the replication quota), so the master and ${REPLICAS_PER_PARTICIPANT} replicas`,
      retryAfterSeconds: RETRY_AFTER_S,
    }
  }
  return { kind: 'max-stages', message: `every stage is full and MAX_STAGES (${maxStages}) is reached`, retryAfterSeconds: RETRY_AFTER_S }
}

/** `viewers`: how many the fleet holds (at least the quota; the store that refused only says that much). */
export function subscriptionQuotaReached(viewers: number, maxSubscriptions: number): Refusal {
  return {
    kind: 'subscription-quota',
    message: `the fleet holds ${viewers} viewers, the account's concurrent-subscription quota (IVS_MAX_SUBSCRIPTIONS ${maxSubscriptions})`,
    retryAfterSeconds: RETRY_AFTER_S,
  }
}

/** Asked again once the notice runs out, not before (at least 1 s). */
export function stageQuotaReached(notice: StageQuotaNotice): Refusal {
  return { kind: 'stage-quota', message: notice.value, retryAfterSeconds: Math.max(1, Math.ceil(notice.expiresInMs / 1000)) }
}

/** The error a refused viewer gets: 503 CAPACITY_EXHAUSTED with Retry-After and `details.reason`. */
export function refusalError(refusal: Refusal): AppError {
  return new AppError('CAPACITY_EXHAUSTED', refusal.message, { reason: refusal.kind }, refusal.retryAfterSeconds)
}

/**
 * The seats alone, for a viewer the subscription quota does not stop (the store already held it to
 * the quota when it tried to seat it): a free seat; else MAX_STAGES; else the stage quota; else room
 * once a stage is added.
 */
export function findRoom(fleet: FleetSeats, maxStages: number, ceiling: StageCeiling = 'max-stages'): Admission {
  const exclude = fleet.exclude ?? []
  if (fleet.stages.some((s) => hasFreeSeat(s) && !exclude.includes(s.arn))) return { ok: true, grow: false }
  if (fleet.stages.length >= maxStages) return { ok: false, refusal: fleetFull(maxStages, ceiling) }
  if (fleet.stageQuota) return { ok: false, refusal: stageQuotaReached(fleet.stageQuota) }
  return { ok: true, grow: true }
}

/** A viewer that holds no subscription yet: the account's subscription quota first, then the seats. */
export function admitNewViewer(fleet: FleetSeats, limits: AdmissionLimits): Admission {
  const viewers = fleet.stages.reduce((sum, s) => sum + s.viewerCount, 0)
  if (viewers >= limits.maxSubscriptions) return { ok: false, refusal: subscriptionQuotaReached(viewers, limits.maxSubscriptions) }
  return findRoom(fleet, limits.maxStages, limits.ceiling)
}
