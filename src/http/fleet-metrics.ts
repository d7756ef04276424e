import type { FleetStats } from '../fleet/stats'
import type { MetricFamily } from '../metrics/prometheus'

/** The fleet's figures as Prometheus gauges. */
export function fleetFamilies(stats: FleetStats, leader: boolean): MetricFamily[] {
  return [
    { name: 'ivs_fanout_viewers', help: 'present viewers in the fleet', type: 'gauge', samples: [{ value: stats.totalViewers }] },
    {
      name: 'ivs_fanout_stages',
      help: 'stages by status',
      type: 'gauge',
      samples: [
        { labels: { status: 'active' }, value: stats.activeStages },
        { labels: { status: 'draining' }, value: stats.drainingStages },
      ],
    },
    {
      name: 'ivs_fanout_stage_viewers',
      help: 'present viewers per stage',
      type: 'gauge',
      samples: stats.stages.map((s) => ({ labels: { stage: s.stageArn, status: s.status }, value: s.viewers })),
    },
    {
      name: 'ivs_fanout_publisher_active',
      help: '1 while the relay reports a live publisher',
      type: 'gauge',
      samples: [{ value: stats.publisherActive ? 1 : 0 }],
    },
    { name: 'ivs_fanout_leader', help: '1 on the instance holding the leader lease', type: 'gauge', samples: [{ value: leader ? 1 : 0 }] },
    {
      name: 'ivs_fanout_replications_active',
      help: 'participant replications running (FANOUT_MODE replicate and hybrid), as the leader last listed them',
      type: 'gauge',
      samples: [{ value: stats.activeReplications }],
    },
    {
      name: 'ivs_fanout_stage_feeds',
      help: 'stages by how they get their media (relay, replica, direct, none)',
      type: 'gauge',
      samples: (['relay', 'replica', 'direct', 'none'] as const).map((kind) => ({
        labels: { kind, mode: stats.fanoutMode },
        value: stats.stages.filter((s) => (s.feed?.kind ?? 'none') === kind).length,
      })),
    },
    {
      name: 'ivs_fanout_capacity_exhausted',
      help: '1 while new viewers get 503 CAPACITY_EXHAUSTED (MAX_STAGES, or an IVS account quota)',
      type: 'gauge',
      samples: [{ value: stats.capacityExhausted ? 1 : 0 }],
    },
  ]
}

/** Share of each IVS rate quota the fleet uses now (AWS mode). */
export function quotaFamilies(usage: { operation: string; used: number; limit: number }[]): MetricFamily[] {
  if (usage.length === 0) return []
  return [
    {
      name: 'ivs_fanout_ivs_quota_utilisation',
      help: "slots of the account's IVS rate quota held in the current window, over the quota (fleet-wide)",
      type: 'gauge',
      samples: usage.map((u) => ({ labels: { operation: u.operation }, value: Math.round((u.used / u.limit) * 1000) / 1000 })),
    },
  ]
}
