export interface SeatCandidate {
  arn: string
  seq: number
  status: 'active' | 'draining'
  viewerCount: number
}

/**
 * Fill-first: the lowest-seq active stage with a free seat. Packing viewers onto the
 * first stages keeps the tail stages emptying out so they can be drained.
 */
export function pickStage<T extends SeatCandidate>(stages: readonly T[], capacity: number, exclude: readonly string[] = []): T | null {
  let best: T | null = null
  for (const stage of stages) {
    if (stage.status !== 'active' || stage.viewerCount >= capacity || exclude.includes(stage.arn)) continue
    if (best === null || stage.seq < best.seq) best = stage
  }
  return best
}
