import { MemoryStore } from '../../src/store/memory'
import { serveCalls } from './child'
import { benchStageRecord } from './common'

export interface PresenceJob {
  viewers: number
  stages: number
  rounds: number
  /** Per sweepViewers call, as FleetService.sweepSilentViewers. */
  sweepBatch: number
}

export interface PresenceResult {
  baselineRss: number
  seatedRss: number
  baselineHeap: number
  seatedHeap: number
  seatMs: number
  /** Sweeps that removed every viewer, and sweeps that found nothing, in ms. */
  fullSweepMs: number[]
  emptySweepMs: number[]
}

/**
 * Runs in a fresh process so RSS is this store's alone: an empty MemoryStore with its stages, then
 * `viewers` seated through assignViewer, RSS read after a full GC each time; then sweeps timed.
 */
serveCalls(async ({ viewers, stages, rounds, sweepBatch }: PresenceJob): Promise<PresenceResult> => {
  const capacity = Math.ceil(viewers / stages)
  const store = new MemoryStore({ stageCapacity: capacity })
  for (let seq = 0; seq < stages; seq++) await store.addStage(benchStageRecord(seq), stages)
  const memory = () => {
    Bun.gc(true)
    const { rss, heapUsed } = process.memoryUsage()
    return { rss, heap: heapUsed }
  }
  const base = memory()

  const seat = async (now: number) => {
    for (let i = 0; i < viewers; i++) {
      const userId = `viewer-${i}`
      const r = await store.assignViewer({ userId, participantId: `p-${userId}-${now}`, now })
      if (!r.ok) throw new Error(`assignViewer ${userId}: no seat`)
    }
  }
  /** Sweeps the way the fleet loop does: batches until one comes back short. */
  const sweep = async (silentSince: number, now: number) => {
    let removed = 0
    const started = performance.now()
    for (;;) {
      const swept = await store.sweepViewers(silentSince, now, sweepBatch)
      removed += swept.length
      if (swept.length < sweepBatch) break
    }
    return { ms: performance.now() - started, removed }
  }

  let now = Date.now()
  const seatStarted = performance.now()
  await seat(now)
  const seatMs = performance.now() - seatStarted
  const seated = memory()
  if ((await store.listStages()).reduce((n, s) => n + s.viewerCount, 0) !== viewers) throw new Error('not every viewer is seated')

  const fullSweepMs: number[] = []
  const emptySweepMs: number[] = []
  for (let round = 0; round < rounds; round++) {
    if (round > 0) await seat((now += 1_000))
    // Nobody is silent since before `now`: a steady-state sweep that finds nothing.
    const empty = await sweep(now, now + 1)
    if (empty.removed !== 0) throw new Error(`empty sweep removed ${empty.removed}`)
    emptySweepMs.push(empty.ms)
    // silentSince in the future: every viewer goes.
    const full = await sweep(now + 60_000, now + 1)
    if (full.removed !== viewers) throw new Error(`full sweep removed ${full.removed} of ${viewers}`)
    fullSweepMs.push(full.ms)
  }
  return { baselineRss: base.rss, seatedRss: seated.rss, baselineHeap: base.heap, seatedHeap: seated.heap, seatMs, fullSweepMs, emptySweepMs }
})
