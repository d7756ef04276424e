/**
 * The replications the leader starts and stops (pure), given what IVS shows: for each stage fed by a
 * replica, the wanted source participant(s) of its origin, against the replications running.
 *
 * - Start what is wanted and not running; never more than IVS's 5 per participant (the ones kept
 *   running count); not a participant IVS refused a moment ago (`holdOff`: the caller's backoff),
 *   nor into a stage another instance just made (`settling`: its creator starts its replica).
 * - Stop a running replication that is not wanted only when its stage has its wanted feed: after
 *   the wanted replica started (a handover: the new one first, so the stage is never without one),
 *   or the relay publishes there (a stage that became an origin). Until then it stays: a broadcaster
 *   gone for a moment comes back within IVS's reconnect window, and a stage keeps what it has.
 * - Replications into stages the fleet no longer has, or any at all in relay mode, are stopped.
 */
import { REPLICAS_PER_PARTICIPANT } from './admission'
import type { OriginAssignment } from './origin-assignment'
import type { FanoutMode } from './settings'

export interface Replication {
  sourceStageArn: string
  destinationStageArn: string
  participantId: string
}

/** Why the fleet stops a replication (the `reason` of replication_stopped and of the stop counter). */
export type StopReason = 'superseded' | 'reassigned' | 'stage-gone' | 'fanout-mode' | 'stage-deleted'

export interface PlannedStop extends Replication {
  reason: StopReason
  /** Stop only once this start succeeded (a handover); absent: stop first. */
  after?: Replication
}

export interface ReplicationPlanInput {
  mode: FanoutMode
  /** The fleet's stages now (active and draining). */
  stageArns: readonly string[]
  assignment: OriginAssignment
  /** Per origin stage: the participants to replicate from it (replicate: every live publisher of the master; hybrid: its relay participant). */
  sources: Readonly<Record<string, readonly string[]>>
  /** Stages where the relay publishes now (hybrid). */
  relayLive: readonly string[]
  /** ACTIVE replications as IVS listed them. */
  running: readonly Replication[]
  /** Replications not to ask for now (`replicationKey`): IVS refused them a moment ago. */
  holdOff?: ReadonlySet<string>
  /** Stages whose replicas are not asked for now: another instance just made them and is starting them (its hook). */
  settling?: ReadonlySet<string>
}

export interface ReplicationPlan {
  /** Stops that come first: they leave no stage without its feed (and free quota for the starts). */
  stops: PlannedStop[]
  starts: Replication[]
  /** Stops that wait for their replacement's start (`after`). */
  handovers: PlannedStop[]
  /** Wanted but beyond a participant's 5: not asked for. */
  capped: Replication[]
  /** Wanted and held off: asked again later. */
  deferred: Replication[]
}

/** Just the replication's three fields (a plan's stop or a record carries more). */
export const pick = (r: Replication): Replication => ({
  sourceStageArn: r.sourceStageArn,
  destinationStageArn: r.destinationStageArn,
  participantId: r.participantId,
})

export const replicationKey = (r: Replication) => `${r.sourceStageArn}|${r.participantId}|${r.destinationStageArn}`
const participantKey = (r: Pick<Replication, 'sourceStageArn' | 'participantId'>) => `${r.sourceStageArn}|${r.participantId}`

/** The replications wanted now: each assigned stage gets each source of its origin. */
export function wantedReplications(assignment: OriginAssignment, sources: Readonly<Record<string, readonly string[]>>): Replication[] {
  const wanted: Replication[] = []
  for (const [destinationStageArn, sourceStageArn] of Object.entries(assignment.originOf)) {
    for (const participantId of sources[sourceStageArn] ?? []) wanted.push({ sourceStageArn, destinationStageArn, participantId })
  }
  return wanted
}

export function planReplications(input: ReplicationPlanInput): ReplicationPlan {
  const plan: ReplicationPlan = { stops: [], starts: [], handovers: [], capped: [], deferred: [] }
  const stages = new Set(input.stageArns)
  const wanted = input.mode === 'relay' ? [] : wantedReplications(input.assignment, input.sources)
  const wantedKeys = new Set(wanted.map(replicationKey))
  const runningKeys = new Set(input.running.map(replicationKey))

  // The quota each participant has left once the first stops are done.
  const unwanted = input.running.filter((r) => !wantedKeys.has(replicationKey(r)))
  const stopFirst = new Set<string>()
  for (const r of unwanted) {
    const reason = immediateStop(r, input, stages, wanted, runningKeys)
    if (reason === null) continue
    plan.stops.push({ ...r, reason })
    stopFirst.add(replicationKey(r))
  }
  const used = new Map<string, number>()
  for (const r of input.running) {
    if (stopFirst.has(replicationKey(r))) continue
    used.set(participantKey(r), (used.get(participantKey(r)) ?? 0) + 1)
  }
  for (const w of wanted) {
    if (runningKeys.has(replicationKey(w))) continue
    if (input.holdOff?.has(replicationKey(w)) || input.settling?.has(w.destinationStageArn)) {
      plan.deferred.push(w)
      continue
    }
    const count = used.get(participantKey(w)) ?? 0
    if (count >= REPLICAS_PER_PARTICIPANT) {
      plan.capped.push(w)
      continue
    }
    used.set(participantKey(w), count + 1)
    plan.starts.push(w)
  }
  // The rest of the unwanted: stopped once their stage's wanted replica has started.
  for (const r of unwanted) {
    if (stopFirst.has(replicationKey(r))) continue
    const replacement = plan.starts.find((s) => s.destinationStageArn === r.destinationStageArn)
    if (replacement) plan.handovers.push({ ...r, reason: reasonOf(r, input), after: replacement })
  }
  return plan
}

/** A stop that needs no replacement first, and why; null: keep it until the stage has its wanted feed. */
function immediateStop(
  r: Replication,
  input: ReplicationPlanInput,
  stages: ReadonlySet<string>,
  wanted: readonly Replication[],
  running: ReadonlySet<string>,
): StopReason | null {
  if (!stages.has(r.destinationStageArn)) return 'stage-gone'
  if (input.mode === 'relay') return 'fanout-mode'
  const dest = r.destinationStageArn
  // The stage is an origin now and the relay is there: it has its feed.
  if (input.assignment.originOf[dest] === undefined) return input.relayLive.includes(dest) ? 'reassigned' : null
  // Its wanted replica already runs.
  if (wanted.some((w) => w.destinationStageArn === dest && running.has(replicationKey(w)))) return reasonOf(r, input)
  return null
}

/** From its origin still (a new participant there) or from another stage (the stage moved). */
function reasonOf(r: Replication, input: ReplicationPlanInput): StopReason {
  return input.assignment.originOf[r.destinationStageArn] === r.sourceStageArn ? 'superseded' : 'reassigned'
}
