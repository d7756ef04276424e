import { describe, expect, test } from 'bun:test'
import { computeStats, fanoutView, StatsReader } from '../../src/fleet/stats'
import { MemoryStore } from '../../src/store/memory'
import type { RelayRecord, StageRecord } from '../../src/store/types'
import { ManualClock } from '../support/clock'

const T0 = Date.UTC(2026, 10, 23, 12)
const arn = (seq: number) => `arn:aws:ivs:us-east-1:000000000000:stage/Stage${String(seq).padStart(7, '0')}`
const record = (seq: number): StageRecord => ({
  arn: arn(seq),
  name: `s-${seq}`,
  isMaster: seq === 0,
  status: 'active',
  seq,
  createdAt: T0,
  drainingSince: null,
  tags: {},
  endpoints: { whip: 'https://whip.example', events: 'wss://events.example' },
})
const relay = (serverId: string, stageArns: string[], offlineSince: number | null = null): RelayRecord => ({
  serverId,
  ipAddress: '127.0.0.1',
  port: 3001,
  registeredAt: T0,
  publisherActive: true,
  connectedStages: stageArns.length,
  stageArns,
  lastHeartbeatAt: T0,
  offlineSince,
})
const limits = { maxStages: 20, maxSubscriptions: 20_000 }

describe("/api/stats: the mode and each stage's feed", () => {
  test('relay mode: the stages an online relay reports publishing into are fed by the relay; an offline relay counts for nothing', () => {
    const view = fanoutView('relay', [relay('r1', [arn(0), arn(1)]), relay('r2', [arn(2)], T0)], null)
    expect(view).toEqual({ mode: 'relay', feeds: { [arn(0)]: { kind: 'relay' }, [arn(1)]: { kind: 'relay' } }, replications: 0 })
  })

  test("replicate and hybrid: the leader's view, when it is of this mode (another mode's view says nothing)", () => {
    const record = {
      mode: 'replicate' as const,
      origins: [arn(0)],
      originOf: { [arn(1)]: arn(0) },
      feeds: { [arn(0)]: { kind: 'direct' as const }, [arn(1)]: { kind: 'replica' as const, originStageArn: arn(0) } },
      replications: [{ sourceStageArn: arn(0), destinationStageArn: arn(1), participantId: 'p' }],
      updatedAt: T0,
    }
    expect(fanoutView('replicate', [], record)).toEqual({ mode: 'replicate', feeds: record.feeds, replications: 1 })
    expect(fanoutView('hybrid', [], record)).toEqual({ mode: 'hybrid', feeds: {}, replications: 0 })
    expect(fanoutView('hybrid', [], null)).toEqual({ mode: 'hybrid', feeds: {}, replications: 0 })
  })

  test('every stage says its feed (null: none) and the stats say the mode', async () => {
    const store = new MemoryStore()
    for (const i of [0, 1, 2]) await store.addStage(record(i), 10)
    await store.putRelay(relay('r1', [arn(0), arn(2)]))
    const stats = await new StatsReader({ store, clock: new ManualClock(T0) }, limits).read()
    expect([stats.fanoutMode, stats.activeReplications]).toEqual(['relay', 0])
    expect(stats.stages.map((s) => s.feed)).toEqual([{ kind: 'relay' }, null, { kind: 'relay' }])
    await store.fanout.put({
      mode: 'hybrid',
      origins: [arn(0)],
      originOf: { [arn(1)]: arn(0), [arn(2)]: arn(0) },
      feeds: { [arn(0)]: { kind: 'relay' }, [arn(1)]: { kind: 'replica', originStageArn: arn(0) } },
      replications: [{ sourceStageArn: arn(0), destinationStageArn: arn(1), participantId: 'relay-p' }],
      updatedAt: T0,
    })
    const hybrid = await new StatsReader({ store, clock: new ManualClock(T0) }, limits, 'hybrid').read()
    expect([hybrid.fanoutMode, hybrid.activeReplications]).toEqual(['hybrid', 1])
    expect(hybrid.stages.map((s) => s.feed)).toEqual([{ kind: 'relay' }, { kind: 'replica', originStageArn: arn(0) }, null])
    // Without a view every stage says none.
    expect(computeStats(await store.listStages(), await store.getPublisherState(), limits).stages.every((s) => s.feed === null)).toBe(true)
  })
})
