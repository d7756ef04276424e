import type { StageRecord } from '../../src/store/types'

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** A stage record for seating viewers straight into a store. */
export function benchStageRecord(seq: number): StageRecord {
  return {
    arn: `arn:aws:ivs:us-east-1:000000000000:stage/bench${String(seq).padStart(7, '0')}`,
    name: `bench-${seq}`,
    isMaster: seq === 0,
    status: 'active',
    seq,
    createdAt: Date.now(),
    drainingSince: null,
    tags: { 'ivs-fanout:fleet': 'bench' },
    endpoints: { whip: 'https://whip.example', events: 'wss://events.example' },
  }
}
