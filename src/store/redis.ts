import { Cluster, type Redis } from 'ioredis'
import { describeError } from '../errors'
import type { Logger } from '../log'
import type { ScriptName } from './lua'
import { pairs } from './lua-rows'
import { LuaStore, type RedisDriver } from './lua-store'
import { connectClient, createClient, isClusterNode, protocolMismatch, type RedisClient, RedisConfigError, reconnectDelay } from './redis-client'
import { describeConnection, type RedisConnection } from './redis-connection'
import type { StoreOptions } from './types'

export interface RedisStoreOptions extends StoreOptions {
  connection: RedisConnection
  /** REDIS_KEY_PREFIX; made a `{…}` hash tag so every key of the fleet is in one cluster slot. */
  prefix: string
  logger: Logger
  /** A command without an answer this long fails with 503 (default 800 ms: a hanging Redis answers 503 within 2 s). */
  commandTimeoutMs?: number
  connectTimeoutMs?: number
  /** Called when Redis refuses the configuration after start (it was unreachable at first). */
  onConfigError?(error: RedisConfigError): void
}

/** `ivsf:` → `{ivsf:}`: Redis Cluster hashes only what is inside the braces, so all of a fleet's keys share one slot. */
export function hashTagged(prefix: string): string {
  return /\{[^}]+\}/.test(prefix) ? prefix : `{${prefix}}`
}

type Entry = [string, string[]]

/** Native RESP through ioredis: standalone or cluster, TLS, AUTH/ACL; blocking stream reads on a dedicated connection. */
class IoredisDriver implements RedisDriver {
  client: RedisClient | null = null
  private blocking: Promise<RedisClient> | null = null
  /** Why there is no usable connection, for errors and /health. */
  notReady = 'not connected yet'

  constructor(
    private readonly where: string,
    private readonly blockingTimeoutMarginMs: number,
  ) {}

  private get c(): RedisClient {
    if (!this.client) throw new Error(`Redis at ${this.where}: ${this.notReady}`)
    return this.client
  }

  async loadScripts(lua: Record<ScriptName, string>): Promise<void> {
    const nodes: Redis[] = this.c instanceof Cluster ? this.c.nodes('master') : [this.c]
    await Promise.all(nodes.flatMap((node) => Object.values(lua).map((source) => node.script('LOAD', source))))
  }

  /** Defined per client: ioredis sends EVALSHA and falls back to EVAL (which caches it again) on NOSCRIPT. */
  script(name: ScriptName, lua: string, keys: string[], args: string[]): Promise<unknown> {
    const client = this.c as RedisClient & Record<string, (...a: string[]) => Promise<unknown>>
    if (typeof client[name] !== 'function') client.defineCommand(name, { numberOfKeys: keys.length, lua })
    return client[name]!(...keys, ...args)
  }

  incr(key: string): Promise<number> {
    return this.c.incr(key)
  }

  async hsetAtomically(writes: [string, string, string][]): Promise<void> {
    const tx = this.c.multi()
    for (const [key, field, value] of writes) tx.hset(key, field, value)
    const results = await tx.exec()
    const failed = results?.find(([error]) => error)
    if (!results || failed) throw failed?.[0] ?? new Error('MULTI was aborted')
  }

  async hgetallMany(keys: string[]): Promise<Record<string, string>[]> {
    const pipe = this.c.pipeline()
    for (const key of keys) pipe.hgetall(key)
    const results = (await pipe.exec()) ?? []
    return results.map(([error, value]) => {
      if (error) throw error
      return value as Record<string, string>
    })
  }

  get(key: string): Promise<string | null> {
    return this.c.get(key)
  }

  async swap(key: string, value: string): Promise<string | null> {
    return (await this.c.call('SET', key, value, 'GET')) as string | null
  }

  async xadd(key: string, fields: Record<string, string>, approxMaxLen: number): Promise<string> {
    return (await this.c.xadd(key, 'MAXLEN', '~', approxMaxLen, '*', ...Object.entries(fields).flat()))!
  }

  async xrange(key: string, start: string, count: number): Promise<[string, Record<string, string>][]> {
    const rows = (await this.c.xrange(key, start, '+', 'COUNT', count)) as Entry[]
    return rows.map(([id, fields]) => [id, pairs(fields)])
  }

  async lastId(key: string): Promise<string | null> {
    const rows = (await this.c.xrevrange(key, '+', '-', 'COUNT', 1)) as Entry[]
    return rows[0]?.[0] ?? null
  }

  async xreadBlocking(key: string, afterId: string, count: number, waitMs: number): Promise<[string, Record<string, string>][]> {
    // Its own connection: a blocked XREAD would hold up every command queued behind it.
    this.blocking ??= this.openBlocking(waitMs).catch((error: unknown) => {
      this.blocking = null
      throw error
    })
    const blocking = await this.blocking
    const answer = (await blocking.xread('COUNT', count, 'BLOCK', waitMs, 'STREAMS', key, afterId)) as [string, Entry[]][] | null
    return (answer?.[0]?.[1] ?? []).map(([id, fields]) => [id, pairs(fields)])
  }

