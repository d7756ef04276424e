import { REPLICAS_PER_PARTICIPANT, REPLICATE_MAX_STAGES } from '../fleet/admission'
import type { FanoutMode } from '../fleet/settings'
import type { LogLevel } from '../log'
import type { RedisConnection } from '../store/redis-connection'
import { DEFAULT_STAGE_CAPACITY, DEFAULT_WATCH_HISTORY_TTL_MS } from '../store/types'
import { type AddressList, parseAddressList } from '../web/client-address'
import { type ConfigResult, type Env, EnvReader, hasAwsCredentials, readPem } from './env'
import { readCloudWatch, readFanoutMode, readRedisKeyPrefix } from './fleet'
import { type HardeningConfig, readHardening, readPreviousApiKey, readSecret } from './hardening'
import { readIvsAccess, readMasterStageArn, readPublicKeyArn, readTokenTtls } from './ivs-access'
import { readRedisConnection } from './redis'

export type ProviderKind = 'aws' | 'local'

export interface ServeConfig extends HardeningConfig {
  port: number
  nodeEnv: string
  logLevel: LogLevel
  apiSecretKey: string | null
  /** API_SECRET_KEY_PREVIOUS: also accepted while a key rotation rolls out; null when unset. */
  apiSecretKeyPrevious: string | null
  skipAuth: boolean
  /** Accepted settings worth a warning at start. */
  warnings: string[]
  awsRegion: string
  provider: ProviderKind
  ivsEndpoint: string | null
  masterStageArn: string | null
  /** The WHIP endpoint local stages report; null: they carry no media. */
  localWhipUrl: string | null
  ivsPublicKeyArn: string | null
  ivsPrivateKeyPem: string | null
  upstash: { url: string; token: string } | null
  /** Native Redis (REDIS_URL or REDIS_HOST…); never set together with `upstash`. */
  redis: RedisConnection | null
  redisKeyPrefix: string
  stageCapacity: number
  scaleUpThreshold: number
  scaleDownThreshold: number
  maxStages: number
  stageWarmupMs: number
  drainGraceMs: number
  leaderLeaseMs: number
  watchHistoryTtlMs: number
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  publisherTokenTtlMin: number
  viewerTokenTtlMin: number
  cloudwatchEnabled: boolean
  cloudwatchNamespace: string
  /** Client addresses (after TRUST_PROXY) allowed on the API-key routes (API_ALLOWED_CIDRS); null: any. */
  apiAllowedCidrs: AddressList | null
  /** Origins allowed to call API-key routes from a browser (exact `scheme://host[:port]`). */
  corsOrigins: string[]
  /** A relay silent this long is offline and no longer counts for the publisher state. */
  mediaServerTimeoutMs: number
  /** The account's concurrent-subscription quota (IVS: 20,000 unless raised): viewers beyond it cannot join. */
  ivsMaxSubscriptions: number
  /** How media reaches the stages (DESIGN §7): the relay into each, IVS replicating the master's broadcaster, or both. */
  fanoutMode: FanoutMode
  /** How long a replica survives its source's absence (0–300 as configured; see fleetSettings for what IVS is sent). */
  replicationReconnectWindowSeconds: number
}

/** The reconnect window IVS's StartParticipantReplication takes at most (the ivs-realtime model: 0–60 s). */
export const IVS_MAX_RECONNECT_WINDOW_SECONDS = 60

/** Read by the relay only: set for serve, they usually mean the wrong command was started. */
export const RELAY_ONLY = ['SERVER_ID', 'API_SERVER_URL', 'PUBLISH_SECRET', 'WHIP_ENDPOINT', 'WEBRTC_UDP_PORT', 'WEBRTC_PUBLIC_HOSTS'] as const

