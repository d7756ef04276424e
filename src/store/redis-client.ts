import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis'
import { describeError } from '../errors'
import type { RedisConnection } from './redis-connection'

export type RedisClient = Redis | Cluster

/** Redis refused what we were configured with (password, ACL user, TLS): no retry will help. */
export class RedisConfigError extends Error {}

export interface ClientOptions {
  /** A command without an answer this long fails (a hanging server must not hang requests). */
  commandTimeoutMs: number
  connectTimeoutMs: number
  /** Connection name (CLIENT SETNAME), to tell the store's connections apart on the server. */
  name: string
}

/** Reconnect delays: exponential from 100 ms, capped at 2 s, with jitter so instances do not reconnect in step. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(2_000, 100 * 2 ** Math.min(attempt, 10))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}

const AUTH_ERRORS = /^(WRONGPASS|NOAUTH|NOPERM)\b|invalid username-password|AUTH failed|Client sent AUTH, but no password is set/i
const TLS_CONFIG_CODES = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
])
const TLS_CONFIG_TEXT =
  /wrong version number|packet length too long|unknown protocol|self[- ]signed certificate|unable to (verify|get local issuer)|certificate (has expired|is not yet valid)|altnames|hostname\/IP does not match/i

/** What a connection error says about the configuration: 'config' when retrying cannot help. */
export function classifyRedisError(error: unknown): 'config' | 'unreachable' {
  const candidates = [error, (error as { lastNodeError?: unknown } | null)?.lastNodeError].filter(Boolean)
  for (const e of candidates) {
    const message = describeError(e)
    const code = (e as { code?: unknown }).code
    if (AUTH_ERRORS.test(message)) return 'config'
    if ((typeof code === 'string' && TLS_CONFIG_CODES.has(code)) || TLS_CONFIG_TEXT.test(message)) return 'config'
  }
  return 'unreachable'
}

/**
 * What the port speaks, asked directly: a plain PING answered in RESP, or a TLS handshake that
 * completes. A server that accepts the connection and then drops it or says nothing is the
 * tell-tale of TLS configured against a plain port (or the reverse); this names which.
 */
export async function probeProtocol(host: string, port: number, timeoutMs = 1_000): Promise<'resp' | 'tls' | 'unknown'> {
  const attempt = (tls: boolean) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      let settled = false
      const finish = (ok: boolean, socket?: { end(): void }) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(ok)
        socket?.end() // after resolving: end() can run the close handler at once
      }
      Bun.connect({
        hostname: host,
        port,
        ...(tls ? { tls: { rejectUnauthorized: false } } : {}),
        socket: {
          open(socket) {
            if (!tls) socket.write('PING\r\n')
          },
          // A completed handshake, not a TCP connect: a port that accepts and drops (a proxy or
          // load balancer whose Redis is not up yet) is an outage, not a TLS server.
          handshake(socket, success) {
            finish(success, socket)
          },
          data(socket, data) {
            finish(!tls && /^[+\-$]/.test(String.fromCharCode(data[0] ?? 0)), socket)
          },
          close: () => finish(false),
          error: () => finish(false),
          connectError: () => finish(false),
        },
      }).catch(() => finish(false))
    })
  if (await attempt(false)) return 'resp'
  if (await attempt(true)) return 'tls'
  return 'unknown'
}

/** A sentence when the port speaks the other protocol than configured (TLS vs plain), else null. */
export async function protocolMismatch(c: RedisConnection): Promise<string | null> {
  const spoken = await probeProtocol(c.host, c.port)
  const where = `${c.host}:${c.port}`
  if (spoken === 'resp' && c.tls)
    return `TLS to Redis at ${where} failed: that port answers plain-text Redis; set REDIS_TLS=false (or use redis://), or the TLS port`
  if (spoken === 'tls' && !c.tls) return `Redis at ${where} speaks TLS (in-transit encryption): set REDIS_TLS=true (or use rediss://)`
  return null
}

const isDropped = (error: unknown) => {
  const e = error as { code?: unknown; message?: unknown }
  return e?.code === 'ECONNRESET' || e?.code === 'ETIMEDOUT' || /before secure TLS connection|Connection is closed/i.test(String(e?.message))
}

