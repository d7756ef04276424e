import { describe, expect, test } from 'bun:test'
import { loadServeConfig, type ServeConfig } from '../../src/config/serve'
import { fleetSettings } from '../../src/config/settings'

function config(env: Record<string, string> = {}): ServeConfig {
  const result = loadServeConfig(env)
  if (!result.ok) throw new Error(result.errors.join('; '))
  return result.config
}

const facts = { instanceId: 'host-1-abc', storeKind: 'memory', providerKind: 'local' as const }

describe('fleetSettings: every policy number, decided once from the configuration', () => {
  test('the configured numbers reach the service that reads them', () => {
    const s = fleetSettings(
      config({
        STAGE_CAPACITY: '80',
        SCALE_UP_THRESHOLD: '70',
        SCALE_DOWN_THRESHOLD: '4',
        MAX_STAGES: '9',
        STAGE_WARMUP_MS: '1000',
        DRAIN_GRACE_MS: '2000',
        HEARTBEAT_INTERVAL_MS: '5000',
        HEARTBEAT_TIMEOUT_MS: '20000',
        VIEWER_TOKEN_TTL_MIN: '30',
        PUBLISHER_TOKEN_TTL_MIN: '90',
        MASTER_STAGE_ARN: 'arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456',
      }),
      facts,
    )
    expect(s.admission).toEqual({ maxStages: 9, maxSubscriptions: 20_000, ceiling: 'max-stages' })
    expect(s.stages).toEqual({ fleetId: 'ivsf', maxStages: 9, ceiling: 'max-stages', masterStageArn: 'arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456' })
    expect(s.viewers).toMatchObject({ maxStages: 9, maxSubscriptions: 20_000, heartbeatIntervalMs: 5000, viewerTokenTtlMin: 30 })
    // STAGE_CAPACITY has one door, the store (src/backends.ts): every stage the store reads carries it.
    expect(JSON.stringify(s)).not.toContain('apacity')
    expect(s.tokens).toEqual({ publisherTokenTtlMin: 90 })
    expect(s.loop.heartbeatTimeoutMs).toBe(20_000)
    expect(s.loop.policy).toEqual({ scaleUpThreshold: 70, scaleDownThreshold: 4, maxStages: 9, stageWarmupMs: 1000, drainGraceMs: 2000 })
    expect(s.createLock.instanceId).toBe('host-1-abc')
  })

  test('the fleet id is the key prefix without what a tag value cannot hold', () => {
    expect(fleetSettings(config({ REDIS_KEY_PREFIX: 'prod-eu:' }), facts).stages.fleetId).toBe('prod-eu')
    expect(fleetSettings(config({ REDIS_KEY_PREFIX: '::' }), facts).stages.fleetId).toBe('ivsf')
  })

  test('the loop ticks several times per leader lease, at most once a second', () => {
    expect(fleetSettings(config({ LEADER_LEASE_MS: '2000' }), facts).loop.tickMs).toBe(666)
    expect(fleetSettings(config({ LEADER_LEASE_MS: '10000' }), facts).loop.tickMs).toBe(1000)
  })

  test('heartbeats are batched for a remote store only', () => {
    expect(fleetSettings(config(), facts).heartbeats.windowMs).toBe(0)
    expect(fleetSettings(config(), { ...facts, storeKind: 'upstash' }).heartbeats.windowMs).toBe(200)
  })

  test('stage creations are spaced fleet-wide on AWS (5 TPS), not in local mode', () => {
    expect(fleetSettings(config(), facts).createLock.spacingMs).toBe(0)
    expect(fleetSettings(config(), { ...facts, providerKind: 'aws' }).createLock.spacingMs).toBe(250)
  })

  test('the stage-creation lock has a short lease its holder renews three times per lease', () => {
    const { leaseMs, renewMs } = fleetSettings(config(), facts).createLock
    expect([leaseMs, renewMs]).toEqual([3_000, 1_000])
  })

  test('FANOUT_MODE=replicate: admission, scaling and POST /api/stage stop at 6 stages, named as the replication quota when MAX_STAGES is higher', () => {
    const s = fleetSettings(config({ FANOUT_MODE: 'replicate', MAX_STAGES: '20' }), facts)
    expect(s.admission).toEqual({ maxStages: 6, maxSubscriptions: 20_000, ceiling: 'replication-quota' })
    expect([s.stages.maxStages, s.stages.ceiling, s.viewers.maxStages, s.viewers.ceiling, s.loop.policy.maxStages]).toEqual([
      6,
      'replication-quota',
      6,
      'replication-quota',
      6,
    ])
    // MAX_STAGES at or below 6 is the ceiling itself.
    const low = fleetSettings(config({ FANOUT_MODE: 'replicate', MAX_STAGES: '4' }), facts)
    expect([low.admission.maxStages, low.admission.ceiling]).toEqual([4, 'max-stages'])
    // Other modes keep MAX_STAGES.
    expect(fleetSettings(config({ FANOUT_MODE: 'hybrid', MAX_STAGES: '20' }), facts).admission.maxStages).toBe(20)
  })

  test('replication: the mode, the reconnect window IVS is sent (at most its 60 s) and a calm cadence', () => {
    expect(fleetSettings(config(), facts).replication).toEqual({
      mode: 'relay',
      reconnectWindowSeconds: 30,
      intervalMs: 5_000,
      pendingIntervalMs: 2_000,
      operationsPerSecond: 2,
      retryBaseMs: 2_000,
      retryMaxMs: 30_000,
    })
    const hybrid = fleetSettings(config({ FANOUT_MODE: 'hybrid', REPLICATION_RECONNECT_WINDOW_SECONDS: '0' }), facts).replication
    expect([hybrid.mode, hybrid.reconnectWindowSeconds]).toEqual(['hybrid', 0])
    expect(fleetSettings(config({ REPLICATION_RECONNECT_WINDOW_SECONDS: '300' }), facts).replication.reconnectWindowSeconds).toBe(60)
  })
})
