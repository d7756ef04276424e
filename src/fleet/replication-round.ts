/**
 * One replication round (FANOUT_MODE replicate and hybrid; relay mode's clean-up): read the stages,
 * the view and IVS, plan, start and stop, write the view. Its caller holds the fan-out lock
 * (replication.ts), so the view read here is the one written last, by whichever instance.
 */
import type { Clock } from '../clock'
import type { Logger } from '../log'
import type { Counters } from '../metrics/counters'
import type { FanoutRecord } from '../store/fanout'
import type { StageView, Store } from '../store/types'
import { assignOrigins, type OriginAssignment, replicateFromMaster } from './origin-assignment'
import type { ReplicationCalls } from './replication-calls'
import { observeFanout } from './replication-observe'
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

export async function runRound(ctx: RoundContext, input: RoundInput): Promise<RoundOutcome> {
  const { mode, store, clock, calls, settings } = ctx
  if (mode === 'relay') return relayRound(ctx, await store.fanout.get())
  const [listed, view, publisher] = await Promise.all([store.listStages(), store.fanout.get(), store.getPublisherState()])
  const stages = listed.map((s) => (s.arn === input.leaving ? { ...s, status: 'draining' as const } : s))
  const hint = mode === 'hybrid' ? await hybridHint(store, stages, view) : null
  let assignment: OriginAssignment = mode === 'replicate' ? replicateFromMaster(stages) : assignOrigins(stages, hint)
  const observed = await observeFanout(calls.reads(), {
    mode,
    origins: assignment.origins,
    known: view?.replications ?? [],
    feedingServerId: publisher.serverId,
    thorough: input.thorough || view === null,
  })
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
  // replication_stopped for those IVS ended by itself (the source gone past its reconnect window) since the last round.
  for (const r of endedSince(view, observed, active, stopped, stages)) {
    ctx.counters.add('ReplicationStops', 1, { reason: 'ended' })
    await calls.tell('replication_stopped', { ...pick(r), reason: 'ended' })
  }

  const now = clock.now()
  const feeds = feedsOf(mode, stages, assignment, observed, active)
  await writeView(ctx, { mode, ...assignment, feeds, replications: active, updatedAt: now })
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
  const spacing = (calls.busiest() / settings.operationsPerSecond) * 1000
  return { summary: { started, stopped, pending }, nextAt: now + Math.max(spacing, pending ? settings.pendingIntervalMs : settings.intervalMs) }
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
