/**
 * Lua for the Redis-backed stores: each atomic Store operation is one script. Keys are built from the
 * prefix in ARGV[1] because several (a stage's members, a user's history) are only known inside
 * the script. KEYS[1] is always one key of the fleet (P..'stages'): it routes the call in a cluster,
 * and the native store's prefix is a `{…}` hash tag, so every key a script builds is in that slot.
 *
 * Layout under prefix P:
 *   P stages          HASH  arn -> StageRecord JSON
 *   P members:<arn>   ZSET  userIds seated on the stage (score 0, ordered by name for cursors)
 *   P presence        HASH  userId -> {stageArn, participantId, joinedAt}
 *   P seen            ZSET  userId -> last heartbeat (ms)
 *   P history:<user>  LIST  finished sessions (last 100);  P watch:<user>  total ms; both expire after the retention
 *   P seq, P relays, P relayhb, P publisher, P lease:<name>, P events (stream)
 *   P secret:<name>   STRING the fleet's shared secrets (the viewer-session key), set once, never expiring
 *   P localstages     HASH  arn -> the local provider's stage {arn, name, tags} (store/lua-local-stages.ts)
 *
 * `assignViewer` mirrors the fill-first rule of store/fill-first.ts (hasFreeSeat, pickStage); the
 * store contract suite runs the same seating cases against both.
 */

import { LIMITS_LUA, type LimitScriptName } from './lua-limits'
import { LOCAL_STAGES_LUA, type LocalStageScriptName } from './lua-local-stages'

const PRELUDE = `
local P = ARGV[1]
local K_STAGES, K_PRESENCE, K_SEEN = P..'stages', P..'presence', P..'seen'
local HISTORY_TTL_MS = __HISTORY_TTL_MS__
local function members(arn) return P..'members:'..arn end

local function close_session(user, at_most)
  local raw = redis.call('HGET', K_PRESENCE, user)
  if not raw then return nil end
  local p = cjson.decode(raw)
  local seen = tonumber(redis.call('ZSCORE', K_SEEN, user)) or p.joinedAt
  redis.call('HDEL', K_PRESENCE, user)
  redis.call('ZREM', K_SEEN, user)
  redis.call('ZREM', members(p.stageArn), user)
  local left = at_most
  if left == nil then left = seen end
  local dur = math.max(0, left - p.joinedAt)
  local session = {stageArn = p.stageArn, participantId = p.participantId, joinedAt = p.joinedAt, leftAt = left, durationMs = dur}
  local history, watch = P..'history:'..user, P..'watch:'..user
  redis.call('RPUSH', history, cjson.encode(session))
  redis.call('LTRIM', history, -100, -1)
  redis.call('INCRBY', watch, dur)
  redis.call('PEXPIRE', history, HISTORY_TTL_MS)
  redis.call('PEXPIRE', watch, HISTORY_TTL_MS)
  p.userId = user
  p.lastHeartbeatAt = seen
  return p, session
end
`

const script = (body: string) => PRELUDE + body

export type ScriptName = keyof typeof LUA | LimitScriptName | LocalStageScriptName

/** Every script of the Redis stores, with the watch-history retention filled in. */
export function luaScripts(historyRetentionMs: number): Record<ScriptName, string> {
  const ttl = String(Math.max(1, Math.floor(historyRetentionMs)))
  const fleet = Object.entries(LUA).map(([name, lua]) => [name, lua.replace('__HISTORY_TTL_MS__', ttl)])
  return Object.fromEntries([...fleet, ...Object.entries(LIMITS_LUA), ...Object.entries(LOCAL_STAGES_LUA)]) as Record<ScriptName, string>
}

