/**
 * FANOUT_MODE=hybrid, which stage feeds which (pure): the relay publishes into origin stages only, and
 * every other stage gets a replica of one origin's relay participant. IVS replicates one participant
 * into at most 5 stages, so N stages need ⌈N/6⌉ origins.
 *
 * - The master is always an origin.
 * - Stable: a stage keeps its origin while that origin is an active stage (a draining or deleted
 *   origin gives its stages up: they are re-attached, so nothing is lost when it goes).
 * - A stage without an origin (new, or its origin went away) joins the lowest-seq active origin with
 *   room; when none has room it becomes an origin itself (the relay's next session).
 * - An origin that feeds nothing, beyond the ⌈N/6⌉ the fleet needs (stages deleted out of order, a
 *   fleet that was all relay-fed), becomes a replica of an origin with room: one stage's feed changes.
 */
import { REPLICAS_PER_PARTICIPANT } from './admission'

/** What the assignment reads of a stage (a StageView is one). */
export interface FanoutStage {
  arn: string
  seq: number
  isMaster: boolean
  status: 'active' | 'draining'
}

export interface OriginAssignment {
  /** The stages the relay publishes into, in seq order (the master first). */
  origins: string[]
  /** Every other stage: the origin whose relay participant is replicated into it. */
  originOf: Record<string, string>
}

/** Origins needed for `stages` stages: each feeds itself and up to 5 more. */
export const originsNeeded = (stages: number) => Math.ceil(stages / (1 + REPLICAS_PER_PARTICIPANT))

/** `previous`: the assignment kept so far (null: none yet); stages it names that are gone are forgotten. */
export function assignOrigins(stages: readonly FanoutStage[], previous: OriginAssignment | null): OriginAssignment {
  const sorted = [...stages].sort((a, b) => a.seq - b.seq)
  const byArn = new Map(sorted.map((s) => [s.arn, s]))
  const origins = new Set<string>()
  for (const s of sorted) if (s.isMaster || previous?.origins.includes(s.arn)) origins.add(s.arn)
  const load = new Map<string, number>([...origins].map((arn) => [arn, 0]))
  const originOf: Record<string, string> = {}
  const canFeed = (arn: string) => byArn.get(arn)?.status === 'active' && origins.has(arn) && load.get(arn)! < REPLICAS_PER_PARTICIPANT
  const attach = (dest: string, origin: string) => {
    originOf[dest] = origin
    load.set(origin, load.get(origin)! + 1)
  }

  const orphans: FanoutStage[] = []
  for (const s of sorted) {
    if (origins.has(s.arn)) continue
    const kept = previous?.originOf[s.arn]
    if (kept !== undefined && canFeed(kept)) attach(s.arn, kept)
    else orphans.push(s)
  }
  for (const s of orphans) {
    const origin = sorted.find((o) => canFeed(o.arn))
    if (origin) attach(s.arn, origin.arn)
    else {
      origins.add(s.arn)
      load.set(s.arn, 0)
    }
  }

  // Fold back origins that feed nothing while the fleet holds more than it needs, newest first.
  const surplus = sorted.filter((s) => origins.has(s.arn) && !s.isMaster && s.status === 'active').reverse()
  for (const s of surplus) {
    if (origins.size <= originsNeeded(sorted.length)) break
    if (load.get(s.arn) !== 0) continue
    const target = sorted.find((o) => o.arn !== s.arn && canFeed(o.arn))
    if (!target) break
    origins.delete(s.arn)
    load.delete(s.arn)
    attach(s.arn, target.arn)
  }
  return { origins: sorted.filter((s) => origins.has(s.arn)).map((s) => s.arn), originOf }
}

/** FANOUT_MODE=replicate: the master feeds every other stage, up to IVS's 5 (the fleet is capped at 6). */
export function replicateFromMaster(stages: readonly FanoutStage[]): OriginAssignment {
  const sorted = [...stages].sort((a, b) => a.seq - b.seq)
  const master = sorted.find((s) => s.isMaster)
  if (!master) return { origins: [], originOf: {} }
  const originOf: Record<string, string> = {}
  for (const s of sorted.filter((s) => !s.isMaster).slice(0, REPLICAS_PER_PARTICIPANT)) originOf[s.arn] = master.arn
  return { origins: [master.arn], originOf }
}
