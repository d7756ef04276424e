/**
 * The seating rule every Store keeps (DESIGN §7): fill-first. A new viewer goes to the lowest-seq
 * active stage with a free seat, so viewers pack onto the first stages and the tail ones empty out
 * and can be drained. The memory store calls these functions; the Lua `assignViewer` script
 * (store/lua.ts) is their mirror for Redis, and the shared store contract suite pins both.
 */

import type { StageStatus } from './types'

export interface SeatCandidate {
  arn: string
  seq: number
  status: StageStatus
  viewerCount: number
  capacity: number
}

/** Whether the stage takes a new viewer: active (not draining) and below its capacity. */
export function hasFreeSeat(stage: SeatCandidate): boolean {
  return stage.status === 'active' && stage.viewerCount < stage.capacity
}

/** The lowest-seq stage with a free seat that is not excluded, or null when there is none. */
export function pickStage<T extends SeatCandidate>(stages: readonly T[], exclude: readonly string[] = []): T | null {
  let best: T | null = null
  for (const stage of stages) {
    if (!hasFreeSeat(stage) || exclude.includes(stage.arn)) continue
    if (best === null || stage.seq < best.seq) best = stage
  }
  return best
}
