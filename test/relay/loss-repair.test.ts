import { describe, expect, test } from 'bun:test'
import { DEFAULT_REPAIR_POLICY, SequenceTracker } from '../../relay/ingest/loss-repair'

const collect = (tracker: SequenceTracker, now: number, max?: number) => {
  const list: number[] = []
  const gaveUp = tracker.collect(now, list, max)
  return { list, gaveUp }
}

describe('ingest loss tracking (NACK scheduling)', () => {
  test('a gap is NACKed after the reorder wait, the repair is counted and its delay measured', () => {
    const t = new SequenceTracker()
    expect(t.receive(100, 0)).toBe('next')
    expect(t.receive(103, 1)).toBe('next')
    expect(t.counts).toMatchObject({ gaps: 1, missing: 2 })
    expect(collect(t, 2).list).toEqual([]) // within the reorder wait
    expect(collect(t, 1 + DEFAULT_REPAIR_POLICY.reorderMs).list).toEqual([101, 102])
    expect(t.receive(101, 40)).toBe('repaired')
    expect(t.receive(101, 41)).toBe('duplicate')
    expect(t.repairDelay).toBe(40 - (1 + DEFAULT_REPAIR_POLICY.reorderMs))
    expect(t.counts).toMatchObject({ received: 3, nacked: 2, repaired: 1, duplicates: 1 })
    expect(t.outstanding).toBe(1)
  })

  test('a packet merely out of order is not NACKed', () => {
    const t = new SequenceTracker()
    t.receive(10, 0)
    t.receive(12, 0)
    expect(t.receive(11, 2)).toBe('repaired')
    expect(collect(t, 100).list).toEqual([])
    expect(t.counts.nacked).toBe(0)
  })

  test('NACKs are repeated at the retry interval and given up after the budget, cleanly', () => {
    const t = new SequenceTracker({ ...DEFAULT_REPAIR_POLICY, maxNacks: 3, initialRetryMs: 50 })
    t.receive(1, 0)
    t.receive(3, 0)
    const asked: number[] = []
    let gaveUp = 0
    for (let now = 0; now <= 1_000; now += 10) {
      const r = collect(t, now)
      if (r.list.length) asked.push(now)
      gaveUp += r.gaveUp
    }
    expect(asked).toEqual([10, 60, 110])
    expect(gaveUp).toBe(1)
    expect(t.counts).toMatchObject({ nacked: 3, unrepaired: 1, repaired: 0 })
    expect(t.outstanding).toBe(0)
    // It arrives after all: late, forwarded, not counted as a repair or a duplicate.
    expect(t.receive(2, 1_100)).toBe('late')
    expect(t.counts).toMatchObject({ late: 1, repaired: 0, duplicates: 0 })
  })

  test('a packet still missing after giveUpMs is given up even with NACKs left', () => {
    const t = new SequenceTracker({ ...DEFAULT_REPAIR_POLICY, giveUpMs: 200, maxNacks: 100, minRetryMs: 10, initialRetryMs: 10 })
    t.receive(1, 0)
    t.receive(3, 0)
    let gaveUpAt = -1
    for (let now = 0; now <= 500 && gaveUpAt < 0; now += 10) if (collect(t, now).gaveUp) gaveUpAt = now
    expect(gaveUpAt).toBe(200)
  })

  test('sequence numbers wrap without a false gap; a huge jump is a new start, not 30,000 NACKs', () => {
    const t = new SequenceTracker()
    for (const seq of [65534, 65535, 0, 1]) expect(t.receive(seq, 0)).toBe('next')
    expect(t.counts.gaps).toBe(0)
    expect(t.receive(30_000, 0)).toBe('reset')
    expect(t.outstanding).toBe(0)
    expect(t.receive(30_001, 0)).toBe('next')
  })

  test('the missing set is bounded: the oldest are given up first', () => {
    const t = new SequenceTracker({ ...DEFAULT_REPAIR_POLICY, maxMissing: 100 })
    t.receive(0, 0)
    t.receive(1_001, 0)
    expect(t.outstanding).toBe(100)
    expect(t.counts.unrepaired).toBe(900)
    expect(collect(t, 10, 1_000).list[0]).toBe(901)
  })

  test('NACKs per call are capped; the rest go on the next tick', () => {
    const t = new SequenceTracker()
    t.receive(0, 0)
    t.receive(601, 0)
    expect(collect(t, 10, 256).list.length).toBe(256)
    expect(collect(t, 10, 256).list.length).toBe(256)
    expect(collect(t, 10, 256).list.length).toBe(88)
  })

  test('reception reports: fraction lost per interval, cumulative lost brought back down by repairs', () => {
    const t = new SequenceTracker()
    for (let seq = 0; seq < 100; seq++) if (seq % 10 !== 5) t.receive(seq, 0)
    const first = t.receptionReport()
    expect(first.fractionLost).toBeCloseTo(0.1, 5)
    expect(first.cumulativeLost).toBe(10)
    for (let seq = 5; seq < 100; seq += 10) t.receive(seq, 1)
    for (let seq = 100; seq < 200; seq++) t.receive(seq, 2)
    const second = t.receptionReport()
    expect(second.fractionLost).toBe(0)
    expect(second.cumulativeLost).toBe(0)
    expect(second.highestSeq).toBe(199)
  })

  test('a new stream (startOver) drops what the old one still missed', () => {
    const t = new SequenceTracker()
    t.receive(10, 0)
    t.receive(15, 0)
    t.startOver()
    expect(t.counts.unrepaired).toBe(4)
    expect(t.receive(40_000, 0)).toBe('next')
    expect(t.outstanding).toBe(0)
  })
})