const LUA = {
  addStage: script(`
local arn, record, max = ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('HEXISTS', K_STAGES, arn) == 1 then return 1 end
if redis.call('HLEN', K_STAGES) >= max then return 0 end
redis.call('HSET', K_STAGES, arn, record)
local seq = cjson.decode(record).seq
if seq > tonumber(redis.call('GET', P..'seq') or '0') then redis.call('SET', P..'seq', seq) end
return 1
`),

  /** ARGV[2] = an ARN, or '' for all stages. Returns [[recordJson, viewerCount], ...]. */
  stageViews: script(`
local out = {}
if ARGV[2] ~= '' then
  local raw = redis.call('HGET', K_STAGES, ARGV[2])
  if raw then out[1] = {raw, redis.call('ZCARD', members(ARGV[2]))} end
else
  local all = redis.call('HGETALL', K_STAGES)
  for i = 1, #all, 2 do out[#out + 1] = {all[i + 1], redis.call('ZCARD', members(all[i]))} end
end
return out
`),

  updateStage: script(`
local arn, patch = ARGV[2], cjson.decode(ARGV[3])
local raw = redis.call('HGET', K_STAGES, arn)
if not raw then return false end
local stage = cjson.decode(raw)
for k, v in pairs(patch) do stage[k] = v end
local encoded = cjson.encode(stage)
redis.call('HSET', K_STAGES, arn, encoded)
return {encoded, redis.call('ZCARD', members(arn))}
`),

  removeStage: script(`
local arn, now = ARGV[2], tonumber(ARGV[3])
if redis.call('HEXISTS', K_STAGES, arn) == 0 then return false end
local removed = {}
for _, user in ipairs(redis.call('ZRANGE', members(arn), 0, -1)) do
  local p = close_session(user, now)
  if p then removed[#removed + 1] = cjson.encode(p) end
end
redis.call('HDEL', K_STAGES, arn)
redis.call('DEL', members(arn))
return removed
`),

  /** ARGV: P, userId, participantId, capacity, now, excludeJson, maxViewers (0 = none). */
  assignViewer: script(`
local user, pid, capacity, now, max_viewers = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[7])
local excluded = {}
for _, arn in ipairs(cjson.decode(ARGV[6])) do excluded[arn] = true end
local current = redis.call('HGET', K_PRESENCE, user)
if current then
  local p = cjson.decode(current)
  local raw = redis.call('HGET', K_STAGES, p.stageArn)
  if raw and not excluded[p.stageArn] and cjson.decode(raw).status == 'active' then
    p.participantId = pid
    redis.call('HSET', K_PRESENCE, user, cjson.encode(p))
    redis.call('ZADD', K_SEEN, now, user)
    return cjson.encode({raw, redis.call('ZCARD', members(p.stageArn)), p.stageArn, p.joinedAt, 1})
  end
end
-- fill-first (store/fill-first.ts): the lowest-seq active, non-excluded stage below capacity
local best, best_raw, best_count
local total = 0
local all = redis.call('HGETALL', K_STAGES)
for i = 1, #all, 2 do
  local arn = all[i]
  local stage = cjson.decode(all[i + 1])
  local count = redis.call('ZCARD', members(arn))
  total = total + count
  if stage.status == 'active' and not excluded[arn] then
    if count < capacity and (best == nil or stage.seq < best.seq) then
      best, best_raw, best_count = stage, all[i + 1], count
    end
  end
end
if not current and max_viewers > 0 and total >= max_viewers then return 'quota' end
if best == nil then return false end
if current then close_session(user, now) end
redis.call('HSET', K_PRESENCE, user, cjson.encode({stageArn = best.arn, participantId = pid, joinedAt = now}))
redis.call('ZADD', K_SEEN, now, user)
redis.call('ZADD', members(best.arn), 0, user)
return cjson.encode({best_raw, best_count + 1, best.arn, now, 0})
`),

  /** ARGV: P, userId, stageArn, participantId. The presence row afterwards, or false when the viewer is not on that stage. */
  setParticipantId: script(`
local user, arn = ARGV[2], ARGV[3]
local raw = redis.call('HGET', K_PRESENCE, user)
if not raw then return false end
local p = cjson.decode(raw)
if p.stageArn ~= arn then return false end
p.participantId = ARGV[4]
local encoded = cjson.encode(p)
redis.call('HSET', K_PRESENCE, user, encoded)
return {encoded, redis.call('ZSCORE', K_SEEN, user)}
`),

  /** ARGV: P, now, then userId, stageArn pairs. Returns one of ok/draining/unknown per pair. */
  heartbeat: script(`
local now = tonumber(ARGV[2])
local status = {}
local out = {}
for i = 3, #ARGV, 2 do
  local user, arn = ARGV[i], ARGV[i + 1]
  local result = 'unknown'
  if redis.call('ZSCORE', members(arn), user) then
    if status[arn] == nil then
      local raw = redis.call('HGET', K_STAGES, arn)
      status[arn] = raw and cjson.decode(raw).status or 'gone'
    end
    if status[arn] ~= 'gone' then
      redis.call('ZADD', K_SEEN, 'GT', now, user)
      result = status[arn] == 'draining' and 'draining' or 'ok'
    end
  end
  out[#out + 1] = result
end
return out
`),

  leaveViewer: script(`
local user, arn, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
if not redis.call('ZSCORE', members(arn), user) then return false end
local _, session = close_session(user, now)
return cjson.encode(session)
`),

  sweepViewers: script(`
local silent_since, now, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local removed = {}
for _, user in ipairs(redis.call('ZRANGEBYSCORE', K_SEEN, '-inf', '(' .. silent_since, 'LIMIT', 0, limit)) do
  local seen = tonumber(redis.call('ZSCORE', K_SEEN, user))
  local p = close_session(user, math.min(now, seen))
  if p then removed[#removed + 1] = cjson.encode(p) end
end
return removed
`),

  findViewer: script(`
local raw = redis.call('HGET', K_PRESENCE, ARGV[2])
if not raw then return false end
return {raw, redis.call('ZSCORE', K_SEEN, ARGV[2])}
`),

  /** ARGV: P, arn, limit, cursor ('' for the first page). */
  listViewers: script(`
local arn, limit, cursor = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local from = cursor == '' and '-' or '(' .. cursor
local users = redis.call('ZRANGEBYLEX', members(arn), from, '+', 'LIMIT', 0, limit + 1)
local out = {}
for i = 1, math.min(#users, limit) do
  local raw = redis.call('HGET', K_PRESENCE, users[i])
  if raw then out[#out + 1] = {users[i], raw, redis.call('ZSCORE', K_SEEN, users[i])} end
end
local next_cursor = ''
if #users > limit then next_cursor = users[limit] end
return {out, next_cursor}
`),

  viewerDuration: script(`
local user = ARGV[2]
return {
  redis.call('LRANGE', P..'history:'..user, 0, -1),
  redis.call('GET', P..'watch:'..user) or '0',
  redis.call('HGET', K_PRESENCE, user) or '',
}
`),

  heartbeatRelay: script(`
if redis.call('HEXISTS', P..'relays', ARGV[2]) == 0 then return 0 end
redis.call('HSET', P..'relayhb', ARGV[2], ARGV[3])
return 1
`),

  /** ARGV: P, serverId, silentSince, now. 1 when this call marked the relay offline. */
  markRelayOffline: script(`
local raw = redis.call('HGET', P..'relayhb', ARGV[2])
if not raw then return 0 end
local beat = cjson.decode(raw)
local offline = beat.offlineSince
if (offline ~= nil and offline ~= cjson.null) or tonumber(beat.lastHeartbeatAt) >= tonumber(ARGV[3]) then return 0 end
beat.offlineSince = tonumber(ARGV[4])
redis.call('HSET', P..'relayhb', ARGV[2], cjson.encode(beat))
return 1
`),

  /** ARGV: P, name, holder, ttlMs, now. The lease value is "<holder> <expiresAt>", judged by the caller's clock. */
  acquireLease: script(`
local key = P..'lease:'..ARGV[2]
local holder, ttl, now = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local current = redis.call('GET', key)
if current then
  local owner, expires = string.match(current, '^(.*) (%d+)$')
  if owner ~= holder and tonumber(expires) > now then return 0 end
end
redis.call('SET', key, holder .. ' ' .. string.format('%d', now + ttl), 'PX', ttl * 2)
return 1
`),

  /** ARGV: P, name, candidate. Set-if-absent, then the kept value (P secret:<name>, no expiry). */
  sharedSecret: script(`
local key = P..'secret:'..ARGV[2]
redis.call('SET', key, ARGV[3], 'NX')
return redis.call('GET', key)
`),

  releaseLease: script(`
local key = P..'lease:'..ARGV[2]
local current = redis.call('GET', key)
if current and string.match(current, '^(.*) %d+$') == ARGV[3] then redis.call('DEL', key) end
return 1
`),
}
