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
  ]
}
