/**
 * docker-compose.yml hands the containers what .env says (issue 20 item 3): rendered here as compose
 * renders it (no podman needed; test/containers/compose.test.ts runs the stack for real).
 */
import { expect, test } from 'bun:test'
import { loadRelayConfig } from '../../relay/config'
import { loadServeConfig } from '../../src/config/serve'
import { composeFile, renderedEnvironment } from '../support/compose-file'

/** The variables a loader reads, found by handing it an environment that records what is asked. */
function variablesRead(load: (env: Record<string, string | undefined>) => unknown): string[] {
  const names = new Set<string>()
  load(new Proxy({}, { get: (_target, name) => (typeof name === 'string' && names.add(name), undefined) }))
  return [...names]
}

/** Read by serve but not for compose to pass: the relay's names (read only to warn), dev switches, the other store's override file, the SDK's own chain. */
const NOT_PASSED_TO_SERVE = new Set([
  'PORT',
  'NODE_ENV',
  'SKIP_AUTH',
  'SERVER_ID',
  'API_SERVER_URL',
  'PUBLISH_SECRET',
  'WHIP_ENDPOINT',
  'WEBRTC_UDP_PORT',
  'WEBRTC_PUBLIC_HOSTS',
  'UPSTASH_REDIS_REST_URL',
  'UPSTASH_REDIS_REST_TOKEN',
  'AWS_DEFAULT_REGION',
  'AWS_PROFILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
])

const { services } = composeFile()
const KEY = 'compose-api-key-0123456789'

test('every setting serve and the relay read reaches their containers (nothing in .env is silently dropped)', () => {
  const served = Object.keys(services['serve-1']!.environment ?? {})
  expect(variablesRead((env) => loadServeConfig(env)).filter((name) => !NOT_PASSED_TO_SERVE.has(name) && !served.includes(name))).toEqual([])
  expect(Object.keys(services['serve-2']!.environment ?? {})).toEqual(served)
  const relayed = Object.keys(services.relay!.environment ?? {})
  expect(variablesRead((env) => loadRelayConfig(env, 'h')).filter((name) => name !== 'PORT' && !relayed.includes(name))).toEqual([])
})

test('ElastiCache settings in .env are what serve runs with; without them the bundled Redis', () => {
  const elasticache = {
    API_SECRET_KEY: KEY,
    REDIS_URL: 'rediss://ivsf.abc123.cache.amazonaws.com:6379',
    REDIS_PASSWORD: 'auth-token-0123456789',
    REDIS_USERNAME: 'ivsf',
    REDIS_CLUSTER: 'true',
    TRUST_PROXY: '10.0.0.0/16',
    CORS_ORIGINS: 'https://app.example.com',
    RATE_LIMIT_MAX_REQUESTS: '500',
    RATE_LIMIT_WINDOW_MS: '30000',
    API_ALLOWED_CIDRS: '10.0.0.0/16',
  }
  const env = renderedEnvironment(services['serve-1']!, elasticache)
  const loaded = loadServeConfig(env)
  if (!loaded.ok) throw new Error(loaded.errors.join('; '))
  expect(loaded.config.redis).toMatchObject({
    host: 'ivsf.abc123.cache.amazonaws.com',
    username: 'ivsf',
    password: 'auth-token-0123456789',
    cluster: true,
    tls: { caPem: null },
  })
  expect(loaded.config.trustProxy).toMatchObject({ kind: 'addresses', entries: ['10.0.0.0/16'] })
  expect(loaded.config.corsOrigins).toEqual(['https://app.example.com'])
  expect(loaded.config.rateLimit).toEqual({ windowMs: 30_000, max: 500 })
  expect(loaded.config.apiAllowedCidrs?.entries).toEqual(['10.0.0.0/16'])

  const bundled = loadServeConfig(renderedEnvironment(services['serve-1']!, { API_SECRET_KEY: KEY }))
  if (!bundled.ok) throw new Error(bundled.errors.join('; '))
  expect(bundled.config.redis).toMatchObject({ host: 'redis', port: 6379, tls: null, password: null })
})

test("the relay listens on 3001 (the README's OBS URL) and starts without PUBLISH_SECRET (it makes one and prints it)", () => {
  const env = renderedEnvironment(services.relay!, { API_SECRET_KEY: KEY })
  expect(env.API_PORT).toBe('3001')
  expect(env.PUBLISH_SECRET).toBeUndefined()
  const loaded = loadRelayConfig(env, 'host')
  if (!loaded.ok) throw new Error(loaded.errors.join('; '))
  expect(loaded.config.port).toBe(3001)
  expect(loaded.config.publishSecret).toBeNull()
})

test('the Upstash override leaves serve one store: Upstash, not the bundled Redis', () => {
  const override = composeFile('docker-compose.upstash.yml').services['serve-1']!
  const env = renderedEnvironment(
    { ...services['serve-1']!, environment: { ...services['serve-1']!.environment, ...override.environment } },
    { API_SECRET_KEY: KEY, UPSTASH_TOKEN: 'upstash-token' },
  )
  const loaded = loadServeConfig(env)
  if (!loaded.ok) throw new Error(loaded.errors.join('; '))
  expect(loaded.config.redis).toBeNull()
  expect(loaded.config.upstash).toEqual({ url: 'http://upstash:80', token: 'upstash-token' })
})