  private async openBlocking(waitMs: number): Promise<RedisClient> {
    const client = this.c.duplicate({ commandTimeout: waitMs + this.blockingTimeoutMarginMs, connectionName: 'ivs-fanout-events' } as never)
    client.on('error', () => {})
    await client.connect()
    return client
  }

  async ping(): Promise<void> {
    await this.c.ping()
  }

  async close(): Promise<void> {
    const blocking = this.blocking ? await this.blocking.catch(() => null) : null
    const clients = [blocking, this.client].filter((c): c is RedisClient => c !== null)
    this.blocking = null
    this.client = null
    this.notReady = 'closed'
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())))
  }
}

/**
 * The shared store on native Redis/Valkey ≥ 7 (ElastiCache, MemoryDB, self-hosted): the same Lua
 * and key layout as the Upstash store, under a hash-tagged prefix.
 */
export class RedisStore extends LuaStore {
  private readonly redis: IoredisDriver
  private cluster: boolean | null
  private readonly where: string
  private opening: Promise<'ready' | 'unreachable'> | null = null
  private closed = false

  constructor(private readonly settings: RedisStoreOptions) {
    const where = `${settings.connection.host}:${settings.connection.port}`
    const driver = new IoredisDriver(where, 1_500)
    super(driver, {
      kind: 'redis',
      prefix: hashTagged(settings.prefix),
      logger: settings.logger,
      stageCapacity: settings.stageCapacity,
      historyRetentionMs: settings.historyRetentionMs,
      describe: () => `redis ${describeConnection(settings.connection, this.cluster ?? false)}${this.cluster === null ? ' (cluster mode not known yet)' : ''}`,
    })
    this.redis = driver
    this.where = where
    this.cluster = settings.connection.cluster === 'auto' ? null : settings.connection.cluster
  }

  /**
   * Connects, waiting at most `waitMs`. Rejects with RedisConfigError when Redis refuses the
   * configuration; resolves 'unreachable' when Redis does not answer in time, and then goes on
   * trying in the background (the store answers 503 meanwhile).
   */
  open(waitMs = 5_000): Promise<'ready' | 'unreachable'> {
    this.opening ??= this.connect(waitMs)
    return this.opening
  }

  private async connect(waitMs: number): Promise<'ready' | 'unreachable'> {
    const options = { commandTimeoutMs: this.settings.commandTimeoutMs ?? 800, connectTimeoutMs: this.settings.connectTimeoutMs ?? 2_000, name: 'ivs-fanout' }
    const deadline = performance.now() + waitMs
    // TLS against a plain port (or the reverse) only shows as a dropped or silent connection: ask first.
    const mismatch = await protocolMismatch(this.settings.connection)
    if (mismatch) throw new RedisConfigError(mismatch)
    // Cluster mode not configured: ask the server, retrying until it answers.
    for (let attempt = 0; this.cluster === null && !this.closed; attempt++) {
      try {
        this.cluster = await isClusterNode(this.settings.connection, options)
      } catch (error) {
        if (error instanceof RedisConfigError) throw error
        this.redis.notReady = `not reachable (${describeError(error)}); retrying`
        if (performance.now() >= deadline) {
          void this.connect(Number.POSITIVE_INFINITY).catch((e) => this.configErrorLater(e))
          return 'unreachable'
        }
        await new Promise((r) => setTimeout(r, reconnectDelay(attempt)))
      }
    }
    if (this.closed) return 'unreachable'
    const client = createClient(this.settings.connection, this.cluster!, options)
    client.on('error', (error: unknown) => {
      this.redis.notReady = `not reachable (${describeError(error)}); reconnecting`
      this.settings.logger.debug('redis connection error', { error: describeError(error) })
    })
    client.on('ready', () => {
      this.redis.notReady = 'ready'
    })
    this.redis.client = client
    const state = await connectClient(client, this.settings.connection, Math.max(0, deadline - performance.now()))
    if (state === 'unreachable') {
      // Still connecting; a configuration error that shows up later is fatal all the same.
      void connectClient(client, this.settings.connection, 24 * 3600_000).catch((e) => this.configErrorLater(e))
    }
    return state
  }

  private configErrorLater(error: unknown): void {
    if (error instanceof RedisConfigError) this.settings.onConfigError?.(error)
  }

  /** For /health: says why Redis cannot be used (not reachable, reconnecting, refused) rather than a bare 503. */
  override async ping(): Promise<void> {
    if (this.redis.notReady !== 'ready') throw new Error(`Redis at ${this.where}: ${this.redis.notReady}`)
    try {
      await this.redis.ping()
    } catch (error) {
      throw new Error(`Redis at ${this.where} did not answer PING: ${describeError(error)}`)
    }
  }

  override async close(): Promise<void> {
    this.closed = true
    await super.close()
  }
}
