import { describe, expect, test } from 'bun:test'
import type { OriginAssignment } from '../../src/fleet/origin-assignment'
import { planReplications, type Replication, type ReplicationPlanInput, replicationKey } from '../../src/fleet/replication-plan'

const M = 'arn:aws:ivs:us-east-1:000000000000:stage/Master000000'
const A = 'arn:aws:ivs:us-east-1:000000000000:stage/StageAAAAAAA'
const B = 'arn:aws:ivs:us-east-1:000000000000:stage/StageBBBBBBB'
const C = 'arn:aws:ivs:us-east-1:000000000000:stage/StageCCCCCCC'
const O = 'arn:aws:ivs:us-east-1:000000000000:stage/OriginOOOOOO'
const GONE = 'arn:aws:ivs:us-east-1:000000000000:stage/Gone00000000'

const rep = (sourceStageArn: string, participantId: string, destinationStageArn: string): Replication => ({
  sourceStageArn,
  destinationStageArn,
  participantId,
})
const fromMaster = (...dests: string[]): OriginAssignment => ({ origins: [M], originOf: Object.fromEntries(dests.map((d) => [d, M])) })

function plan(input: Partial<ReplicationPlanInput> & Pick<ReplicationPlanInput, 'assignment'>) {
  return planReplications({ mode: 'replicate', stageArns: [M, A, B, C, O], sources: {}, relayLive: [], running: [], ...input })
}

describe('replication plan: replicate mode', () => {
  test('starts what is missing, nothing when all runs (a second round asks IVS for nothing)', () => {
    const assignment = fromMaster(A, B)
    const first = plan({ assignment, sources: { [M]: ['P1'] } })
    expect(first.starts).toEqual([rep(M, 'P1', A), rep(M, 'P1', B)])
    expect([first.stops, first.handovers, first.capped]).toEqual([[], [], []])
    const second = plan({ assignment, sources: { [M]: ['P1'] }, running: first.starts })
    expect(second).toEqual({ stops: [], starts: [], handovers: [], capped: [], deferred: [] })
  })

  test('every live publisher of the master is replicated, each into every stage', () => {
    const p = plan({ assignment: fromMaster(A, B), sources: { [M]: ['P1', 'P2'] } })
    expect(p.starts.map(replicationKey).sort()).toEqual([rep(M, 'P1', A), rep(M, 'P1', B), rep(M, 'P2', A), rep(M, 'P2', B)].map(replicationKey).sort())
  })

  test('the broadcaster back as a new participant: the new one is started, the old replica stopped only once its replacement started', () => {
    const p = plan({ assignment: fromMaster(A, B), sources: { [M]: ['P2'] }, running: [rep(M, 'P1', A), rep(M, 'P1', B)] })
    expect(p.stops).toEqual([])
    expect(p.starts).toEqual([rep(M, 'P2', A), rep(M, 'P2', B)])
    expect(p.handovers).toEqual([
      { ...rep(M, 'P1', A), reason: 'superseded', after: rep(M, 'P2', A) },
      { ...rep(M, 'P1', B), reason: 'superseded', after: rep(M, 'P2', B) },
    ])
  })

  test('a broadcaster gone for a moment (no live publisher): its replicas stay for IVS reconnect window, nothing is asked', () => {
    const p = plan({ assignment: fromMaster(A, B), sources: { [M]: [] }, running: [rep(M, 'P1', A), rep(M, 'P1', B)] })
    expect(p).toEqual({ stops: [], starts: [], handovers: [], capped: [], deferred: [] })
  })

  test('an old replica beside a running wanted one is stopped at once: a stage never keeps two feeds past a handover', () => {
    const p = plan({ assignment: fromMaster(A), sources: { [M]: ['P2'] }, running: [rep(M, 'P1', A), rep(M, 'P2', A)] })
    expect(p.stops).toEqual([{ ...rep(M, 'P1', A), reason: 'superseded' }])
    expect([p.starts, p.handovers]).toEqual([[], []])
  })

  test('never more than 5 per participant: the ones kept running count, the rest is capped (not asked for)', () => {
    const six = { origins: [M], originOf: Object.fromEntries(['d1', 'd2', 'd3', 'd4', 'd5', 'd6'].map((d) => [d, M])) }
    const stageArns = [M, 'd1', 'd2', 'd3', 'd4', 'd5', 'd6']
    const fresh = plan({ assignment: six, stageArns, sources: { [M]: ['P1'] } })
    expect(fresh.starts.length).toBe(5)
    expect(fresh.capped).toEqual([rep(M, 'P1', 'd6')])
    const some = plan({ assignment: six, stageArns, sources: { [M]: ['P1'] }, running: [rep(M, 'P1', 'd1'), rep(M, 'P1', 'd2'), rep(M, 'P1', 'd3')] })
    expect(some.starts).toEqual([rep(M, 'P1', 'd4'), rep(M, 'P1', 'd5')])
    expect(some.capped).toEqual([rep(M, 'P1', 'd6')])
    // A stop that comes first frees its slot for a start in the same round.
    const five = { origins: [M], originOf: Object.fromEntries(['d1', 'd2', 'd3', 'd4', 'd5'].map((d) => [d, M])) }
    const freed = plan({ assignment: five, stageArns: stageArns.filter((s) => s !== 'd6'), sources: { [M]: ['P1'] }, running: [rep(M, 'P1', 'd6')] })
    expect(freed.stops).toEqual([{ ...rep(M, 'P1', 'd6'), reason: 'stage-gone' }])
    expect([freed.starts.length, freed.capped.length]).toEqual([5, 0])
  })

  test('replications into a stage the fleet no longer has are stopped first', () => {
    const p = plan({ assignment: fromMaster(A), sources: { [M]: ['P1'] }, running: [rep(M, 'P1', A), rep(M, 'P1', GONE)] })
    expect(p.stops).toEqual([{ ...rep(M, 'P1', GONE), reason: 'stage-gone' }])
  })

  test('a replication IVS refused a moment ago is deferred, not asked again', () => {
    const holdOff = new Set([replicationKey(rep(M, 'P1', A))])
    const p = plan({ assignment: fromMaster(A, B), sources: { [M]: ['P1'] }, holdOff })
    expect(p.starts).toEqual([rep(M, 'P1', B)])
    expect(p.deferred).toEqual([rep(M, 'P1', A)])
  })

  test('a stage another instance just made (settling) is left to it: its replica deferred, the others started', () => {
    const p = plan({ assignment: fromMaster(A, B), sources: { [M]: ['P1'] }, settling: new Set([B]) })
    expect(p.starts).toEqual([rep(M, 'P1', A)])
    expect(p.deferred).toEqual([rep(M, 'P1', B)])
  })
})

