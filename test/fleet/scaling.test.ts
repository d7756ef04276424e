import { describe, expect, test } from 'bun:test'
import { planScaling, type ScalingPolicy, type StageLoad } from '../../src/fleet/scaling'

// The seed's numbers.
const CAPACITY = 50
const POLICY: ScalingPolicy = { scaleUpThreshold: 45, scaleDownThreshold: 5, maxStages: 20, stageWarmupMs: 300_000, drainGraceMs: 120_000 }
const NOW = 10_000_000
const OLD = NOW - 600_000 // past warm-up
const stage = (seq: number, viewerCount: number, extra: Partial<StageLoad> = {}): StageLoad => ({
  arn: `s${seq}`,
  seq,
  isMaster: seq === 0,
  status: 'active',
  viewerCount,
  createdAt: OLD,
  drainingSince: null,
  ...extra,
})

interface Case {
  name: string
  stages: StageLoad[]
  policy?: Partial<ScalingPolicy>
  expected: { create: boolean; drain: string[]; remove: string[] }
}
const none = { create: false, drain: [], remove: [] }

const cases: Case[] = [
  { name: 'quiet master alone: nothing', stages: [stage(0, 10)], expected: none },
  { name: 'master at 45, nothing else: create ahead', stages: [stage(0, 45)], expected: { create: true, drain: [], remove: [] } },
  { name: 'master at 44: not yet', stages: [stage(0, 44)], expected: none },
  { name: 'a stage at 45 while another has room: no new stage', stages: [stage(0, 45), stage(1, 30)], expected: none },
  { name: 'every active stage at or over 45: create', stages: [stage(0, 50), stage(1, 45)], expected: { create: true, drain: [], remove: [] } },
  { name: 'all full at MAX_STAGES: no create (requests get CAPACITY_EXHAUSTED)', stages: Array.from({ length: 20 }, (_, i) => stage(i, 50)), expected: none },
  {
    name: 'a draining stage does not count as room',
    stages: [stage(0, 46), stage(1, 2, { status: 'draining', drainingSince: NOW - 1000 })],
    expected: { create: true, drain: [], remove: [] },
  },
  {
    name: 'an empty draining stage is removed',
    stages: [stage(0, 10), stage(1, 0, { status: 'draining', drainingSince: NOW - 1000 })],
    expected: { create: false, drain: [], remove: ['s1'] },
  },
  {
    name: 'a draining stage past the grace period is removed even with viewers',
    stages: [stage(0, 10), stage(1, 3, { status: 'draining', drainingSince: NOW - 120_000 })],
    expected: { create: false, drain: [], remove: ['s1'] },
  },
  {
    name: 'a draining stage within grace and with viewers stays',
    stages: [stage(0, 10), stage(1, 3, { status: 'draining', drainingSince: NOW - 119_999 })],
    expected: none,
  },
  { name: 'a low stage past warm-up drains', stages: [stage(0, 20), stage(1, 5)], expected: { create: false, drain: ['s1'], remove: [] } },
  { name: 'a low stage inside warm-up does not drain', stages: [stage(0, 20), stage(1, 0, { createdAt: NOW - 299_999 })], expected: none },
  { name: 'the master never drains', stages: [stage(0, 0)], expected: none },
  { name: 'above the scale-down threshold: no drain', stages: [stage(0, 20), stage(1, 6)], expected: none },
  {
    name: 'the highest-seq candidate drains first, one per round',
    stages: [stage(0, 10), stage(1, 2), stage(2, 1)],
    expected: { create: false, drain: ['s2'], remove: [] },
  },
  { name: 'flapping guard: no drain when its viewers would push the rest to 45', stages: [stage(0, 42), stage(1, 3)], expected: none },
  {
    name: 'flapping guard: drain when the rest stays below 45 after absorbing',
    stages: [stage(0, 41), stage(1, 3)],
    expected: { create: false, drain: ['s1'], remove: [] },
  },
  { name: 'an empty stage that is the only headroom is kept, not drained', stages: [stage(0, 50), stage(1, 47), stage(2, 0)], expected: none },
  {
    name: 'removal frees a slot at MAX_STAGES for growth',
    policy: { maxStages: 2 },
    stages: [stage(0, 50), stage(1, 0, { status: 'draining', drainingSince: NOW })],
    expected: { create: true, drain: [], remove: ['s1'] },
  },
]

