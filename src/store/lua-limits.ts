import type { Limits } from './limits'

/** The Lua of the fleet-wide limits (store/limits.ts), mirroring LocalLimits; same prelude as store/lua.ts (P = the prefix). */
export const LIMITS_LUA = {
  /** ARGV: P, name, member, limit, windowMs, holdUntil, now. 0 = taken, else ms to wait. */
  takeSlot: `
local P = ARGV[1]
local key, member, limit, window, hold, now = P..'slots:'..ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, hold, member)
  redis.call('PEXPIRE', key, math.max(1, hold - now) + window)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
`,
  /** ARGV: P, name, member, endedAt. */
  endSlot: `
local key = ARGV[1]..'slots:'..ARGV[2]
if redis.call('ZSCORE', key, ARGV[3]) then redis.call('ZADD', key, tonumber(ARGV[4]), ARGV[3]) end
return 1
`,
  /** ARGV: P, name, windowMs, now. */
  slotsInUse: `
local key = ARGV[1]..'slots:'..ARGV[2]
redis.call('ZREMRANGEBYSCORE', key, '-inf', tonumber(ARGV[4]) - tonumber(ARGV[3]))
return redis.call('ZCARD', key)
`,
  /** ARGV: P, windowMs, then names. Returns {count, ms left} per name. */
  countHits: `
local window = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local key = ARGV[1]..'hits:'..ARGV[i]
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('PEXPIRE', key, window) end
  local left = redis.call('PTTL', key)
  if left < 0 then
    redis.call('PEXPIRE', key, window)
    left = window
  end
  out[#out + 1] = {count, left}
end
return out
`,
  /** ARGV: P, name, value, ttlMs. */
  putNotice: `
redis.call('SET', ARGV[1]..'notice:'..ARGV[2], ARGV[3], 'PX', math.max(1, tonumber(ARGV[4])))
return 1
`,
  /** ARGV: P, name. Returns {value, ms left} or false. */
  getNotice: `
local key = ARGV[1]..'notice:'..ARGV[2]
local value = redis.call('GET', key)
if not value then return false end
return {value, redis.call('PTTL', key)}
`,
}

export type LimitScriptName = keyof typeof LIMITS_LUA

/** The limits on a Redis store: one script per operation, run by the store's driver. */
export class LuaLimits implements Limits {
  constructor(private readonly run: <T>(name: LimitScriptName, args: (string | number)[]) => Promise<T>) {}

  async takeSlot(name: string, member: string, limit: number, windowMs: number, holdUntil: number, now: number): Promise<number> {
    return Number(await this.run('takeSlot', [name, member, limit, windowMs, holdUntil, now]))
  }

  async endSlot(name: string, member: string, endedAt: number): Promise<void> {
    await this.run('endSlot', [name, member, endedAt])
  }

  async slotsInUse(name: string, windowMs: number, now: number): Promise<number> {
    return Number(await this.run('slotsInUse', [name, windowMs, now]))
  }

  async countHit(name: string, windowMs: number, now: number): Promise<{ count: number; resetInMs: number }> {
    return (await this.countHits([name], windowMs, now))[0]!
  }

  async countHits(names: string[], windowMs: number, _now: number): Promise<{ count: number; resetInMs: number }[]> {
    if (names.length === 0) return []
    const rows = await this.run<[number, number][]>('countHits', [windowMs, ...names])
    return rows.map(([count, left]) => ({ count: Number(count), resetInMs: Number(left) }))
  }

  async putNotice(name: string, value: string, ttlMs: number, _now: number): Promise<void> {
    await this.run('putNotice', [name, value, ttlMs])
  }

  async getNotice(name: string, _now: number): Promise<{ value: string; expiresInMs: number } | null> {
    const row = await this.run<[string, number] | null>('getNotice', [name])
    return row ? { value: row[0], expiresInMs: Number(row[1]) } : null
  }
}