/** An operator-facing sentence for a configuration error, naming Redis and what to check. */
export function explainConfigError(error: unknown, where: string): string {
  const e = (error as { lastNodeError?: unknown }).lastNodeError ?? error
  const message = describeError(e)
  if (AUTH_ERRORS.test(message))
    return `Redis at ${where} refused our credentials (${message.split('\n')[0]}): check REDIS_PASSWORD and REDIS_USERNAME (or the user and password in REDIS_URL)`
  return `TLS to Redis at ${where} failed (${message.split('\n')[0]}): check REDIS_TLS (the server must speak TLS on that port) and REDIS_TLS_CA_FILE`
}

function redisOptions(c: RedisConnection, o: ClientOptions): RedisOptions {
  return {
    username: c.username ?? undefined,
    password: c.password ?? undefined,
    tls: c.tls ? (c.tls.caPem ? { ca: c.tls.caPem } : {}) : undefined,
    connectionName: o.name,
    connectTimeout: o.connectTimeoutMs,
    commandTimeout: o.commandTimeoutMs,
    // Fail at once while disconnected (503 now beats a request hanging), and never resend a command
    // whose caller already got its error: a late assignment must not land after a 503.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    lazyConnect: true,
  }
}

/** A standalone or cluster client for the connection; it reconnects by itself, forever, with backoff. */
export function createClient(c: RedisConnection, cluster: boolean, o: ClientOptions): RedisClient {
  if (!cluster) {
    return new Redis({
      ...redisOptions(c, o),
      host: c.host,
      port: c.port,
      db: c.db,
      enableOfflineQueue: false,
      retryStrategy: (times) => reconnectDelay(times),
    })
  }
  const options: ClusterOptions = {
    redisOptions: redisOptions(c, o),
    enableOfflineQueue: false,
    clusterRetryStrategy: (times) => reconnectDelay(times),
    slotsRefreshTimeout: o.connectTimeoutMs,
    lazyConnect: true,
    // ElastiCache's TLS certificates name the configuration endpoint, not the node addresses it
    // hands out: connect to the addresses as given (AWS's documented setting for ioredis).
    ...(c.tls ? { dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) => callback(null, address) } : {}),
  }
  return new Cluster([{ host: c.host, port: c.port }], options)
}

/**
 * Connects and waits until the client is ready, at most `timeoutMs`. Resolves 'ready', or
 * 'unreachable' (the client goes on reconnecting in the background); rejects with
 * RedisConfigError as soon as Redis refuses the configuration.
 */
export function connectClient(client: RedisClient, c: RedisConnection, timeoutMs: number): Promise<'ready' | 'unreachable'> {
  const where = `${c.host}:${c.port}`
  return new Promise((resolve, reject) => {
    const done = (finish: () => void) => {
      clearTimeout(timer)
      client.off('ready', onReady)
      client.off('error', onError)
      finish()
    }
    let probe: Promise<void> | null = null
    const onReady = () => done(() => resolve('ready'))
    const onError = (error: unknown) => {
      if (classifyRedisError(error) === 'config') return done(() => reject(new RedisConfigError(explainConfigError(error, where))))
      // Accepted, then dropped or silent: ask the port once what it speaks.
      if (probe || !isDropped(error)) return
      probe = protocolMismatch(c).then((mismatch) => {
        if (mismatch) done(() => reject(new RedisConfigError(mismatch)))
      })
    }
    // An answer about the protocol that is on its way is waited for. (setTimeout fires at once past 2^31-1 ms.)
    const timer = setTimeout(() => void (probe ?? Promise.resolve()).then(() => done(() => resolve('unreachable'))), Math.min(timeoutMs, 2 ** 31 - 1))
    client.on('ready', onReady)
    client.on('error', onError)
    client.connect().catch(onError)
  })
}

/** Asks a standalone connection whether the server is a cluster node (`INFO cluster`). */
export async function isClusterNode(c: RedisConnection, o: ClientOptions): Promise<boolean> {
  const probe = createClient(c, false, { ...o, name: `${o.name}-probe` }) as Redis
  probe.on('error', () => {})
  try {
    const state = await connectClient(probe, c, o.connectTimeoutMs)
    if (state !== 'ready') throw new Error(`Redis at ${c.host}:${c.port} is not reachable`)
    return /cluster_enabled:1/.test(await probe.info('cluster'))
  } finally {
    probe.disconnect()
  }
}
