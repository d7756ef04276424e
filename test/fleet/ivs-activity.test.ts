import { expect, test } from 'bun:test'
import { ivsActivity } from '../../src/fleet/ivs-activity'
import { Counters } from '../../src/metrics/counters'

test("an instance's IVS calls by operation and outcome, and their quota-gate waits, from its counters", () => {
  const counters = new Counters()
  counters.add('IvsCalls', 5, { operation: 'CreateParticipantToken', outcome: 'ok' })
  counters.add('IvsCalls', 2, { operation: 'CreateParticipantToken', outcome: 'throttled' })
  counters.add('IvsCalls', 1, { operation: 'GetStage', outcome: 'ok' })
  counters.add('IvsCalls', 1, { operation: 'GetStage', outcome: 'error' })
  counters.add('IvsCalls', 1, { operation: 'ListParticipants', outcome: 'ok' })
  counters.add('IvsGateWaitMs', 120.4, { operation: 'CreateParticipantToken' })
  counters.add('IvsGateWaitMs', 0.3, { operation: 'CreateParticipantToken' })
  counters.add('IvsGateWaitMs', 0.2, { operation: 'GetStage' })
  // Other counters, and an outcome this summary does not know, are left out.
  counters.add('TokensIssued', 9, { kind: 'viewer' })
  counters.add('IvsCalls', 4, { operation: 'GetStage', outcome: 'unknown' })
  const since = '2026-11-23T11:00:00.000Z'
  expect(ivsActivity(counters.snapshot(), 'aws', since)).toEqual({
    provider: 'aws',
    since,
    totals: { attempts: 10, ok: 7, throttled: 2, errors: 1, gateWaitMs: 121 },
    operations: [
      { operation: 'CreateParticipantToken', attempts: 7, ok: 5, throttled: 2, errors: 0, gateWaitMs: 121 },
      { operation: 'GetStage', attempts: 2, ok: 1, throttled: 0, errors: 1, gateWaitMs: 0 },
      { operation: 'ListParticipants', attempts: 1, ok: 1, throttled: 0, errors: 0, gateWaitMs: 0 },
    ],
  })
  // The local provider calls nothing.
  expect(ivsActivity(new Counters().snapshot(), 'local', since)).toEqual({
    provider: 'local',
    since,
    totals: { attempts: 0, ok: 0, throttled: 0, errors: 0, gateWaitMs: 0 },
    operations: [],
  })
})
