/**
 * One replication round (FANOUT_MODE replicate and hybrid; relay mode's clean-up): read the stages,
 * the view and IVS, plan, start and stop, write the view. Its caller holds the fan-out lock
 * (replication.ts), so the view read here is the one written last, by whichever instance.
 */
import type { Clock } from '../clock'
import { AppError } from '../errors'
import type { Logger } from '../log'
import type { Counters } from '../metrics/counters'
import type { FanoutRecord } from '../store/fanout'
import type { StageView, Store } from '../store/types'
import { assignOrigins, type OriginAssignment, replicateFromMaster } from './origin-assignment'
import type { ReplicationCalls } from './replication-calls'
import { type FanoutObservation, type ObserveInput, observeFanout } from './replication-observe'
import { type PlannedStop, pick, planReplications, type Replication, replicationKey, wantedReplications } from './replication-plan'
import { emptyView, endedSince, feedsOf, hasSource, hybridView, observedOrigins, settlingStages } from './replication-view'
import type { FanoutMode, ReplicationSettings } from './settings'

/** What one round did (tests and logs). */
export interface RoundSummary {
  started: Replication[]
  stopped: PlannedStop[]
  /** Something is still missing: the next round comes sooner. */
  pending: boolean
}

export const NOTHING: RoundSummary = { started: [], stopped: [], pending: false }

export interface RoundContext {
  mode: FanoutMode
  settings: ReplicationSettings
  store: Store
  clock: Clock
  logger: Logger
  counters: Counters
  calls: ReplicationCalls
  /** Stages this instance's hook prepared: not left to another instance (settlingStages). */
  hooked: Map<string, number>
  /** Told once that the stages are local (IVS cannot replicate them). */
  blind(stages: number): void
}

export interface RoundInput {
  thorough: boolean
  /** A stage about to be deleted, planned as draining (it feeds nothing). */
  leaving?: string
}

/** A summary, and when the next round is due. */
export interface RoundOutcome {
  summary: RoundSummary
  nextAt: number
}

const same = (a: Replication) => (b: Replication) => replicationKey(a) === replicationKey(b)

/**
 * Hybrid: the origins kept so far (the view), or for a fleet with none (just switched to hybrid)
 * the master and the stages a live relay publishes into. Rounds, hooks and relayStages all use this.
 */
export async function hybridHint(store: Pick<Store, 'listRelays'>, stages: readonly StageView[], view: FanoutRecord | null): Promise<OriginAssignment> {
  const kept = hybridView(view)
  if (kept) return kept
  const reported = new Set((await store.listRelays()).filter((r) => r.offlineSince === null).flatMap((r) => r.stageArns))
  return { origins: stages.filter((s) => s.isMaster || reported.has(s.arn)).map((s) => s.arn), originOf: {} }
}

/** Writes the view, unless the round must stop (another holder has the lock now, or the leader lost the lead). */
export async function writeView(ctx: Pick<RoundContext, 'store' | 'calls'>, record: FanoutRecord): Promise<void> {
  ctx.calls.check()
  await ctx.store.fanout.put(record)
}

/** What a round reads of the store, and what it asks IVS about because of it. */
interface StoreReading {
  stages: StageView[]
  view: FanoutRecord | null
  hint: OriginAssignment | null
  assignment: OriginAssignment
  observe: ObserveInput
}

/**
 * A round's reads made before it takes the fan-out lock (its IVS reads take seconds at hundreds of
 * stages, and a new stage's hook must not wait for them): the round uses them if, under the lock,
 * the store still asks the same of IVS (stillAsks). Null in relay mode, which reads nothing.
 */
export interface RoundReading {
  store: StoreReading
  observed: FanoutObservation
}

