import { describe, expect, test } from 'bun:test'
import { loadServeConfig } from '../../src/config/serve'

/** A CA certificate (its key was discarded): the configuration only reads the file. */
const CA_CERT = new URL('../support/fixtures/test-ca.crt', import.meta.url).pathname

const load = (env: Record<string, string>) => loadServeConfig(env)
const redisOf = (env: Record<string, string>) => {
  const result = load(env)
  if (!result.ok) throw new Error(result.errors.join('; '))
  return result.config.redis
}
const errorsOf = (env: Record<string, string>) => {
  const result = load(env)
  return result.ok ? [] : result.errors
}

describe('native Redis configuration', () => {
  test('no REDIS_URL or REDIS_HOST: no native store (memory, or Upstash when configured)', () => {
    expect(redisOf({})).toBeNull()
    expect(redisOf({ REDIS_KEY_PREFIX: 'x:' })).toBeNull()
  })

  test("the original deployment's variables: REDIS_HOST, REDIS_PORT, REDIS_TLS, REDIS_PASSWORD", () => {
    expect(
      redisOf({ REDIS_HOST: 'master.fleet.abc123.use1.cache.amazonaws.com', REDIS_PORT: '6380', REDIS_TLS: 'true', REDIS_PASSWORD: 'auth-token' }),
    ).toEqual({
      host: 'master.fleet.abc123.use1.cache.amazonaws.com',
      port: 6380,
      username: null,
      password: 'auth-token',
      db: 0,
      tls: { caPem: null },
      cluster: 'auto',
    })
    expect(redisOf({ REDIS_HOST: 'localhost' })).toMatchObject({ port: 6379, tls: null, password: null, cluster: 'auto' })
    expect(redisOf({ REDIS_HOST: 'h', REDIS_CLUSTER: 'true' })!.cluster).toBe(true)
    expect(redisOf({ REDIS_HOST: 'h', REDIS_CLUSTER: 'false' })!.cluster).toBe(false)
    expect(redisOf({ REDIS_HOST: 'h', REDIS_USERNAME: 'fleet', REDIS_PASSWORD: 'pw' })).toMatchObject({ username: 'fleet', password: 'pw' })
  })

  test('REDIS_URL: redis:// and rediss:// with user, password, port and database', () => {
    expect(redisOf({ REDIS_URL: 'rediss://fleet:p%40ss@cache.example:6390/2' })).toEqual({
      host: 'cache.example',
      port: 6390,
      username: 'fleet',
      password: 'p@ss',
      db: 2,
      tls: { caPem: null },
      cluster: 'auto',
    })
    expect(redisOf({ REDIS_URL: 'redis://:secret@10.0.0.5' })).toMatchObject({
      host: '10.0.0.5',
      port: 6379,
      username: null,
      password: 'secret',
      db: 0,
      tls: null,
    })
    expect(redisOf({ REDIS_URL: 'redis://[::1]:7000' })).toMatchObject({ host: '::1', port: 7000 })
    // The separate variables add to the URL.
    expect(redisOf({ REDIS_URL: 'redis://cache', REDIS_PASSWORD: 'pw', REDIS_TLS: 'true' })).toMatchObject({ password: 'pw', tls: { caPem: null } })
  })

  test('REDIS_TLS_CA_FILE adds a private CA', () => {
    const c = redisOf({ REDIS_HOST: 'h', REDIS_TLS: 'true', REDIS_TLS_CA_FILE: CA_CERT })
    expect(c!.tls!.caPem).toContain('-----BEGIN CERTIFICATE-----')
    expect(errorsOf({ REDIS_HOST: 'h', REDIS_TLS: 'true', REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' })).toEqual([
      'REDIS_TLS_CA_FILE points at /nonexistent/ca.pem, which does not exist',
    ])
    expect(errorsOf({ REDIS_HOST: 'h', REDIS_TLS_CA_FILE: CA_CERT })).toEqual([
      'REDIS_TLS_CA_FILE is set but TLS is not: set REDIS_TLS=true (or use a rediss:// URL)',
    ])
  })

  test('mistakes are named, and a password is never echoed', () => {
    expect(errorsOf({ REDIS_HOST: 'h', UPSTASH_REDIS_REST_URL: 'https://x.upstash.io', UPSTASH_REDIS_REST_TOKEN: 't' })).toEqual([
      'both REDIS_HOST (native Redis) and UPSTASH_REDIS_REST_URL (Upstash REST) are set: choose one store',
    ])
    expect(errorsOf({ REDIS_URL: 'redis://h', UPSTASH_REDIS_REST_URL: 'https://x.upstash.io', UPSTASH_REDIS_REST_TOKEN: 't' })[0]).toContain('REDIS_URL')
    expect(errorsOf({ REDIS_URL: 'redis://h', REDIS_HOST: 'h' })).toEqual(['REDIS_URL and REDIS_HOST are both set: set one of them'])
    expect(errorsOf({ REDIS_PASSWORD: 'pw', REDIS_PORT: '6380' })).toEqual([
      'REDIS_PORT, REDIS_PASSWORD are set but neither REDIS_URL nor REDIS_HOST says which Redis to use',
    ])
    const bad = errorsOf({ REDIS_URL: 'http://user:hunter2@host' })
    expect(bad).toEqual(['REDIS_URL must look like redis://[user:password@]host[:port][/db] or rediss://… for TLS'])
    expect(bad.join()).not.toContain('hunter2')
    expect(errorsOf({ REDIS_HOST: 'h', REDIS_PORT: '70000' })).toEqual(['REDIS_PORT must be between 1 and 65535, got 70000'])
    expect(errorsOf({ REDIS_HOST: 'h', REDIS_USERNAME: 'fleet' })).toEqual(['REDIS_USERNAME is set without REDIS_PASSWORD: an ACL user needs its password'])
    expect(errorsOf({ REDIS_URL: 'redis://h/3', REDIS_CLUSTER: 'true' })).toEqual(['REDIS_URL names database 3, but a Redis cluster has database 0 only'])
  })
})
