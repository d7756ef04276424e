import { expect, test } from 'bun:test'
import { loadRelayConfig } from '../../relay/config'
import { loadServeConfig } from '../../src/config/serve'
import { loadShutdownConfig } from '../../src/config/shutdown'

const errorsOf = (result: { ok: true } | { ok: false; errors: string[] }) => (result.ok ? [] : result.errors)

test('the hardening settings have sane defaults in both modes', () => {
  const serve = loadServeConfig({})
  const relay = loadRelayConfig({ API_SERVER_URL: 'http://127.0.0.1:3000', API_SECRET_KEY: 'k'.repeat(24) }, 'host')
  const shutdown = loadShutdownConfig({})
  if (!serve.ok || !relay.ok || !shutdown.ok) throw new Error('defaults refused')
  expect([serve.config.authFailureLimit, serve.config.bodyTimeoutMs, serve.config.trustProxy]).toEqual([10, 10_000, { kind: 'none' }])
  expect([relay.config.authFailureLimit, relay.config.bodyTimeoutMs, relay.config.rateLimit]).toEqual([10, 10_000, { windowMs: 60_000, max: 100 }])
  expect(shutdown.config.shutdownGraceMs).toBe(5_000)
})

test('bad values are configuration errors that name the variable (exit 2), never silently clamped', () => {
  const bad = { AUTH_FAILURE_LIMIT: '0', BODY_TIMEOUT_MS: '5', TRUST_PROXY: 'proxy.example.com' }
  const serveErrors = errorsOf(loadServeConfig(bad)).join('\n')
  const relayErrors = errorsOf(loadRelayConfig({ API_SERVER_URL: 'http://127.0.0.1:3000', API_SECRET_KEY: 'k'.repeat(24), ...bad }, 'host')).join('\n')
  for (const errors of [serveErrors, relayErrors]) {
    for (const name of Object.keys(bad)) expect(errors).toContain(name)
  }
  expect(errorsOf(loadShutdownConfig({ SHUTDOWN_GRACE_MS: '-1' })).join()).toContain('SHUTDOWN_GRACE_MS')
  expect(errorsOf(loadShutdownConfig({ SHUTDOWN_GRACE_MS: 'soon' })).join()).toContain('SHUTDOWN_GRACE_MS')
})

test('the secrets both modes read are refused alike: under 16 characters is a configuration error naming the variable', () => {
  const relayBase = { API_SERVER_URL: 'http://127.0.0.1:3000', API_SECRET_KEY: 'k'.repeat(24) }
  for (const name of ['MEDIA_SERVER_SECRET', 'API_SECRET_KEY']) {
    const short = { [name]: 'short' }
    expect(errorsOf(loadServeConfig(short))).toContain(`${name} must be at least 16 characters`)
    expect(errorsOf(loadRelayConfig({ ...relayBase, ...short }, 'host'))).toContain(`${name} must be at least 16 characters`)
  }
  expect(errorsOf(loadRelayConfig({ ...relayBase, PUBLISH_SECRET: 'short' }, 'host'))).toContain('PUBLISH_SECRET must be at least 16 characters')
})

test('the shared variables read the same in both modes', () => {
  const env = {
    RATE_LIMIT_WINDOW_MS: '5000',
    RATE_LIMIT_MAX_REQUESTS: '7',
    AUTH_FAILURE_LIMIT: '3',
    BODY_TIMEOUT_MS: '2500',
    TRUST_PROXY: '2',
    METRICS_TOKEN: 'metrics-token-0123456789',
    MEDIA_SERVER_SECRET: 'media-secret-0123456789',
  }
  const serve = loadServeConfig(env)
  const relay = loadRelayConfig({ API_SERVER_URL: 'http://127.0.0.1:3000', API_SECRET_KEY: 'k'.repeat(24), ...env }, 'host')
  if (!serve.ok || !relay.ok) throw new Error('refused')
  const shared = (c: typeof serve.config | typeof relay.config) => [
    c.rateLimit,
    c.authFailureLimit,
    c.bodyTimeoutMs,
    c.trustProxy,
    c.metricsToken,
    c.mediaServerSecret,
  ]
  expect(shared(relay.config)).toEqual(shared(serve.config))
  expect(shared(serve.config)).toEqual([{ windowMs: 5000, max: 7 }, 3, 2500, { kind: 'hops', hops: 2 }, env.METRICS_TOKEN, env.MEDIA_SERVER_SECRET])
})

test('TRUST_PROXY=true still works (one hop) and says why it is risky', () => {
  const serve = loadServeConfig({ TRUST_PROXY: 'true' })
  if (!serve.ok) throw new Error(serve.errors.join())
  expect(serve.config.trustProxy).toEqual({ kind: 'hops', hops: 1 })
  expect(serve.config.warnings.join()).toContain('TRUST_PROXY=true is read as 1')
})

test('API_SECRET_KEY_PREVIOUS is read alike in both modes: a secret of 16+ characters, different from API_SECRET_KEY, only beside it; each error names it', () => {
  const NEW = 'the-new-api-key-0123456789'
  const OLD = 'the-old-api-key-0123456789'
  const relayBase = { API_SERVER_URL: 'http://127.0.0.1:3000' }
  const both = (env: Record<string, string>) => [loadServeConfig(env), loadRelayConfig({ ...relayBase, ...env }, 'host')]
  for (const result of both({ API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: OLD })) {
    if (!result.ok) throw new Error(result.errors.join('; '))
    expect([result.config.apiSecretKey, result.config.apiSecretKeyPrevious]).toEqual([NEW, OLD])
  }
  for (const result of both({ API_SECRET_KEY: NEW })) expect(result.ok && result.config.apiSecretKeyPrevious).toBeNull()
  for (const result of both({ API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: 'short' }))
    expect(errorsOf(result)).toEqual(['API_SECRET_KEY_PREVIOUS must be at least 16 characters'])
  for (const result of both({ API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: NEW }))
    expect(errorsOf(result)).toEqual(['API_SECRET_KEY_PREVIOUS is the same as API_SECRET_KEY: set it to the key being replaced, or remove it'])
  const without = 'API_SECRET_KEY_PREVIOUS is set without API_SECRET_KEY: set API_SECRET_KEY to the new key and API_SECRET_KEY_PREVIOUS to the one it replaces'
  expect(errorsOf(loadServeConfig({ API_SECRET_KEY_PREVIOUS: OLD }))).toEqual([without])
  // The relay also needs API_SECRET_KEY for itself: both errors at once.
  expect(errorsOf(loadRelayConfig({ ...relayBase, API_SECRET_KEY_PREVIOUS: OLD }, 'host'))).toEqual([
    'API_SECRET_KEY is required: the relay calls the API server with it',
    without,
  ])
})
