import { existsSync, readFileSync } from 'node:fs'
import type { RedisConnection } from '../store/redis-connection'
import type { EnvReader } from './env'

/** The variables that select the native Redis store. */
export const REDIS_SELECTORS = ['REDIS_URL', 'REDIS_HOST'] as const
const REDIS_DETAILS = ['REDIS_PORT', 'REDIS_PASSWORD', 'REDIS_USERNAME', 'REDIS_TLS', 'REDIS_TLS_CA_FILE', 'REDIS_CLUSTER'] as const

/**
 * Native Redis from REDIS_URL (`redis://` or `rediss://user:pass@host:port/db`) or from the original
 * deployment's REDIS_HOST + REDIS_PORT (6379) + REDIS_PASSWORD + REDIS_USERNAME + REDIS_TLS, with
 * REDIS_TLS_CA_FILE for a private CA and REDIS_CLUSTER (true, false, or unset: ask the server).
 * null when neither REDIS_URL nor REDIS_HOST is set.
 */
export function readRedisConnection(r: EnvReader): RedisConnection | null {
  const url = r.raw('REDIS_URL')
  const host = r.raw('REDIS_HOST')
  if (url === undefined && host === undefined) {
    const stray = REDIS_DETAILS.filter((name) => r.raw(name) !== undefined)
    if (stray.length > 0)
      r.errors.push(`${stray.join(', ')} ${stray.length === 1 ? 'is' : 'are'} set but neither REDIS_URL nor REDIS_HOST says which Redis to use`)
    return null
  }
  if (url !== undefined && host !== undefined) {
    r.errors.push('REDIS_URL and REDIS_HOST are both set: set one of them')
    return null
  }
  let fromUrl: Partial<RedisConnection> & { tlsFromScheme?: boolean } = {}
  if (url !== undefined) {
    let parsed: URL
    try {
      parsed = new URL(url)
      if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new Error('scheme')
      if (!parsed.hostname) throw new Error('host')
    } catch {
      // Never echo the value: it may hold a password.
      r.errors.push('REDIS_URL must look like redis://[user:password@]host[:port][/db] or rediss://… for TLS')
      return null
    }
    const db = parsed.pathname.replace(/^\//, '')
    if (db !== '' && !/^\d+$/.test(db)) r.errors.push('REDIS_URL: the database after the host must be a number')
    fromUrl = {
      host: parsed.hostname.replace(/^\[|\]$/g, ''),
      port: parsed.port ? Number(parsed.port) : 6379,
      username: parsed.username ? decodeURIComponent(parsed.username) : null,
      password: parsed.password ? decodeURIComponent(parsed.password) : null,
      db: db === '' ? 0 : Number(db),
      tlsFromScheme: parsed.protocol === 'rediss:',
    }
  }
  const tlsWanted = r.bool('REDIS_TLS', false) || fromUrl.tlsFromScheme === true
  const caFile = r.raw('REDIS_TLS_CA_FILE')
  let caPem: string | null = null
  if (caFile !== undefined) {
    if (!existsSync(caFile)) r.errors.push(`REDIS_TLS_CA_FILE points at ${caFile}, which does not exist`)
    else {
      caPem = readFileSync(caFile, 'utf8')
      if (!caPem.includes('-----BEGIN CERTIFICATE-----')) r.errors.push(`REDIS_TLS_CA_FILE points at ${caFile}, which holds no PEM certificate`)
    }
    if (!tlsWanted) r.errors.push('REDIS_TLS_CA_FILE is set but TLS is not: set REDIS_TLS=true (or use a rediss:// URL)')
  }
  const clusterRaw = r.raw('REDIS_CLUSTER')
  const cluster = clusterRaw === undefined || clusterRaw.toLowerCase() === 'auto' ? 'auto' : r.bool('REDIS_CLUSTER', false)
  const connection: RedisConnection = {
    host: fromUrl.host ?? host!,
    port: r.raw('REDIS_PORT') !== undefined ? r.int('REDIS_PORT', 6379, 1, 65535) : (fromUrl.port ?? 6379),
    username: r.optional('REDIS_USERNAME') ?? fromUrl.username ?? null,
    password: r.optional('REDIS_PASSWORD') ?? fromUrl.password ?? null,
    db: fromUrl.db ?? 0,
    tls: tlsWanted ? { caPem } : null,
    cluster,
  }
  if (connection.username !== null && connection.password === null)
    r.errors.push('REDIS_USERNAME is set without REDIS_PASSWORD: an ACL user needs its password')
  if (cluster === true && connection.db !== 0) r.errors.push(`REDIS_URL names database ${connection.db}, but a Redis cluster has database 0 only`)
  return connection
}