async function readStore(ctx: RoundContext, input: RoundInput): Promise<StoreReading> {
  const { mode, store } = ctx
  const [listed, view, publisher] = await Promise.all([store.listStages(), store.fanout.get(), store.getPublisherState()])
  const stages = listed.map((s) => (s.arn === input.leaving ? { ...s, status: 'draining' as const } : s))
  const hint = mode === 'hybrid' ? await hybridHint(store, stages, view) : null
  const assignment: OriginAssignment = mode === 'replicate' ? replicateFromMaster(stages) : assignOrigins(stages, hint)
  const observe: ObserveInput = {
    mode,
    origins: assignment.origins,
    known: view?.replications ?? [],
    feedingServerId: publisher.serverId,
    thorough: input.thorough || view === null,
  }
  return { stages, view, hint, assignment, observe }
}

/**
 * The reads a round can make before it holds the fan-out lock (runRound's `earlier`). Null when
 * they cannot stand: an origin deleted while they were made (IVS: not found) is read again under the lock.
 */
export async function readRound(ctx: RoundContext, input: RoundInput): Promise<RoundReading | null> {
  if (ctx.mode === 'relay') return null
  const store = await readStore(ctx, input)
  try {
    return { store, observed: await observeFanout(ctx.calls.reads(), store.observe) }
  } catch (error) {
    if (error instanceof AppError && error.code === 'NOT_FOUND') return null
    throw error
  }
}

/**
 * Whether reads made earlier still stand for the store as it is now: IVS asked for the same feeding
 * relay, at least as thoroughly, about no origin that is gone. Origins added meanwhile (a new stage's
 * hook made one) are read now, on their own; the replications the view gained or lost meanwhile (a
 * hook's start, a deleted stage's stops, all under the lock) are caught up on.
 */
function stillAsks(earlier: ObserveInput, now: ObserveInput): boolean {
  return (
    earlier.mode === now.mode &&
    earlier.feedingServerId === now.feedingServerId &&
    (earlier.thorough || !now.thorough) &&
    earlier.origins.every((arn) => now.origins.includes(arn))
  )
}

async function caughtUp(ctx: RoundContext, earlier: RoundReading, now: StoreReading): Promise<FanoutObservation> {
  const before = new Set(earlier.store.observe.known.map(replicationKey))
  const after = new Set(now.observe.known.map(replicationKey))
  const listed = new Set(now.stages.map((s) => s.arn))
  const readEarlier = new Set(earlier.store.observe.origins)
  // Dropped: what the view lost meanwhile (stopped under the lock by a deleted stage's hook). A
  // replication into a stage deleted without its hook stays, and is planned as any other (stopped).
  const running = earlier.observed.running.filter((r) => after.has(replicationKey(r)) || !before.has(replicationKey(r)))
  const added = now.observe.origins.filter((arn) => !readEarlier.has(arn))
  const more = await observeFanout(ctx.calls.reads(), { ...now.observe, origins: added })
  running.push(...more.running)
  const seen = new Set(running.map(replicationKey))
  // Added: what the view gained meanwhile (a hook's start), out of the origins read earlier (the added ones were read just now).
  for (const r of now.observe.known) {
    const key = replicationKey(r)
    if (before.has(key) || seen.has(key) || !readEarlier.has(r.sourceStageArn) || !listed.has(r.destinationStageArn)) continue
    running.push(pick(r))
  }
  return {
    sources: { ...earlier.observed.sources, ...more.sources },
    relayLive: [...earlier.observed.relayLive, ...more.relayLive],
    running,
    blind: [...earlier.observed.blind, ...more.blind],
  }
}

/** At least this long between rounds: the round's busiest IVS operation at the configured average rate (IVS's quotas are per operation). */
export function spacingMs({ calls, settings }: Pick<RoundContext, 'calls' | 'settings'>): number {
  return (calls.busiest() / settings.operationsPerSecond) * 1000
}

/**
 * One round, its caller holding the fan-out lock. `earlier`: reads this round made before it took
 * the lock, used when the store still asks the same of IVS (else IVS is read again, now).
 */
