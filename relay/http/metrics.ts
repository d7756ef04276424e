import type { MetricFamily } from '../../src/metrics/prometheus'
import type { StageSessionState } from '../egress/stage-session'
import type { Fanout } from '../fanout'

/** The relay's /metrics families: the publisher's ingest (loss, repair), the pacer, and per stage forwarding and feedback. */
export function relayFamilies(fanout: Fanout): MetricFamily[] {
  const stages = fanout.stageSnapshots()
  type Stage = (typeof stages)[number]
  const perStage = (name: string, help: string, type: 'counter' | 'gauge', value: (s: Stage) => number | null): MetricFamily => ({
    name,
    help,
    type,
    samples: stages.flatMap((s) => {
      const v = value(s)
      return v === null ? [] : [{ labels: { stage: s.stageArn }, value: v }]
    }),
  })
  /** A family of one sample (none when `value` is null). */
  const single = (name: string, help: string, type: 'counter' | 'gauge', value: number | null): MetricFamily => ({
    name,
    help,
    type,
    samples: value === null ? [] : [{ value }],
  })
  const session = fanout.publisherSession?.stats() ?? null
  const pacing = fanout.pacingStats()
  type Ingest = NonNullable<typeof session>['ingest']
  const ingest = (name: string, help: string, value: (i: Ingest) => number): MetricFamily =>
    single(`ivs_fanout_relay_ingest_${name}`, `${help} (this publisher session)`, 'counter', session ? value(session.ingest) : null)
  const states: readonly StageSessionState[] = ['connecting', 'live', 'backoff', 'no-media']
  return [
    single('ivs_fanout_relay_publisher_active', '1 while a publisher is connected', 'gauge', fanout.publisherActive ? 1 : 0),
    single('ivs_fanout_relay_publisher_packets_total', 'RTP packets received from the publisher', 'counter', session?.packetsIn ?? 0),
    single(
      'ivs_fanout_relay_publisher_keyframe_interval_seconds',
      "the publisher's keyframe interval, measured (median of the last few)",
      'gauge',
      session?.keyframeIntervalMs ? session.keyframeIntervalMs / 1000 : null,
    ),
    ingest('gaps_total', 'gaps in the publisher video sequence numbers', (i) => i.gaps),
    ingest('missing_packets_total', 'publisher video packets found missing', (i) => i.missing),
    ingest('nacks_sent_total', 'sequence numbers NACKed to the publisher (each retry counts)', (i) => i.nacked),
    ingest('repaired_total', 'missing packets that arrived while still wanted', (i) => i.repaired),
    ingest('unrepaired_total', 'missing packets given up on', (i) => i.unrepaired),
    ingest('rtx_packets_total', 'RTX retransmissions received', (i) => i.rtxPackets),
    single('ivs_fanout_relay_keyframe_requests_sent_total', 'PLIs sent to the publisher', 'counter', fanout.keyframes.sent),
    single('ivs_fanout_relay_pacing_queue_bytes', "video bytes waiting in the fan-out's pacer", 'gauge', pacing.queuedBytes),
    single('ivs_fanout_relay_pacing_peak_queue_bytes', 'the most video bytes the pacer ever held', 'gauge', pacing.peakQueuedBytes),
    single('ivs_fanout_relay_pacing_max_wait_seconds', 'the longest a video packet waited in the pacer', 'gauge', pacing.maxWaitMs / 1000),
    single('ivs_fanout_relay_pacing_paced_packets_total', 'video packets that waited in the pacer', 'counter', pacing.pacedPackets),
    single(
      'ivs_fanout_relay_pacing_overflow_packets_total',
      'video packets sent unpaced because the queue was over its limit',
      'counter',
      pacing.overflowPackets,
    ),
    {
      name: 'ivs_fanout_relay_stage_state',
      help: '1 for the state each stage session is in',
      type: 'gauge',
      samples: stages.flatMap((s) => states.map((state) => ({ labels: { stage: s.stageArn, state }, value: s.state === state ? 1 : 0 }))),
    },
    perStage('ivs_fanout_relay_stage_packets_total', 'RTP packets forwarded to the stage', 'counter', (s) => s.packetsForwarded),
    perStage('ivs_fanout_relay_stage_bytes_total', 'bytes forwarded to the stage', 'counter', (s) => s.bytesForwarded),
    perStage('ivs_fanout_relay_stage_keyframe_requests_total', 'PLI/FIR received from the stage', 'counter', (s) => s.keyframeRequests),
    perStage('ivs_fanout_relay_stage_connects_total', 'times the stage session went live', 'counter', (s) => s.connects),
    perStage('ivs_fanout_relay_stage_nacks_received_total', 'sequence numbers the stage NACKed', 'counter', (s) => s.nacksReceived),
    perStage('ivs_fanout_relay_stage_retransmitted_total', "packets resent to the stage from the relay's buffer", 'counter', (s) => s.retransmitted),
    perStage(
      'ivs_fanout_relay_stage_nacks_unanswered_total',
      'NACKed packets the relay did not hold (not received yet, or too old)',
      'counter',
      (s) => s.nacksUnanswered,
    ),
    perStage('ivs_fanout_relay_stage_packets_unplaced_total', "late packets from before the stage's first one, not sent", 'counter', (s) => s.packetsUnplaced),
    perStage('ivs_fanout_relay_stage_send_errors_total', 'packets the stage track refused', 'counter', (s) => s.sendErrors),
    perStage('ivs_fanout_relay_stage_loss_ratio', 'share of our video the stage lost in its last report interval', 'gauge', (s) => s.lossFraction),
    perStage('ivs_fanout_relay_stage_rtt_seconds', 'round trip to the stage, from its receiver reports', 'gauge', (s) =>
      s.rttMs === null ? null : s.rttMs / 1000,
    ),
  ]
}
