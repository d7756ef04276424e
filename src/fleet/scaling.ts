import type { StageStatus } from '../store/types'
import type { ScalingPolicy } from './settings'

export type { ScalingPolicy }

/** What the autoscaler reads of a stage: its place, status, age and load (a StageView is one). */
export interface StageLoad {
  arn: string
  seq: number
  isMaster: boolean
  status: StageStatus
  viewerCount: number
  createdAt: number
  drainingSince: number | null
}

export interface ScalingPlan {
  /** Create one stage ahead of demand. */
  create: boolean
  /** Stages to start draining (at most one per round). */
  drain: string[]
  /** Draining stages to delete: empty, or past the grace period. */
  remove: string[]
}

/** Headroom: an active stage below the scale-up threshold can still take viewers without triggering growth. */
const hasHeadroom = (s: StageLoad, policy: ScalingPolicy) => s.status === 'active' && s.viewerCount < policy.scaleUpThreshold

/**
 * The autoscaler's decisions, a pure function of the fleet and the time.
 *
 * - Grow when an active stage reached the scale-up threshold and no other active stage has
 *   headroom, so the next burst finds a stage that already exists.
 * - Shrink by draining the highest-seq non-master stage that is past warm-up, at or below the
 *   scale-down threshold, and whose viewers fit on the other active stages without pushing any of
 *   them to the scale-up threshold (hysteresis: a drain never causes a scale-up, so no churn).
 * - Never grow and shrink in the same round.
 */
export function planScaling(stages: readonly StageLoad[], policy: ScalingPolicy, now: number): ScalingPlan {
  const remove = stages
    .filter((s) => s.status === 'draining' && (s.viewerCount === 0 || (s.drainingSince !== null && now - s.drainingSince >= policy.drainGraceMs)))
    .map((s) => s.arn)

  const active = stages.filter((s) => s.status === 'active')
  const pressured = active.some((s) => s.viewerCount >= policy.scaleUpThreshold)
  const create = pressured && !active.some((s) => hasHeadroom(s, policy)) && stages.length - remove.length < policy.maxStages
  if (create) return { create, drain: [], remove }

  const drain: string[] = []
  const candidates = active
    .filter((s) => !s.isMaster && now - s.createdAt >= policy.stageWarmupMs && s.viewerCount <= policy.scaleDownThreshold)
    .sort((a, b) => b.seq - a.seq)
  for (const candidate of candidates) {
    const others = active.filter((s) => s.arn !== candidate.arn)
    // Room below the threshold on the other stages, counted seat by seat.
    const spare = others.reduce((sum, s) => sum + Math.max(0, policy.scaleUpThreshold - 1 - s.viewerCount), 0)
    if (others.length > 0 && spare >= candidate.viewerCount && others.some((s) => hasHeadroom(s, policy))) {
      drain.push(candidate.arn)
      break
    }
  }
  return { create: false, drain, remove }
}