describe('planScaling (seed numbers: capacity 50, up at 45, down at ≤ 5, warm-up 5 min, max 20)', () => {
  for (const c of cases) {
    test(c.name, () => {
      expect(planScaling(c.stages, { ...POLICY, ...c.policy }, NOW)).toEqual(c.expected)
    })
  }

  test('hysteresis: walking a fleet by applying every plan, a drain never brings on a new stage while demand stands still', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const walk = walkFleet(seed, 400)
      // The walk must really exercise both directions, or the property below proves nothing.
      expect(walk.creates).toBeGreaterThan(0)
      expect(walk.drains).toBeGreaterThan(0)
      expect(walk.flaps).toEqual([])
      expect(walk.overCapacity).toBe(0)
    }
  })
})

/** A deterministic pseudo-random source (LCG), so a failing walk can be replayed. */
function lcg(seed: number): () => number {
  let x = seed >>> 0
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    return x / 2 ** 32
  }
}

/**
 * The fleet as the leader's loop leaves it, round after round: demand moves (viewers arrive
 * fill-first, leave at random), then the round's plan is applied — removed stages go, a drained
 * stage's viewers rejoin fill-first elsewhere, a created stage starts empty. A "flap" is a round
 * whose plan creates a stage right after a round that drained one, with no new viewers between.
 */
function walkFleet(seed: number, rounds: number) {
  const random = lcg(seed)
  let now = NOW
  let nextSeq = 1
  let fleet: StageLoad[] = [stage(0, 0, { createdAt: now })]
  const seat = (viewers: number) => {
    for (let i = 0; i < viewers; i++) {
      const target = fleet.filter((s) => s.status === 'active' && s.viewerCount < CAPACITY).sort((a, b) => a.seq - b.seq)[0]
      if (target) target.viewerCount++
    }
  }
  const unseat = (viewers: number) => {
    for (let i = 0; i < viewers; i++) {
      const seated = fleet.filter((s) => s.viewerCount > 0)
      const total = seated.reduce((sum, s) => sum + s.viewerCount, 0)
      let pick = Math.floor(random() * total)
      for (const s of seated) {
        if (pick < s.viewerCount) {
          s.viewerCount--
          break
        }
        pick -= s.viewerCount
      }
    }
  }
  let creates = 0
  let drains = 0
  let overCapacity = 0
  let drainedLastRound = false
  const flaps: number[] = []
  for (let round = 0; round < rounds; round++) {
    // Demand rises and falls in slow waves (an audience arriving and leaving), with noise.
    const demand = fleet.reduce((sum, s) => sum + s.viewerCount, 0)
    const wanted = Math.round(110 + 100 * Math.sin(round / 25)) + Math.floor(random() * 9) - 4
    const step = Math.max(-8, Math.min(8, wanted - demand))
    // Right after a drain nobody new arrives: any new stage would be the drain's doing.
    if (step > 0 && !drainedLastRound) seat(step)
    if (step < 0) unseat(Math.min(-step, demand))
    const plan = planScaling(fleet, POLICY, now)
    if (plan.create && drainedLastRound) flaps.push(round)
    fleet = fleet.filter((s) => !plan.remove.includes(s.arn))
    for (const arn of plan.drain) {
      const drained = fleet.find((s) => s.arn === arn)!
      drained.status = 'draining'
      drained.drainingSince = now
      const rejoining = drained.viewerCount
      drained.viewerCount = 0
      seat(rejoining)
      drains++
    }
    if (plan.create) {
      fleet.push(stage(nextSeq++, 0, { createdAt: now }))
      creates++
    }
    drainedLastRound = plan.drain.length > 0
    overCapacity += fleet.filter((s) => s.viewerCount > CAPACITY).length
    now += 60_000
  }
  return { creates, drains, flaps, overCapacity }
}