export function loadServeConfig(env: Env): ConfigResult<ServeConfig> {
  const r = new EnvReader(env)
  const nodeEnv = r.string('NODE_ENV', 'production')
  const skipAuth = r.bool('SKIP_AUTH', false)
  if (skipAuth && nodeEnv !== 'development') {
    r.errors.push('SKIP_AUTH=true is refused unless NODE_ENV=development')
  }

  const provider = r.oneOf<ProviderKind>('IVS_PROVIDER', ['aws', 'local'], hasAwsCredentials(env) ? 'aws' : 'local')
  const apiSecretKey = readSecret(r, 'API_SECRET_KEY')
  if (provider === 'aws' && apiSecretKey === null && !skipAuth) {
    r.errors.push('API_SECRET_KEY is required when IVS_PROVIDER is aws')
  }
  const hardening = readHardening(r)
  const relayOnly = RELAY_ONLY.filter((name) => r.raw(name) !== undefined)
  if (relayOnly.length > 0) {
    r.warnings.push(
      `${relayOnly.join(', ')} ${relayOnly.length === 1 ? 'is a relay setting' : 'are relay settings'}, read by \`ivs-fanout relay\` (npm run relay), not by this API server`,
    )
  }

  const upstashUrl = r.url('UPSTASH_REDIS_REST_URL', null)
  const upstashToken = r.optional('UPSTASH_REDIS_REST_TOKEN')
  if ((r.raw('UPSTASH_REDIS_REST_URL') === undefined) !== (upstashToken === null)) {
    r.errors.push('UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set together')
  }
  const redis = readRedisConnection(r)
  if (redis !== null && (r.raw('UPSTASH_REDIS_REST_URL') !== undefined || upstashToken !== null)) {
    const native = r.raw('REDIS_URL') !== undefined ? 'REDIS_URL' : 'REDIS_HOST'
    r.errors.push(`both ${native} (native Redis) and UPSTASH_REDIS_REST_URL (Upstash REST) are set: choose one store`)
  }

  const ivsPublicKeyArn = readPublicKeyArn(r)
  const ivsPrivateKeyPem = readPem(r, 'IVS_PRIVATE_KEY')
  if (provider === 'aws' && (r.raw('IVS_PUBLIC_KEY_ARN') === undefined) !== (r.raw('IVS_PRIVATE_KEY') === undefined)) {
    r.errors.push('IVS_PUBLIC_KEY_ARN and IVS_PRIVATE_KEY must be set together to sign tokens locally')
  }

  const stageCapacity = r.int('STAGE_CAPACITY', DEFAULT_STAGE_CAPACITY, 1, 10_000)
  const scaleUpThreshold = r.int('SCALE_UP_THRESHOLD', Math.min(45, stageCapacity), 1, 10_000)
  const scaleDownThreshold = r.int('SCALE_DOWN_THRESHOLD', Math.min(5, scaleUpThreshold - 1), 0, 10_000)
  if (scaleUpThreshold > stageCapacity) r.errors.push(`SCALE_UP_THRESHOLD (${scaleUpThreshold}) must not exceed STAGE_CAPACITY (${stageCapacity})`)
  if (scaleDownThreshold >= scaleUpThreshold)
    r.errors.push(`SCALE_DOWN_THRESHOLD (${scaleDownThreshold}) must be below SCALE_UP_THRESHOLD (${scaleUpThreshold})`)

  const heartbeatIntervalMs = r.int('HEARTBEAT_INTERVAL_MS', 15_000, 1_000)
  const heartbeatTimeoutMs = r.int('HEARTBEAT_TIMEOUT_MS', 60_000, 1_000)
  if (heartbeatTimeoutMs <= heartbeatIntervalMs)
    r.errors.push(`HEARTBEAT_TIMEOUT_MS (${heartbeatTimeoutMs}) must be longer than HEARTBEAT_INTERVAL_MS (${heartbeatIntervalMs})`)

  const config: ServeConfig = {
    port: r.port(3000),
    nodeEnv,
    logLevel: r.logLevel(),
    apiSecretKey,
    apiSecretKeyPrevious: readPreviousApiKey(r, apiSecretKey),
    skipAuth,
    ...hardening,
    warnings: r.warnings,
    ...readIvsAccess(r),
    provider,
    masterStageArn: readMasterStageArn(r),
    // Unset: local stages carry no media (IVS's WHIP endpoint knows no local stage).
    localWhipUrl: r.url('LOCAL_WHIP_URL', null),
    ivsPublicKeyArn,
    ivsPrivateKeyPem,
    upstash: upstashUrl && upstashToken ? { url: upstashUrl, token: upstashToken } : null,
    redis,
    redisKeyPrefix: readRedisKeyPrefix(r),
    stageCapacity,
    scaleUpThreshold,
    scaleDownThreshold,
    maxStages: r.int('MAX_STAGES', 20, 1, 1_000),
    stageWarmupMs: r.int('STAGE_WARMUP_MS', 300_000, 0),
    drainGraceMs: r.int('DRAIN_GRACE_MS', 120_000, 0),
    leaderLeaseMs: r.int('LEADER_LEASE_MS', 10_000, 1_000),
    watchHistoryTtlMs: r.int('WATCH_HISTORY_TTL_MS', DEFAULT_WATCH_HISTORY_TTL_MS, 60_000),
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    ...readTokenTtls(r),
    ...readCloudWatch(r),
    corsOrigins: readOrigins(r),
    apiAllowedCidrs: readAllowedCidrs(r),
    mediaServerTimeoutMs: r.int('MEDIA_SERVER_TIMEOUT_MS', 90_000, 1_000),
    ivsMaxSubscriptions: r.int('IVS_MAX_SUBSCRIPTIONS', 20_000, 1),
    fanoutMode: readFanoutMode(r),
    replicationReconnectWindowSeconds: r.int('REPLICATION_RECONNECT_WINDOW_SECONDS', 30, 0, 300),
  }
  r.warnings.push(...fanoutWarnings(config))
  return r.result(config)
}

