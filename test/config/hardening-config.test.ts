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
