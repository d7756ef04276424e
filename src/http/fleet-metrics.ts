import type { RefusalReason } from '../fleet/replication-retry'
import type { FleetStats } from '../fleet/stats'
import type { CounterSample } from '../metrics/counters'
import type { MetricFamily } from '../metrics/prometheus'
import { type CounterSpec, counterFamilies, ERROR_COUNTERS } from '../web/metrics'

/** Every refusal reason (a Record, so a new reason must be added here). */
const REFUSAL_REASONS: Record<RefusalReason, true> = { 'not-publishing': true, 'replication-quota': true, 'not-found': true, invalid: true, error: true }

/** serve's counters (Counters.add names), exported from the start: see CounterSpec. (CloudWatch's list, COUNTER_METRICS, is the subset it is sent.) */
export const SERVE_COUNTERS: Record<string, CounterSpec> = {
  ...ERROR_COUNTERS,
  TokensIssued: { help: 'tokens issued by kind', zeros: [{ kind: 'viewer' }, { kind: 'publisher' }, { kind: 'mediaserver' }] },
  Heartbeats: { help: 'viewer heartbeats received', zeros: [{}] },
  CapacityRefusals: { help: 'new viewers refused 503 CAPACITY_EXHAUSTED, by reason' },
  ScaleUps: { help: 'stages created', zeros: [{}] },
  ScaleDowns: { help: 'stages deleted', zeros: [{}] },
  StageQuotaExceeded: { help: "CreateStage refused for the account's stage quota", zeros: [{}] },
  IvsCalls: { help: 'IVS API attempts by operation and outcome (ok, throttled, error)' },
  IvsGateWaitMs: { help: 'milliseconds IVS calls waited for a slot of the quota gate, by operation' },
  ReplicationStarts: { help: 'participant replications started', zeros: [{}] },
  ReplicationStops: { help: 'participant replications stopped, by reason' },
  ReplicationRefusals: { help: 'participant replications IVS refused, by reason', zeros: Object.keys(REFUSAL_REASONS).map((reason) => ({ reason })) },
}

/**
 * serve's /metrics families. The fleet's figures come from the store: when it does not answer (its
 * readiness check fails, or the read does) they are left out and `ivs_fanout_store_up` is 0, so the
 * scrape still answers and says why, where a failed scrape would only say the process is gone.
 */
export async function serveFamilies(deps: {
  /** The readiness check's store result (null: no store check, as in some tests). */
  storeCheck: (() => Promise<boolean>) | null
  stats(): Promise<FleetStats>
  leader: boolean
  quotaUsage?(): Promise<{ operation: string; used: number; limit: number }[]>
  counters: CounterSample[]
}): Promise<MetricFamily[]> {
  let up = deps.storeCheck === null || (await deps.storeCheck())
  const read = async () => {
    try {
      return await Promise.all([deps.stats(), deps.quotaUsage?.() ?? []])
    } catch {
      up = false
      return null
    }
  }
  const fleet = up ? await read() : null
  return [
    ...(deps.storeCheck === null
      ? []
      : [
          {
            name: 'ivs_fanout_store_up',
            help: "1 while the shared store answers (the readiness check's store check, and this scrape's read)",
            type: 'gauge' as const,
            samples: [{ value: up ? 1 : 0 }],
          },
        ]),
    { name: 'ivs_fanout_leader', help: '1 on the instance holding the leader lease', type: 'gauge', samples: [{ value: deps.leader ? 1 : 0 }] },
    ...(fleet ? fleetFamilies(fleet[0]) : []),
    ...quotaFamilies(fleet?.[1] ?? []),
    ...counterFamilies(deps.counters, SERVE_COUNTERS),
  ]
}

/** The fleet's figures as Prometheus gauges. */
export function fleetFamilies(stats: FleetStats): MetricFamily[] {
  return [
    { name: 'ivs_fanout_viewers', help: 'present viewers in the fleet', type: 'gauge', samples: [{ value: stats.totalViewers }] },
    {
      name: 'ivs_fanout_seats',
      help: 'seats on the stages taking viewers (the capacity of the active stages)',
      type: 'gauge',
      samples: [{ value: stats.stages.reduce((sum, s) => (s.status === 'active' ? sum + s.capacity : sum), 0) }],
    },
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

/** Share of each IVS rate quota the fleet uses now (AWS mode; no samples otherwise). */
export function quotaFamilies(usage: { operation: string; used: number; limit: number }[]): MetricFamily[] {
  return [
    {
      name: 'ivs_fanout_ivs_quota_utilisation',
      help: "slots of the account's IVS rate quota held in the current window, over the quota (fleet-wide)",
      type: 'gauge',
      samples: usage.map((u) => ({ labels: { operation: u.operation }, value: Math.round((u.used / u.limit) * 1000) / 1000 })),
    },
  ]
}
