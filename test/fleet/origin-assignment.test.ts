import { describe, expect, test } from 'bun:test'
import { assignOrigins, type FanoutStage, type OriginAssignment, originsNeeded, replicateFromMaster } from '../../src/fleet/origin-assignment'

const arn = (seq: number) => `arn:aws:ivs:us-east-1:000000000000:stage/Stage${String(seq).padStart(7, '0')}`
const stage = (seq: number, status: FanoutStage['status'] = 'active'): FanoutStage => ({ arn: arn(seq), seq, isMaster: seq === 0, status })
const fleet = (n: number) => Array.from({ length: n }, (_, i) => stage(i))

/** What every assignment must hold, whatever the history. */
function checkShape(stages: readonly FanoutStage[], a: OriginAssignment) {
  const arns = stages.map((s) => s.arn)
  expect(a.origins).toContain(arn(0))
  // Every stage is an origin or fed by exactly one origin; no origin is fed.
  for (const s of arns) expect(a.origins.includes(s) !== (a.originOf[s] !== undefined)).toBe(true)
  for (const [dest, origin] of Object.entries(a.originOf)) {
    expect(arns).toContain(dest)
    expect(a.origins).toContain(origin)
    // Only an active origin takes stages.
    expect(stages.find((s) => s.arn === origin)!.status).toBe('active')
  }
  // 5 per participant.
  for (const origin of a.origins) expect(Object.values(a.originOf).filter((o) => o === origin).length).toBeLessThanOrEqual(5)
}

/** Stages that had an origin before and have one now kept it (unless it went away). */
function unchangedFeeds(before: OriginAssignment, after: OriginAssignment, present: readonly string[]) {
  for (const [dest, origin] of Object.entries(before.originOf)) {
    if (!present.includes(dest) || !present.includes(origin)) continue
    expect(after.originOf[dest]).toBe(origin)
  }
  for (const origin of before.origins) if (present.includes(origin) && Object.values(after.originOf).includes(origin)) expect(after.origins).toContain(origin)
}

