import { describe, expect, test } from 'bun:test'
import { hasFreeSeat, pickStage, type SeatCandidate } from '../../src/store/fill-first'

/** A stage of 50 seats (the capacity travels on the stage). */
const stage = (arn: string, seq: number, viewerCount: number, status: SeatCandidate['status'] = 'active'): SeatCandidate => ({
  arn,
  seq,
  viewerCount,
  status,
  capacity: 50,
})

describe('pickStage (fill-first)', () => {
  const cases: { name: string; stages: SeatCandidate[]; exclude?: string[]; expected: string | null }[] = [
    { name: 'the master while it has room', stages: [stage('m', 0, 10), stage('a', 1, 0)], expected: 'm' },
    { name: 'lowest seq with room, whatever the list order', stages: [stage('b', 2, 0), stage('a', 1, 3), stage('m', 0, 50)], expected: 'a' },
    { name: 'skips full stages', stages: [stage('m', 0, 50), stage('a', 1, 50), stage('b', 2, 49)], expected: 'b' },
    { name: 'never a draining stage', stages: [stage('m', 0, 50), stage('a', 1, 0, 'draining'), stage('b', 2, 10)], expected: 'b' },
    { name: 'never an excluded stage', stages: [stage('m', 0, 1), stage('a', 1, 0)], exclude: ['m'], expected: 'a' },
    { name: 'null when all are full', stages: [stage('m', 0, 50), stage('a', 1, 50)], expected: null },
    { name: 'null when only draining stages have room', stages: [stage('m', 0, 50), stage('a', 1, 1, 'draining')], expected: null },
    { name: 'null with no stages', stages: [], expected: null },
    { name: 'over-full counts are treated as full', stages: [stage('m', 0, 51), stage('a', 1, 2)], expected: 'a' },
  ]
  for (const c of cases) {
    test(c.name, () => {
      expect(pickStage(c.stages, c.exclude)?.arn ?? null).toBe(c.expected)
    })
  }
})

describe('hasFreeSeat', () => {
  test('active and below capacity only', () => {
    expect(hasFreeSeat(stage('a', 1, 49))).toBe(true)
    expect(hasFreeSeat(stage('a', 1, 50))).toBe(false)
    expect(hasFreeSeat(stage('a', 1, 51))).toBe(false)
    expect(hasFreeSeat(stage('a', 1, 0, 'draining'))).toBe(false)
  })
})
