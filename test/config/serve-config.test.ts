import { describe, expect, test } from 'bun:test'
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadServeConfig } from '../../src/config/serve'

const errorsOf = (env: Record<string, string>) => {
  const result = loadServeConfig(env)
  return result.ok ? [] : result.errors
}

describe('serve config', () => {
  test('no environment at all gives the embedded defaults', () => {
    const result = loadServeConfig({})
    expect(result.ok).toBe(true)
    if (!result.ok) return
    const c = result.config
    expect(c.port).toBe(3000)
    expect(c.provider).toBe('local')
    expect(c.upstash).toBeNull()
    expect(c.apiSecretKey).toBeNull()
    expect([c.stageCapacity, c.scaleUpThreshold, c.scaleDownThreshold, c.maxStages]).toEqual([50, 45, 5, 20])
    expect([c.stageWarmupMs, c.heartbeatIntervalMs, c.heartbeatTimeoutMs]).toEqual([300_000, 15_000, 60_000])
    expect([c.publisherTokenTtlMin, c.viewerTokenTtlMin]).toEqual([240, 60])
    expect(c.rateLimit).toEqual({ windowMs: 60_000, max: 100 })
    expect(c.redisKeyPrefix).toBe('ivsf:')
    // No LOCAL_WHIP_URL: local stages carry no media (IVS's global WHIP endpoint knows no local stage).
    expect(c.localWhipUrl).toBeNull()
    expect(c.cloudwatchEnabled).toBe(false)
    expect(c.cloudwatchNamespace).toBe('IVS/Production')
    expect(c.logLevel).toBe('info')
  })

  test('API_PORT wins over PORT', () => {
    const r = loadServeConfig({ API_PORT: '4000', PORT: '5000' })
    expect(r.ok && r.config.port).toBe(4000)
    const p = loadServeConfig({ PORT: '5000' })
    expect(p.ok && p.config.port).toBe(5000)
  })

  test('every problem is reported at once, each naming its variable', () => {
    const errors = errorsOf({
      API_PORT: 'abc',
      STAGE_CAPACITY: '0',
      LOG_LEVEL: 'loud',
      CLOUDWATCH_ENABLED: 'maybe',
      UPSTASH_REDIS_REST_URL: 'http://localhost:8080',
      MASTER_STAGE_ARN: 'not-an-arn',
      LOCAL_WHIP_URL: 'ftp://x',
    })
    for (const name of ['API_PORT', 'STAGE_CAPACITY', 'LOG_LEVEL', 'CLOUDWATCH_ENABLED', 'UPSTASH_REDIS_REST_TOKEN', 'MASTER_STAGE_ARN', 'LOCAL_WHIP_URL']) {
      expect(errors.some((e) => e.includes(name))).toBe(true)
    }
    expect(errors.length).toBeGreaterThanOrEqual(7)
  })

  test('SKIP_AUTH is refused outside development', () => {
    expect(errorsOf({ SKIP_AUTH: 'true' })).toContain('SKIP_AUTH=true is refused unless NODE_ENV=development')
    expect(errorsOf({ SKIP_AUTH: 'true', NODE_ENV: 'production' }).length).toBe(1)
    expect(errorsOf({ SKIP_AUTH: 'true', NODE_ENV: 'development' })).toEqual([])
  })

  test('thresholds must be consistent with capacity', () => {
    expect(errorsOf({ STAGE_CAPACITY: '10', SCALE_UP_THRESHOLD: '20' }).join()).toContain('SCALE_UP_THRESHOLD (20) must not exceed STAGE_CAPACITY (10)')
    expect(errorsOf({ SCALE_UP_THRESHOLD: '10', SCALE_DOWN_THRESHOLD: '10' }).join()).toContain('SCALE_DOWN_THRESHOLD (10) must be below')
    expect(errorsOf({ HEARTBEAT_INTERVAL_MS: '60000', HEARTBEAT_TIMEOUT_MS: '30000' }).join()).toContain('HEARTBEAT_TIMEOUT_MS')
    // A small capacity alone derives thresholds that fit it.
    const small = loadServeConfig({ STAGE_CAPACITY: '3' })
    expect(small.ok && [small.config.scaleUpThreshold, small.config.scaleDownThreshold]).toEqual([3, 2])
  })

  test('AWS credentials select the aws provider, which needs an API key', () => {
    const env = { AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 'secret' }
    expect(errorsOf(env)).toContain('API_SECRET_KEY is required when IVS_PROVIDER is aws')
    const r = loadServeConfig({ ...env, API_SECRET_KEY: 'x'.repeat(32) })
    expect(r.ok && r.config.provider).toBe('aws')
    const local = loadServeConfig({ ...env, IVS_PROVIDER: 'local' })
    expect(local.ok && local.config.provider).toBe('local')
  })

  test('IVS_PRIVATE_KEY is read inline (with escaped newlines) or from a file', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'
    const inline = loadServeConfig({ IVS_PRIVATE_KEY: pem.replace(/\n/g, '\\n') })
    expect(inline.ok && inline.config.ivsPrivateKeyPem).toBe(pem)
    const path = join(tmpdir(), `ivsf-key-${process.pid}.pem`)
    writeFileSync(path, pem)
    try {
      const fromFile = loadServeConfig({ IVS_PRIVATE_KEY: path })
      expect(fromFile.ok && fromFile.config.ivsPrivateKeyPem).toBe(pem)
    } finally {
      rmSync(path, { force: true })
    }
    expect(errorsOf({ IVS_PRIVATE_KEY: '/no/such/file.pem' }).join()).toContain('IVS_PRIVATE_KEY')
  })

  test('short secrets are refused', () => {
    expect(errorsOf({ API_SECRET_KEY: 'short' }).join()).toContain('API_SECRET_KEY must be at least 16 characters')
  })

  test('FANOUT_MODE and REPLICATION_RECONNECT_WINDOW_SECONDS: relay and 30 by default; bad values are errors naming the variable', () => {
    const defaults = loadServeConfig({})
    if (!defaults.ok) throw new Error(defaults.errors.join())
    expect([defaults.config.fanoutMode, defaults.config.replicationReconnectWindowSeconds]).toEqual(['relay', 30])
    for (const mode of ['relay', 'replicate', 'hybrid']) {
      const r = loadServeConfig({ FANOUT_MODE: mode })
      expect(r.ok ? r.config.fanoutMode : null).toBe(mode as never)
    }
    expect(errorsOf({ FANOUT_MODE: 'mesh' })).toEqual(['FANOUT_MODE must be one of relay, replicate, hybrid, got "mesh"'])
    expect(errorsOf({ REPLICATION_RECONNECT_WINDOW_SECONDS: '301' })).toEqual(['REPLICATION_RECONNECT_WINDOW_SECONDS must be between 0 and 300, got 301'])
    expect(errorsOf({ REPLICATION_RECONNECT_WINDOW_SECONDS: '-1' }).join()).toContain('REPLICATION_RECONNECT_WINDOW_SECONDS')
    expect(errorsOf({ REPLICATION_RECONNECT_WINDOW_SECONDS: '1.5' }).join()).toContain('REPLICATION_RECONNECT_WINDOW_SECONDS')
    const edges = loadServeConfig({ REPLICATION_RECONNECT_WINDOW_SECONDS: '0' })
    expect(edges.ok && edges.config.replicationReconnectWindowSeconds).toBe(0)
  })

  test('warnings: replicate above 6 stages (the 5-replica quota), replication on local stages, a window above the 60 s IVS takes', () => {
    const warnings = (env: Record<string, string>) => {
      const r = loadServeConfig(env)
      if (!r.ok) throw new Error(r.errors.join())
      return r.config.warnings
    }
    const aws = { AWS_ACCESS_KEY_ID: 'AKIA0000', AWS_SECRET_ACCESS_KEY: 'secret', API_SECRET_KEY: 'k'.repeat(16) }
    expect(warnings({ ...aws, FANOUT_MODE: 'replicate', MAX_STAGES: '6' })).toEqual([])
    const above = warnings({ ...aws, FANOUT_MODE: 'replicate', MAX_STAGES: '7' })
    expect(above.length).toBe(1)
    expect(above[0]).toContain('MAX_STAGES (7)')
    expect(above[0]).toContain('IVS replicates one participant into at most 5 stages')
    expect(warnings({ ...aws, FANOUT_MODE: 'hybrid', MAX_STAGES: '40' })).toEqual([])
    // Local stages carry no media: the modes only shape the fleet there.
    expect(warnings({ FANOUT_MODE: 'hybrid' }).join()).toContain('FANOUT_MODE=hybrid needs IVS')
    expect(warnings({})).toEqual([])
    expect(warnings({ ...aws, FANOUT_MODE: 'hybrid', REPLICATION_RECONNECT_WINDOW_SECONDS: '120' }).join()).toContain(
      'REPLICATION_RECONNECT_WINDOW_SECONDS (120)',
    )
    expect(warnings({ ...aws, REPLICATION_RECONNECT_WINDOW_SECONDS: '120' })).toEqual([])
  })
})
