import { existsSync, readFileSync } from 'node:fs'
import { DEFAULT_WATCH_HISTORY_TTL_MS } from './store/types'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type ProviderKind = 'aws' | 'local'
export type Command = 'serve' | 'relay'

export interface ServeConfig {
  port: number
  nodeEnv: string
  logLevel: LogLevel
  apiSecretKey: string | null
  mediaServerSecret: string | null
  skipAuth: boolean
  trustProxy: boolean
  awsRegion: string
  provider: ProviderKind
  ivsEndpoint: string | null
  masterStageArn: string | null
  localWhipUrl: string
  ivsPublicKeyArn: string | null
  ivsPrivateKeyPem: string | null
  upstash: { url: string; token: string } | null
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
  rateLimitWindowMs: number
  rateLimitMaxRequests: number
  cloudwatchEnabled: boolean
  cloudwatchNamespace: string
  metricsToken: string | null
}

export type ConfigResult<T> = { ok: true; config: T } | { ok: false; errors: string[] }

export type Env = Record<string, string | undefined>

export const STAGE_ARN_PATTERN = /^arn:aws:ivs:[a-z0-9-]+:\d{12}:stage\/[A-Za-z0-9]{12}$/
export const PUBLIC_KEY_ARN_PATTERN = /^arn:aws:ivs:[a-z0-9-]+:\d{12}:public-key\/[A-Za-z0-9]{12}$/
const MAX_TOKEN_TTL_MIN = 14 * 24 * 60

/** Collects every problem with the environment so the operator can fix them all in one go. */
class EnvReader {
  readonly errors: string[] = []
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name]
    return value === undefined || value.trim() === '' ? undefined : value.trim()
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback
  }

  optional(name: string): string | null {
    return this.raw(name) ?? null
  }

  int(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const value = this.raw(name)
    if (value === undefined) return fallback
    if (!/^\d+$/.test(value)) {
      this.errors.push(`${name} must be a whole number, got "${value}"`)
      return fallback
    }
    const n = Number(value)
    if (n < min || n > max) {
      this.errors.push(`${name} must be between ${min} and ${max}, got ${n}`)
      return fallback
    }
    return n
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase()
    if (value === undefined) return fallback
    if (value === 'true' || value === '1' || value === 'yes') return true
    if (value === 'false' || value === '0' || value === 'no') return false
    this.errors.push(`${name} must be true or false, got "${value}"`)
    return fallback
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name)?.toLowerCase()
    if (value === undefined) return fallback
    if ((allowed as readonly string[]).includes(value)) return value as T
    this.errors.push(`${name} must be one of ${allowed.join(', ')}, got "${value}"`)
    return fallback
  }

  url(name: string, fallback: string | null): string | null {
    const value = this.raw(name)
    if (value === undefined) return fallback
    try {
      const parsed = new URL(value)
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('scheme')
      return value.replace(/\/+$/, '')
    } catch {
      this.errors.push(`${name} must be an http(s) URL, got "${value}"`)
      return fallback
    }
  }

  matching(name: string, pattern: RegExp, what: string): string | null {
    const value = this.raw(name)
    if (value === undefined) return null
    if (!pattern.test(value)) {
      this.errors.push(`${name} must be ${what}, got "${value}"`)
      return null
    }
    return value
  }
}