describe('replication plan: hybrid mode', () => {
  const base = { mode: 'hybrid' as const }

  test("each stage gets its origin's relay participant", () => {
    const assignment = { origins: [M, O], originOf: { [A]: M, [B]: O } }
    const p = plan({ ...base, assignment, sources: { [M]: ['relayM'], [O]: ['relayO'] }, relayLive: [M, O] })
    expect(p.starts).toEqual([rep(M, 'relayM', A), rep(O, 'relayO', B)])
  })

  test('a stage moved to another origin (its origin drained): the new replica first, the old one stopped after it', () => {
    const assignment = { origins: [M, O], originOf: { [A]: M } }
    const p = plan({ ...base, assignment, sources: { [M]: ['relayM'], [O]: ['relayO'] }, running: [rep(O, 'relayO', A)] })
    expect(p.stops).toEqual([])
    expect(p.starts).toEqual([rep(M, 'relayM', A)])
    expect(p.handovers).toEqual([{ ...rep(O, 'relayO', A), reason: 'reassigned', after: rep(M, 'relayM', A) }])
    // The new one refused (held off): the stage keeps the old one, no handover.
    const held = plan({
      ...base,
      assignment,
      sources: { [M]: ['relayM'] },
      running: [rep(O, 'relayO', A)],
      holdOff: new Set([replicationKey(rep(M, 'relayM', A))]),
    })
    expect([held.stops, held.starts, held.handovers]).toEqual([[], [], []])
    // Its new origin has no relay participant yet: the old one stays too.
    const noSource = plan({ ...base, assignment, sources: { [M]: [] }, running: [rep(O, 'relayO', A)] })
    expect([noSource.stops, noSource.starts, noSource.handovers]).toEqual([[], [], []])
  })

  test('a stage that became an origin keeps its replica until the relay publishes there', () => {
    const assignment = { origins: [M, A], originOf: {} }
    const waiting = plan({ ...base, assignment, sources: { [M]: ['relayM'], [A]: [] }, relayLive: [M], running: [rep(O, 'relayO', A)] })
    expect([waiting.stops, waiting.handovers]).toEqual([[], []])
    const there = plan({ ...base, assignment, sources: { [M]: ['relayM'], [A]: ['relayA'] }, relayLive: [M, A], running: [rep(O, 'relayO', A)] })
    expect(there.stops).toEqual([{ ...rep(O, 'relayO', A), reason: 'reassigned' }])
  })

  test('the relay back as a new participant in an origin: a handover to it (superseded)', () => {
    const assignment = { origins: [M], originOf: { [A]: M } }
    const p = plan({ ...base, assignment, sources: { [M]: ['relayM2'] }, running: [rep(M, 'relayM1', A)] })
    expect(p.starts).toEqual([rep(M, 'relayM2', A)])
    expect(p.handovers).toEqual([{ ...rep(M, 'relayM1', A), reason: 'superseded', after: rep(M, 'relayM2', A) }])
  })
})

describe('replication plan: relay mode', () => {
  test('replications left by another mode are all stopped, nothing started', () => {
    const p = plan({ mode: 'relay', assignment: fromMaster(A), sources: { [M]: ['P1'] }, running: [rep(M, 'P1', A)] })
    expect(p.stops).toEqual([{ ...rep(M, 'P1', A), reason: 'fanout-mode' }])
    expect(p.starts).toEqual([])
  })
})
