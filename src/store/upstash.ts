import { Redis } from '@upstash/redis'
import type { Logger } from '../log'
import type { ScriptName } from './lua'
import { pairs } from './lua-rows'
import { LuaStore, type RedisDriver } from './lua-store'
import type { StoreOptions } from './types'

export interface UpstashStoreOptions extends StoreOptions {
  url: string
  token: string
  prefix: string
  logger: Logger
  /** Per REST call; with the retries below a dead store fails a request well within 2 s. */
  requestTimeoutMs?: number
  retries?: number
}

type Script = ReturnType<Redis['createScript']>

/**
 * Redis over Upstash's REST protocol (@upstash/redis): EVALSHA with the client's own NOSCRIPT
 * fallback to EVAL; concurrent calls ride the client's auto-pipeline. No blocking reads: the event
 * feed polls.
 */
class UpstashDriver implements RedisDriver {
  private readonly scripts = new Map<ScriptName, Script>()

  constructor(private readonly redis: Redis) {}

  async loadScripts(lua: Record<ScriptName, string>): Promise<void> {
    const pipe = this.redis.pipeline()
    for (const source of Object.values(lua)) pipe.scriptLoad(source)
    await pipe.exec()
  }

  script(name: ScriptName, lua: string, keys: string[], args: string[]): Promise<unknown> {
    let script = this.scripts.get(name)
    if (!script) {
      script = this.redis.createScript(lua)
      this.scripts.set(name, script)
    }
    return script.exec(keys, args)
  }

  async incr(key: string): Promise<number> {
    return Number(await this.redis.incr(key))
  }

  async hsetAtomically(writes: [string, string, string][]): Promise<void> {
    const tx = this.redis.multi()
    for (const [key, field, value] of writes) tx.hset(key, { [field]: value })
    await tx.exec()
  }

  async hgetallMany(keys: string[]): Promise<Record<string, string>[]> {
    const pipe = this.redis.pipeline()
    for (const key of keys) pipe.hgetall(key)
    return (await pipe.exec<(string[] | null)[]>()).map(pairs)
  }

  get(key: string): Promise<string | null> {
    return this.redis.get<string>(key)
  }

  async swap(key: string, value: string): Promise<string | null> {
    return ((await this.redis.set<string>(key, value, { get: true })) as string | null) ?? null
  }

  async xadd(key: string, fields: Record<string, string>, approxMaxLen: number): Promise<string> {
    return String(await this.redis.xadd(key, '*', fields, { trim: { type: 'MAXLEN', threshold: approxMaxLen, comparison: '~' } }))
  }

  async xrange(key: string, start: string, count: number): Promise<[string, Record<string, string>][]> {
    const rows = (await this.redis.xrange(key, start, '+', count)) as unknown as [string, string[]][]
    return rows.map(([id, fields]) => [id, pairs(fields)])
  }

  async lastId(key: string): Promise<string | null> {
    const rows = (await this.redis.xrevrange(key, '+', '-', 1)) as unknown as [string, string[]][]
    return rows[0]?.[0] ?? null
  }

  async ping(): Promise<void> {
    await this.redis.ping()
  }

  async close(): Promise<void> {}
}

/** The shared store over Upstash's REST protocol. */
export class UpstashStore extends LuaStore {
  constructor(options: UpstashStoreOptions) {
    const timeout = options.requestTimeoutMs ?? 800
    const redis = new Redis({
      url: options.url,
      token: options.token,
      automaticDeserialization: false,
      enableTelemetry: false,
      retry: { retries: options.retries ?? 1, backoff: (attempt) => 50 * 2 ** attempt },
      signal: () => AbortSignal.timeout(timeout),
    })
    super(new UpstashDriver(redis), {
      kind: 'upstash',
      prefix: options.prefix,
      logger: options.logger,
      stageCapacity: options.stageCapacity,
      historyRetentionMs: options.historyRetentionMs,
      describe: () => `upstash ${new URL(options.url).host}`,
    })
  }
}
