/** The fan-out view's pure parts: what the leader records (store.fanout) and each stage's feed. */
import type { FanoutRecord, StageFeed } from '../store/fanout'
import type { StageView } from '../store/types'
import type { OriginAssignment } from './origin-assignment'
import type { FanoutObservation } from './replication-observe'
import { type Replication, replicationKey } from './replication-plan'
import type { FanoutMode } from './settings'

export const emptyView = (mode: FanoutMode): FanoutRecord => ({ mode, origins: [], originOf: {}, feeds: {}, replications: [], updatedAt: 0 })

/** The view once a stage is deleted: gone from the origins, the assignment, the feeds, and every replication into or out of it. */
export function withoutStage(view: FanoutRecord, arn: string, now: number): FanoutRecord {
  const { [arn]: _feed, ...feeds } = view.feeds
  const { [arn]: _origin, ...originOf } = view.originOf
  const replications = view.replications.filter((r) => r.sourceStageArn !== arn && r.destinationStageArn !== arn)
  return { ...view, origins: view.origins.filter((o) => o !== arn), originOf, feeds, replications, updatedAt: now }
}

/** The replications the last view listed that IVS ended by itself since (neither running now nor stopped by this round). */
export function endedSince(view: FanoutRecord | null, observed: FanoutObservation, active: Replication[], stopped: Replication[], stages: StageView[]) {
  const asked = new Set(Object.keys(observed.sources))
  const present = new Set(stages.map((s) => s.arn))
  const still = new Set([...active, ...stopped].map(replicationKey))
  return (view?.replications ?? []).filter((r) => asked.has(r.sourceStageArn) && present.has(r.destinationStageArn) && !still.has(replicationKey(r)))
}

/** The kept hybrid assignment, or null when the store holds none (or one of another mode). */
export function hybridView(view: FanoutRecord | null): OriginAssignment | null {
  return view?.mode === 'hybrid' ? { origins: view.origins, originOf: view.originOf } : null
}

/** Each stage an origin's participant is replicated into, by that origin (the first when several). */
export function observedOrigins(observed: FanoutObservation, assignment: OriginAssignment): Record<string, string> {
  const out: Record<string, string> = {}
  for (const r of observed.running) if (assignment.origins.includes(r.sourceStageArn)) out[r.destinationStageArn] ??= r.sourceStageArn
  return out
}

export function hasSource(arn: string, assignment: OriginAssignment, observed: FanoutObservation): boolean {
  const origin = assignment.originOf[arn]
  return origin !== undefined && (observed.sources[origin]?.length ?? 0) > 0
}

/** How each stage gets its media now: the relay or the broadcaster itself where they publish, else a running replica. */
export function feedsOf(mode: FanoutMode, stages: readonly StageView[], assignment: OriginAssignment, observed: FanoutObservation, active: Replication[]) {
  const feeds: Record<string, StageFeed> = {}
  for (const s of stages) {
    const into = active.filter((r) => r.destinationStageArn === s.arn)
    const from = into.find((r) => r.sourceStageArn === assignment.originOf[s.arn]) ?? into[0]
    if (from) feeds[s.arn] = { kind: 'replica', originStageArn: from.sourceStageArn }
    if (mode === 'replicate' && s.isMaster && (observed.sources[s.arn]?.length ?? 0) > 0) feeds[s.arn] = { kind: 'direct' }
    if (mode === 'hybrid' && observed.relayLive.includes(s.arn)) feeds[s.arn] = { kind: 'relay' }
  }
  return feeds
}

/**
 * A stage another instance made is given its replica by that instance (StageService's hook, right
 * after it recorded the stage): the leader leaves a stage this young alone unless its own hook ran
 * for it, so the two never ask IVS for the same replication (a 409 and a second replication_started).
 */
export const NEW_STAGE_GRACE_MS = 5_000

/** At most this many stages are remembered as prepared by this instance's hook (a few a second are made at most). */
export const HOOKED_MAX = 1_000

/**
 * Remembers that this instance's hook prepared `arn` (at `now`), and forgets the ones past
 * NEW_STAGE_GRACE_MS (they matter no longer): bounded on an instance that never plans a round.
 */
export function markHooked(hooked: Map<string, number>, arn: string, now: number): void {
  forgetOld(hooked, now)
  hooked.delete(arn)
  hooked.set(arn, now)
  for (const oldest of hooked.keys()) {
    if (hooked.size <= HOOKED_MAX) break
    hooked.delete(oldest)
  }
}

const forgetOld = (hooked: Map<string, number>, now: number) => {
  for (const [arn, at] of hooked) if (now - at >= NEW_STAGE_GRACE_MS) hooked.delete(arn)
}

/** The stages the leader leaves to their creator now: young ones this instance's hook did not prepare (`hooked` forgets the old). */
export function settlingStages(stages: readonly StageView[], hooked: Map<string, number>, now: number): Set<string> {
  forgetOld(hooked, now)
  return new Set(stages.filter((s) => now - s.createdAt < NEW_STAGE_GRACE_MS && !hooked.has(s.arn)).map((s) => s.arn))
}

/** How long a draining origin may wait for its stages' handover before it is deleted anyway. */
export const HANDOVER_WAIT_MS = 30_000

/** Hybrid: the draining stage still feeds stages of the fleet (replications out of it), and has not waited HANDOVER_WAIT_MS yet. */
export function waitsForHandover(stage: StageView, view: FanoutRecord | null, stages: readonly StageView[], now: number): boolean {
  if (stage.drainingSince === null || now - stage.drainingSince >= HANDOVER_WAIT_MS) return false
  return (view?.replications ?? []).some((r) => r.sourceStageArn === stage.arn && stages.some((s) => s.arn === r.destinationStageArn))
}