/** A PEM given inline, with escaped newlines (common in .env files), or as a path to a file. */
function readPem(reader: EnvReader, name: string): string | null {
  const value = reader.raw(name)
  if (value === undefined) return null
  if (value.includes('-----BEGIN')) return value.replace(/\\n/g, '\n')
  // Never echo the value: it may be a key pasted without its BEGIN line.
  if (value.length > 512 || !existsSync(value)) {
    reader.errors.push(`${name} must be a PEM private key or the path of a readable file holding one`)
    return null
  }
  let text: string
  try {
    text = readFileSync(value, 'utf8')
  } catch (error) {
    reader.errors.push(`${name} points at ${value}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
    return null
  }
  if (!text.includes('-----BEGIN')) {
    reader.errors.push(`${name} points at ${value}, which holds no PEM key`)
    return null
  }
  return text
}

export function hasAwsCredentials(env: Env): boolean {
  return Boolean(
    (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) ||
      env.AWS_PROFILE ||
      env.AWS_WEB_IDENTITY_TOKEN_FILE ||
      env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI ||
      env.AWS_CONTAINER_CREDENTIALS_FULL_URI,
  )
}

function readPort(reader: EnvReader, fallback: number): number {
  const name = reader.raw('API_PORT') !== undefined ? 'API_PORT' : 'PORT'
  return reader.int(name, fallback, 0, 65535)
}

export function loadServeConfig(env: Env): ConfigResult<ServeConfig> {
  const r = new EnvReader(env)
  const nodeEnv = r.string('NODE_ENV', 'production')
  const skipAuth = r.bool('SKIP_AUTH', false)
  if (skipAuth && nodeEnv !== 'development') {
    r.errors.push('SKIP_AUTH=true is refused unless NODE_ENV=development')
  }

  const provider = r.oneOf<ProviderKind>('IVS_PROVIDER', ['aws', 'local'], hasAwsCredentials(env) ? 'aws' : 'local')
  const apiSecretKey = r.optional('API_SECRET_KEY')
  if (apiSecretKey !== null && apiSecretKey.length < 16) {
    r.errors.push('API_SECRET_KEY must be at least 16 characters')
  }
  if (provider === 'aws' && apiSecretKey === null && !skipAuth) {
    r.errors.push('API_SECRET_KEY is required when IVS_PROVIDER is aws')
  }
  const mediaServerSecret = r.optional('MEDIA_SERVER_SECRET')
  if (mediaServerSecret !== null && mediaServerSecret.length < 16) {
    r.errors.push('MEDIA_SERVER_SECRET must be at least 16 characters')
  }

  const upstashUrl = r.url('UPSTASH_REDIS_REST_URL', null)
  const upstashToken = r.optional('UPSTASH_REDIS_REST_TOKEN')
  if ((r.raw('UPSTASH_REDIS_REST_URL') === undefined) !== (upstashToken === null)) {
    r.errors.push('UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set together')
  }

  const ivsPublicKeyArn = r.matching('IVS_PUBLIC_KEY_ARN', PUBLIC_KEY_ARN_PATTERN, 'an IVS public key ARN (arn:aws:ivs:<region>:<account>:public-key/<id>)')
  const ivsPrivateKeyPem = readPem(r, 'IVS_PRIVATE_KEY')
  if (provider === 'aws' && (r.raw('IVS_PUBLIC_KEY_ARN') === undefined) !== (r.raw('IVS_PRIVATE_KEY') === undefined)) {
    r.errors.push('IVS_PUBLIC_KEY_ARN and IVS_PRIVATE_KEY must be set together to sign tokens locally')
  }

  const stageCapacity = r.int('STAGE_CAPACITY', 50, 1, 10_000)
  const scaleUpThreshold = r.int('SCALE_UP_THRESHOLD', Math.min(45, stageCapacity), 1, 10_000)
  const scaleDownThreshold = r.int('SCALE_DOWN_THRESHOLD', Math.min(5, scaleUpThreshold - 1), 0, 10_000)
  if (scaleUpThreshold > stageCapacity) r.errors.push(`SCALE_UP_THRESHOLD (${scaleUpThreshold}) must not exceed STAGE_CAPACITY (${stageCapacity})`)
  if (scaleDownThreshold >= scaleUpThreshold) r.errors.push(`SCALE_DOWN_THRESHOLD (${scaleDownThreshold}) must be below SCALE_UP_THRESHOLD (${scaleUpThreshold})`)

  const heartbeatIntervalMs = r.int('HEARTBEAT_INTERVAL_MS', 15_000, 1_000)
  const heartbeatTimeoutMs = r.int('HEARTBEAT_TIMEOUT_MS', 60_000, 1_000)
  if (heartbeatTimeoutMs <= heartbeatIntervalMs) r.errors.push(`HEARTBEAT_TIMEOUT_MS (${heartbeatTimeoutMs}) must be longer than HEARTBEAT_INTERVAL_MS (${heartbeatIntervalMs})`)

  const config: ServeConfig = {
    port: readPort(r, 3000),
    nodeEnv,
    logLevel: r.oneOf<LogLevel>('LOG_LEVEL', ['debug', 'info', 'warn', 'error'], 'info'),
    apiSecretKey,
    mediaServerSecret,
    skipAuth,
    trustProxy: r.bool('TRUST_PROXY', false),
    awsRegion: r.string('AWS_REGION', r.string('AWS_DEFAULT_REGION', 'us-east-1')),
    provider,
    ivsEndpoint: r.url('IVS_ENDPOINT', null),
    masterStageArn: r.matching('MASTER_STAGE_ARN', STAGE_ARN_PATTERN, 'an IVS stage ARN (arn:aws:ivs:<region>:<account>:stage/<12 letters or digits>)'),
    localWhipUrl: r.url('LOCAL_WHIP_URL', 'https://global.whip.live-video.net')!,
    ivsPublicKeyArn,
    ivsPrivateKeyPem,
    upstash: upstashUrl && upstashToken ? { url: upstashUrl, token: upstashToken } : null,
    redisKeyPrefix: r.string('REDIS_KEY_PREFIX', 'ivsf:'),
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
    publisherTokenTtlMin: r.int('PUBLISHER_TOKEN_TTL_MIN', 240, 1, MAX_TOKEN_TTL_MIN),
    viewerTokenTtlMin: r.int('VIEWER_TOKEN_TTL_MIN', 60, 1, MAX_TOKEN_TTL_MIN),
    rateLimitWindowMs: r.int('RATE_LIMIT_WINDOW_MS', 60_000, 100),
    rateLimitMaxRequests: r.int('RATE_LIMIT_MAX_REQUESTS', 100, 1),
    cloudwatchEnabled: r.bool('CLOUDWATCH_ENABLED', false),
    cloudwatchNamespace: r.string('CLOUDWATCH_NAMESPACE', 'IVS/Production'),
    metricsToken: r.optional('METRICS_TOKEN'),
  }
  return r.errors.length > 0 ? { ok: false, errors: r.errors } : { ok: true, config }
}

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
    port: readPort(r, 3001),
    logLevel: r.oneOf<LogLevel>('LOG_LEVEL', ['debug', 'info', 'warn', 'error'], 'info'),
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
  }
  return r.errors.length > 0 ? { ok: false, errors: r.errors } : { ok: true, config }
}