describe('hybrid origin assignment', () => {
  test('the master alone is the one origin', () => {
    expect(assignOrigins([stage(0)], null)).toEqual({ origins: [arn(0)], originOf: {} })
  })

  test('growing one stage at a time: ⌈N/6⌉ origins, at most 5 stages each, and no stage ever changes its feed', () => {
    let previous: OriginAssignment | null = null
    for (let n = 1; n <= 40; n++) {
      const stages = fleet(n)
      const next = assignOrigins(stages, previous)
      checkShape(stages, next)
      expect(next.origins.length).toBe(originsNeeded(n))
      if (previous) {
        unchangedFeeds(
          previous,
          next,
          stages.map((s) => s.arn),
        )
        // Old origins stay origins.
        for (const o of previous.origins) expect(next.origins).toContain(o)
      }
      previous = next
    }
    // The 7th stage is the second origin, the 13th the third: each new origin comes when the others are full.
    expect(previous!.origins.slice(0, 3)).toEqual([arn(0), arn(6), arn(12)])
  })

  test('shrinking newest first (scale-down drains the highest seq): ⌈N/6⌉ origins all along and no feed changes', () => {
    let previous = assignOrigins(fleet(24), null)
    for (let n = 23; n >= 1; n--) {
      const stages = fleet(n)
      const next = assignOrigins(stages, previous)
      checkShape(stages, next)
      expect(next.origins.length).toBe(originsNeeded(n))
      unchangedFeeds(
        previous,
        next,
        stages.map((s) => s.arn),
      )
      previous = next
    }
  })

  test('a draining origin gives its stages up: they are re-attached at once (the first orphan becomes an origin when none has room)', () => {
    const twelve = fleet(12)
    const before = assignOrigins(twelve, null)
    expect(before.origins).toEqual([arn(0), arn(6)])
    const draining = twelve.map((s) => (s.seq === 6 ? stage(6, 'draining') : s))
    const after = assignOrigins(draining, before)
    checkShape(draining, after)
    // The master keeps its five; the drained origin's five move to a new origin (stage 7) that takes the other four.
    for (let i = 1; i <= 5; i++) expect(after.originOf[arn(i)]).toBe(arn(0))
    expect(after.origins).toEqual([arn(0), arn(6), arn(7)])
    for (let i = 8; i <= 11; i++) expect(after.originOf[arn(i)]).toBe(arn(7))
    // Once it is deleted, nothing moves again.
    const gone = draining.filter((s) => s.seq !== 6)
    const later = assignOrigins(gone, after)
    expect(later).toEqual({ origins: [arn(0), arn(7)], originOf: after.originOf })
  })

  test("a drained origin's stages join origins with room before any new origin is made", () => {
    // Master with 2 stages, origin 3 with 2 (stages deleted out of order): origin 3 drains.
    const stages = [0, 1, 2, 3, 4, 5].map((i) => stage(i))
    const before: OriginAssignment = { origins: [arn(0), arn(3)], originOf: { [arn(1)]: arn(0), [arn(2)]: arn(0), [arn(4)]: arn(3), [arn(5)]: arn(3) } }
    const draining = stages.map((s) => (s.seq === 3 ? stage(3, 'draining') : s))
    const after = assignOrigins(draining, before)
    checkShape(draining, after)
    expect(after.origins).toEqual([arn(0), arn(3)])
    expect(after.originOf).toEqual({ [arn(1)]: arn(0), [arn(2)]: arn(0), [arn(4)]: arn(0), [arn(5)]: arn(0) })
  })

  test('a draining destination keeps its origin until it is deleted', () => {
    const before = assignOrigins(fleet(4), null)
    const stages = fleet(4).map((s) => (s.seq === 2 ? stage(2, 'draining') : s))
    expect(assignOrigins(stages, before)).toEqual(before)
  })

  test('an origin that feeds nothing beyond the ⌈N/6⌉ needed becomes a replica (only its own feed changes)', () => {
    // Stages 1-5 and 7-11 were deleted out of order: the master and origin 6 feed nothing besides stage 12.
    const stages = [0, 6, 12].map((i) => stage(i))
    const before: OriginAssignment = { origins: [arn(0), arn(6)], originOf: { [arn(12)]: arn(6) } }
    const after = assignOrigins(stages, before)
    checkShape(stages, after)
    // Origin 6 still feeds stage 12: it stays (its stage's feed would change otherwise).
    expect(after).toEqual(before)
    // Without stage 12, origin 6 is surplus: it becomes the master's replica.
    const two = [stage(0), stage(6)]
    expect(assignOrigins(two, before)).toEqual({ origins: [arn(0)], originOf: { [arn(6)]: arn(0) } })
  })

  test('a fleet that was all relay-fed (FANOUT_MODE changed to hybrid) folds down to ⌈N/6⌉ origins', () => {
    const stages = fleet(12)
    const allOrigins: OriginAssignment = { origins: stages.map((s) => s.arn), originOf: {} }
    const after = assignOrigins(stages, allOrigins)
    checkShape(stages, after)
    expect(after.origins.length).toBe(2)
    expect(after.origins[0]).toBe(arn(0))
    // And stays so.
    expect(assignOrigins(stages, after)).toEqual(after)
  })

  test('an assignment naming stages that are gone, or origins that are not origins any more, is read safely', () => {
    const stages = fleet(3)
    const stale: OriginAssignment = { origins: [arn(0), arn(99)], originOf: { [arn(1)]: arn(42), [arn(2)]: arn(0), [arn(98)]: arn(0) } }
    const after = assignOrigins(stages, stale)
    checkShape(stages, after)
    expect(after).toEqual({ origins: [arn(0)], originOf: { [arn(1)]: arn(0), [arn(2)]: arn(0) } })
  })
})

describe('replicate mode: the master feeds the rest', () => {
  test('every other stage, at most 5 (the fleet is capped at 6; an adopted larger one keeps its lowest seqs fed)', () => {
    expect(replicateFromMaster(fleet(3))).toEqual({ origins: [arn(0)], originOf: { [arn(1)]: arn(0), [arn(2)]: arn(0) } })
    const eight = replicateFromMaster(fleet(8))
    expect(Object.keys(eight.originOf)).toEqual([1, 2, 3, 4, 5].map(arn))
    expect(replicateFromMaster([stage(1)])).toEqual({ origins: [], originOf: {} })
  })
})
