import { type ConfigResult, type Env, EnvReader } from '../src/config/env'
import type { LogLevel } from '../src/log'
import type { ProxyTrust } from '../src/web/client-address'

export interface RelayConfig {
  port: number
  logLevel: LogLevel
  apiServerUrl: string
  apiSecretKey: string
  mediaServerSecret: string | null
  serverId: string
  serverIp: string
  /** Overrides the WHIP URL each stage reports; null = use the stage's own (from its publish token). */
  whipEndpoint: string | null
  publishSecret: string | null
  heartbeatIntervalMs: number
  stageSyncIntervalMs: number
  enableAutoSync: boolean
  metricsToken: string | null
  /** Whose X-Forwarded-For to believe for the client address (TRUST_PROXY). */
  trustProxy: ProxyTrust
  /** The rate limit on the relay's routes (the same variables as serve's). */
  rateLimit: { windowMs: number; max: number }
  /** Failed authentications per minute per client address before it is locked out. */
  authFailureLimit: number
  /** A request body (the WHIP offer) must arrive within this (BODY_TIMEOUT_MS), or 408. */
  bodyTimeoutMs: number
  warnings: string[]
}

export function loadRelayConfig(env: Env, hostname: string): ConfigResult<RelayConfig> {
  const r = new EnvReader(env)
  const apiSecretKey = r.optional('API_SECRET_KEY')
  if (apiSecretKey === null) r.errors.push('API_SECRET_KEY is required: the relay calls the API server with it')
  const publishSecret = r.optional('PUBLISH_SECRET')
  if (publishSecret !== null && publishSecret.length < 16) r.errors.push('PUBLISH_SECRET must be at least 16 characters')
  const serverId = r.string('SERVER_ID', `relay-${hostname}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128))
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(serverId)) r.errors.push('SERVER_ID must be 1-128 letters, digits, ".", "_" or "-"')
  const config: RelayConfig = {
    port: r.port(3001),
    logLevel: r.logLevel(),
    apiServerUrl: r.url('API_SERVER_URL', 'http://localhost:3000')!,
    apiSecretKey: apiSecretKey ?? '',
    mediaServerSecret: r.optional('MEDIA_SERVER_SECRET'),
    serverId,
    serverIp: r.string('SERVER_IP', '127.0.0.1'),
    whipEndpoint: r.url('WHIP_ENDPOINT', null),
    publishSecret,
    heartbeatIntervalMs: r.int('HEARTBEAT_INTERVAL', 30_000, 1_000),
    stageSyncIntervalMs: r.int('STAGE_SYNC_INTERVAL', 60_000, 1_000),
    enableAutoSync: r.bool('ENABLE_AUTO_SYNC', true),
    metricsToken: r.optional('METRICS_TOKEN'),
    trustProxy: r.proxyTrust(),
    rateLimit: { windowMs: r.int('RATE_LIMIT_WINDOW_MS', 60_000, 100), max: r.int('RATE_LIMIT_MAX_REQUESTS', 100, 1) },
    authFailureLimit: r.int('AUTH_FAILURE_LIMIT', 10, 1, 1_000_000),
    bodyTimeoutMs: r.int('BODY_TIMEOUT_MS', 10_000, 100, 120_000),
    warnings: r.warnings,
  }
  return r.result(config)
}
