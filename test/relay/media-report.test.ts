import { describe, expect, test } from 'bun:test'
import type { RelayReport } from '../../relay/control/control-plane'
import { FeedingSwitch } from '../../relay/control/feeding'
import { ControlLink } from '../../relay/control/link'
import { ingestReport, type MediaSource, mediaReport } from '../../relay/control/media-report'
import { RelayRegistration, type StageFollower } from '../../relay/control/registration'
import type { StageSessionState } from '../../relay/egress/stage-session'
import type { RepairCounts } from '../../relay/ingest/loss-repair'
import { silentLogger } from '../../src/log'
import { ManualClock, ManualTicker } from '../support/clock'

const counts = (over: Partial<RepairCounts> = {}): RepairCounts => ({
  received: 0,
  gaps: 0,
  missing: 0,
  nacked: 0,
  repaired: 0,
  late: 0,
  unrepaired: 0,
  duplicates: 0,
  resets: 0,
  ...over,
})

describe("what a relay's heartbeat says of its media", () => {
  test('the loss ratio is missing / expected, expected = every packet received plus those never received', () => {
    // 1000 sent, 50 went missing: 40 came back on NACK, 2 came late after being given up, 8 never came.
    const report = ingestReport(counts({ received: 992, missing: 50, repaired: 40, late: 2, unrepaired: 10 }), 2000)
    expect(report).toEqual({ videoPackets: 992, missing: 50, repaired: 40, unrepaired: 10, lossRatio: 0.05, keyframeIntervalMs: 2000 })
    expect(ingestReport(counts(), null)).toEqual({ videoPackets: 0, missing: 0, repaired: 0, unrepaired: 0, lossRatio: 0, keyframeIntervalMs: null })
    // Rounded to 4 decimals: 1 of 3 missing.
    expect(ingestReport(counts({ received: 2, missing: 1, unrepaired: 1 }), null).lossRatio).toBe(0.3333)
  })

  test('the stage sessions by state (stopped ones left out); no publisher, no ingest', () => {
    const states: StageSessionState[] = ['live', 'live', 'connecting', 'backoff', 'no-media', 'no-media', 'no-media', 'stopped']
    const source: MediaSource = { publisherSession: null, stageSnapshots: () => states.map((state) => ({ state })) }
    expect(mediaReport(source)).toEqual({ ingest: null, stageSessions: { connecting: 1, live: 2, backoff: 1, noMedia: 3 } })
    const publishing: MediaSource = {
      publisherSession: { stats: () => ({ keyframeIntervalMs: 1000, ingest: counts({ received: 99, missing: 1, repaired: 1 }) }) },
      stageSnapshots: () => [],
    }
    expect(mediaReport(publishing).ingest).toEqual({ videoPackets: 99, missing: 1, repaired: 1, unrepaired: 0, lossRatio: 0.0101, keyframeIntervalMs: 1000 })
  })

  test("the registration's heartbeat carries the report when its follower is the fan-out, and only then", async () => {
    const reports: RelayReport[] = []
    const base: StageFollower = {
      publisherActive: true,
      publisherAgeMs: () => 5_000,
      liveStages: () => ['arn:a'],
      syncStages: async () => {},
      addStage: () => {},
      removeStage: async () => {},
    }
    const withMedia: StageFollower = {
      ...base,
      publisherSession: { stats: () => ({ keyframeIntervalMs: 2000, ingest: counts({ received: 10 }) }) },
      stageSnapshots: () => [{ state: 'live' as const }],
    }
    for (const stages of [base, withMedia]) {
      const link = new ControlLink('http://api.invalid')
      const registration = new RelayRegistration(
        {
          api: {
            register: async () => ['arn:a'],
            stages: async () => ({ arns: ['arn:a'] }),
            heartbeat: async (report) => void reports.push(report),
            follow: () => ({ close() {} }),
          },
          stages,
          feeding: new FeedingSwitch({ serverId: 'relay-1', lingerMs: 0, withoutPublisher: true }, new ManualClock(0)),
          link,
          ticker: new ManualTicker(),
          logger: silentLogger,
        },
        {
          serverId: 'relay-1',
          apiServerUrl: 'http://api.invalid',
          heartbeatIntervalMs: 30_000,
          stageSyncIntervalMs: 60_000,
          enableAutoSync: false,
          backoff: { baseMs: 1, capMs: 1 },
        },
      )
      await registration.start()
      await registration.beat()
      registration.stop()
    }
    const last = (withIngest: boolean) => reports.filter((r) => 'ingest' in r === withIngest).at(-1)
    // The original fields only (a follower that cannot say): exactly what the heartbeat sent before.
    expect(last(false)).toEqual({ publisherActive: true, connectedStages: ['arn:a'], publisherAgeMs: 5_000 })
    expect(last(true)).toEqual({
      publisherActive: true,
      connectedStages: ['arn:a'],
      publisherAgeMs: 5_000,
      ingest: { videoPackets: 10, missing: 0, repaired: 0, unrepaired: 0, lossRatio: 0, keyframeIntervalMs: 2000 },
      stageSessions: { connecting: 0, live: 1, backoff: 0, noMedia: 0 },
    })
  })
})
