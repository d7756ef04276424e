import { type ConfigResult, type Env, EnvReader } from '../src/config/env'
import { type HardeningConfig, readHardening, readSecret } from '../src/config/hardening'
import type { LogLevel } from '../src/log'

export interface RelayConfig extends HardeningConfig {
  port: number
  logLevel: LogLevel
  apiServerUrl: string
  apiSecretKey: string
  serverId: string
  serverIp: string
  /** Overrides the WHIP URL each stage reports; null = use the stage's own (from its publish token). */
  whipEndpoint: string | null
  publishSecret: string | null
  heartbeatIntervalMs: number
  stageSyncIntervalMs: number
  enableAutoSync: boolean
  warnings: string[]
}

export function loadRelayConfig(env: Env, hostname: string): ConfigResult<RelayConfig> {
  const r = new EnvReader(env)
  const apiSecretKey = readSecret(r, 'API_SECRET_KEY')
  if (apiSecretKey === null) r.errors.push('API_SECRET_KEY is required: the relay calls the API server with it')
  const publishSecret = readSecret(r, 'PUBLISH_SECRET')
  const serverId = r.string('SERVER_ID', `relay-${hostname}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128))
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(serverId)) r.errors.push('SERVER_ID must be 1-128 letters, digits, ".", "_" or "-"')
  const config: RelayConfig = {
    port: r.port(3001),
    logLevel: r.logLevel(),
    apiServerUrl: r.url('API_SERVER_URL', 'http://localhost:3000')!,
    apiSecretKey: apiSecretKey ?? '',
    serverId,
    serverIp: r.string('SERVER_IP', '127.0.0.1'),
    whipEndpoint: r.url('WHIP_ENDPOINT', null),
    publishSecret,
    heartbeatIntervalMs: r.int('HEARTBEAT_INTERVAL', 30_000, 1_000),
    stageSyncIntervalMs: r.int('STAGE_SYNC_INTERVAL', 60_000, 1_000),
    enableAutoSync: r.bool('ENABLE_AUTO_SYNC', true),
    ...readHardening(r),
    warnings: r.warnings,
  }
  return r.result(config)
}