export async function runRound(ctx: RoundContext, input: RoundInput, earlier: RoundReading | null = null): Promise<RoundOutcome> {
  const { mode, store, clock, calls, settings } = ctx
  if (mode === 'relay') return relayRound(ctx, await store.fanout.get())
  const reading = await readStore(ctx, input)
  const { stages, view, hint, observe } = reading
  let assignment = reading.assignment
  const observed = earlier && stillAsks(earlier.store.observe, observe) ? await caughtUp(ctx, earlier, reading) : await observeFanout(calls.reads(), observe)
  if (observed.blind.length > 0) ctx.blind(observed.blind.length)
  // Hybrid: the stages IVS shows replicated keep their origin where the kept assignment says nothing (a leader that lost the store).
  if (mode === 'hybrid')
    assignment = assignOrigins(stages, { origins: assignment.origins, originOf: { ...observedOrigins(observed, assignment), ...hint?.originOf } })

  const plan = planReplications({
    mode,
    stageArns: stages.map((s) => s.arn),
    assignment,
    sources: observed.sources,
    relayLive: observed.relayLive,
    running: observed.running,
    holdOff: calls.retries.heldOff(),
    settling: settlingStages(stages, ctx.hooked, clock.now()),
  })
  calls.retries.keepOnly(wantedReplications(assignment, observed.sources))
  const stopped: PlannedStop[] = []
  for (const s of plan.stops) if (await calls.stop(s)) stopped.push(s)
  const started: Replication[] = []
  for (const r of plan.starts) if (await calls.start(r)) started.push(r)
  let handedOver = 0
  for (const h of plan.handovers) {
    if (!h.after || !started.some(same(h.after))) continue
    if (await calls.stop(h)) stopped.push(h)
    handedOver++
  }
  const active = [...observed.running.filter((r) => !stopped.some(same(r))), ...started]
  const ended = endedSince(view, observed, active, stopped, stages)
  const now = clock.now()
  const feeds = feedsOf(mode, stages, assignment, observed, active)
  await writeView(ctx, { mode, ...assignment, feeds, replications: active, updatedAt: now })
  // replication_stopped for those IVS ended by itself (the source gone past its reconnect window) since
  // the last round: told once the view no longer lists them, so a round that stops before its write
  // (leadership lost) leaves them to the next leader, which tells them once.
  for (const r of ended) {
    ctx.counters.add('ReplicationStops', 1, { reason: 'ended' })
    await calls.tell('replication_stopped', { ...pick(r), reason: 'ended' })
  }
  const previousOrigins = hybridView(view)?.origins ?? null
  if (mode === 'hybrid' && (previousOrigins === null || previousOrigins.join() !== assignment.origins.join())) {
    await calls.tell('relay_stages', { stageArns: assignment.origins })
  }
  const pending =
    started.length < plan.starts.length ||
    plan.deferred.length > 0 ||
    handedOver < plan.handovers.length ||
    stages.some((s) => feeds[s.arn] === undefined && hasSource(s.arn, assignment, observed)) ||
    // Hybrid: the relay is up but not yet in every origin (it was just told of a new one).
    (observed.relayLive.length > 0 && assignment.origins.some((o) => !observed.relayLive.includes(o)))
  return { summary: { started, stopped, pending }, nextAt: now + Math.max(spacingMs(ctx), pending ? settings.pendingIntervalMs : settings.intervalMs) }
}

/** Relay mode: replications left by an earlier mode are stopped; one whose stop failed stays in the view, asked again next round. IVS is not read otherwise. */
async function relayRound(ctx: RoundContext, view: FanoutRecord | null): Promise<RoundOutcome> {
  const { clock, settings, calls } = ctx
  if (view?.mode === 'relay' && view.replications.length === 0) return { summary: NOTHING, nextAt: clock.now() + settings.intervalMs }
  const stopped: PlannedStop[] = []
  const failed: Replication[] = []
  for (const r of view?.replications ?? []) {
    const stop: PlannedStop = { ...pick(r), reason: 'fanout-mode' }
    if (await calls.stop(stop)) stopped.push(stop)
    else failed.push(pick(r))
  }
  const now = clock.now()
  await writeView(ctx, { ...emptyView('relay'), replications: failed, updatedAt: now })
  const pending = failed.length > 0
  return { summary: { started: [], stopped, pending }, nextAt: now + (pending ? settings.pendingIntervalMs : settings.intervalMs) }
}