/** Settings FANOUT_MODE accepts but that will not do what they say (serve warns at start; doctor fails on them). */
export function fanoutWarnings(config: Pick<ServeConfig, 'fanoutMode' | 'maxStages' | 'provider' | 'replicationReconnectWindowSeconds'>): string[] {
  const { fanoutMode: mode, maxStages } = config
  const warnings: string[] = []
  if (mode === 'replicate' && maxStages > REPLICATE_MAX_STAGES) {
    warnings.push(
      `MAX_STAGES (${maxStages}) is more than FANOUT_MODE=replicate can feed: IVS replicates one participant into at most ${REPLICAS_PER_PARTICIPANT} stages (the replication quota), so the fleet stops at ${REPLICATE_MAX_STAGES} stages (the master and ${REPLICAS_PER_PARTICIPANT} replicas) and viewers past its last seat get 503 CAPACITY_EXHAUSTED (reason replication-quota); use FANOUT_MODE=hybrid for more`,
    )
  }
  if (mode !== 'relay' && config.provider === 'local') {
    warnings.push(
      `FANOUT_MODE=${mode} needs IVS: local stages carry no media and cannot be replicated, so nothing is replicated here (the fleet's shape, its stage ceiling and /api/stats still follow the mode)`,
    )
  }
  if (mode !== 'relay' && config.replicationReconnectWindowSeconds > IVS_MAX_RECONNECT_WINDOW_SECONDS) {
    warnings.push(
      `REPLICATION_RECONNECT_WINDOW_SECONDS (${config.replicationReconnectWindowSeconds}) is more than IVS takes for a replication (${IVS_MAX_RECONNECT_WINDOW_SECONDS} s): replications are started with ${IVS_MAX_RECONNECT_WINDOW_SECONDS}`,
    )
  }
  return warnings
}

/** API_ALLOWED_CIDRS: the addresses and CIDRs allowed to call API-key routes (unset: any). */
function readAllowedCidrs(r: EnvReader): AddressList | null {
  const raw = r.raw('API_ALLOWED_CIDRS')
  if (raw === undefined) return null
  const parsed = parseAddressList(raw)
  if ('bad' in parsed) {
    r.errors.push(`API_ALLOWED_CIDRS must be addresses and CIDRs separated by commas (e.g. 10.0.0.0/8,203.0.113.7); "${parsed.bad}" is neither`)
    return null
  }
  return parsed
}

/** CORS_ORIGINS: a comma-separated list of exact origins; `*` is refused (the API key must not work from any page). */
function readOrigins(r: EnvReader): string[] {
  const raw = r.raw('CORS_ORIGINS')
  if (raw === undefined) return []
  const origins: string[] = []
  for (const item of raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)) {
    if (item === '*') {
      r.errors.push('CORS_ORIGINS must list the origins of your apps (https://app.example.com), not *: the API key must not be usable from any web page')
      continue
    }
    let url: URL | null = null
    try {
      url = new URL(item)
    } catch {}
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== item.replace(/\/$/, '')) {
      r.errors.push(`CORS_ORIGINS: "${item}" is not an origin; write scheme://host[:port] with no path`)
      continue
    }
    origins.push(url.origin)
  }
  return origins
}
