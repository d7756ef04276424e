import { AppError, describeError } from '../errors'
import type { Logger } from '../log'
import { KeyFanout } from './fanout'
import { luaScripts, type ScriptName } from './lua'
import { LuaLimits } from './lua-limits'
import { LuaLocalStages } from './lua-local-stages'
import { NO_RELAY_BEAT, readBeat, toPresence, toView } from './lua-rows'

import {
  type AssignRequest,
  type AssignResult,
  DEFAULT_STAGE_CAPACITY,
  DEFAULT_WATCH_HISTORY_TTL_MS,
  type FleetEvent,
  type HeartbeatEntry,
  type HeartbeatOutcome,
  type Presence,
  type PublisherState,
  type RelayBeat,
  type RelayRecord,
  type StageRecord,
  type StageView,
  type Store,
  type StoredEvent,
  type StoreOptions,
  type ViewerDuration,
  type ViewerPage,
  type WatchSession,
} from './types'

const EVENTS_KEPT = 10_000
const NO_PUBLISHER: PublisherState = { active: false, updatedAt: null, serverId: null }
/**
 * The few things a Redis client does for the store: run one of the store's Lua scripts (by SHA,
 * reloading it when the server answers NOSCRIPT), and the plain commands around them. Answers are
 * raw (strings stay strings), in RESP2 shapes.
 */
export interface RedisDriver {
  /** Loads every script so that the first real call of each is a plain EVALSHA. */
  loadScripts(lua: Record<ScriptName, string>): Promise<void>
  script(name: ScriptName, lua: string, keys: string[], args: string[]): Promise<unknown>
  incr(key: string): Promise<number>
  /** HSET of each [key, field, value] in one MULTI/EXEC. */
  hsetAtomically(writes: [string, string, string][]): Promise<void>
  /** HGETALL of each key in one round trip, as field → value maps. */
  hgetallMany(keys: string[]): Promise<Record<string, string>[]>
  get(key: string): Promise<string | null>
  /** SET … GET: the previous value. */
  swap(key: string, value: string): Promise<string | null>
  xadd(key: string, fields: Record<string, string>, approxMaxLen: number): Promise<string>
  /** XRANGE from `start` ('-' or '(id'), oldest first. */
  xrange(key: string, start: string, count: number): Promise<[string, Record<string, string>][]>
  /** The newest entry's id, or null. */
  lastId(key: string): Promise<string | null>
  /** XREAD BLOCK on a dedicated connection: entries after `afterId`, waiting up to `waitMs` for the first. Absent where the client cannot block. */
  xreadBlocking?(key: string, afterId: string, count: number, waitMs: number): Promise<[string, Record<string, string>][]>
  ping(): Promise<void>
  close(): Promise<void>
}

export interface LuaStoreOptions extends StoreOptions {
  kind: 'upstash' | 'redis'
  /** Every key starts with this; the native store makes it a `{…}` hash tag so a fleet lives in one cluster slot. */
  prefix: string
  logger: Logger
  describe?: () => string
}

/**
 * The Store contract on Redis: every atomic operation is one Lua script (store/lua.ts), the rest
 * single commands or one MULTI. Shared by the Upstash REST and native RESP stores, which differ
 * only in their driver. Any failure to reach Redis surfaces as 503 UPSTREAM_UNAVAILABLE.
 */
export class LuaStore implements Store {
  readonly kind: 'upstash' | 'redis'
  readonly blockingReads: boolean
  readonly limits: LuaLimits
  readonly localStages: LuaLocalStages
  readonly fanout: KeyFanout
  private readonly lua: Record<ScriptName, string>
  private readonly p: string
  private readonly capacity: number

  constructor(
    private readonly driver: RedisDriver,
    private readonly options: LuaStoreOptions,
  ) {
    this.kind = options.kind
    this.p = options.prefix
    this.capacity = options.stageCapacity ?? DEFAULT_STAGE_CAPACITY
    this.lua = luaScripts(options.historyRetentionMs ?? DEFAULT_WATCH_HISTORY_TTL_MS)
    this.blockingReads = driver.xreadBlocking !== undefined
    this.limits = new LuaLimits((name, args) => this.run(name, args))
    this.localStages = new LuaLocalStages((name, args) => this.run(name, args))
    const fanoutKey = this.key('fanout')
    this.fanout = new KeyFanout({
      get: () => this.call('getFanout', () => this.driver.get(fanoutKey)),
      set: (value) => this.call('putFanout', () => this.driver.swap(fanoutKey, value)),
    })
  }

  describe(): string {
    return this.options.describe?.() ?? this.kind
  }

  async loadScripts(): Promise<void> {
    await this.call('loadScripts', () => this.driver.loadScripts(this.lua))
  }

  protected async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      this.options.logger.warn('store call failed', { op: what, error: describeError(error) })
      throw new AppError('UPSTREAM_UNAVAILABLE', 'the store is not reachable; retry shortly')
    }
  }

  /** KEYS[1] is a key of this fleet, so a cluster client routes the script to the node holding the fleet's slot. */
  private run<T = unknown>(name: ScriptName, args: (string | number)[]): Promise<T> {
    return this.call(name, () => this.driver.script(name, this.lua[name], [this.key('stages')], [this.p, ...args.map(String)]) as Promise<T>)
  }

  private key(name: string): string {
    return this.p + name
  }

  async ping(): Promise<void> {
    await this.call('ping', () => this.driver.ping())
  }

  async close(): Promise<void> {
    await this.driver.close().catch(() => {})
  }

  async addStage(stage: StageRecord, maxStages: number): Promise<boolean> {
    return Number(await this.run('addStage', [stage.arn, JSON.stringify(stage), maxStages])) === 1
  }

  async getStage(arn: string): Promise<StageView | null> {
    const [row] = await this.run<[string, number][]>('stageViews', [arn])
    return row ? toView(row, this.capacity) : null
  }

  async listStages(): Promise<StageView[]> {
    const rows = await this.run<[string, number][]>('stageViews', [''])
    return rows.map((row) => toView(row, this.capacity)).sort((a, b) => a.seq - b.seq)
  }

  async updateStage(arn: string, patch: Partial<Pick<StageRecord, 'name' | 'status' | 'drainingSince' | 'endpoints'>>): Promise<StageView | null> {
    const row = await this.run<[string, number] | null>('updateStage', [arn, JSON.stringify(patch)])
    return row ? toView(row, this.capacity) : null
  }

  async removeStage(arn: string, now: number): Promise<Presence[] | null> {
    const removed = await this.run<string[] | null>('removeStage', [arn, now])
    return removed ? removed.map((raw) => JSON.parse(raw) as Presence) : null
  }

  async nextStageSeq(): Promise<number> {
    return Number(await this.call('nextStageSeq', () => this.driver.incr(this.key('seq'))))
  }

  async assignViewer(request: AssignRequest): Promise<AssignResult> {
    const { userId, participantId, now } = request
    const raw = await this.run<string | null>('assignViewer', [
      userId,
      participantId,
      this.capacity,
      now,
      JSON.stringify(request.exclude ?? []),
      request.maxViewers ?? 0,
    ])
    if (!raw) return { ok: false, reason: 'full' }
    if (raw === 'quota') return { ok: false, reason: 'quota' }
    const [stageJson, count, stageArn, joinedAt, kept] = JSON.parse(raw) as [string, number, string, number, number]
    return {
      ok: true,
      stage: toView([stageJson, count], this.capacity),
      presence: { userId, participantId, stageArn, joinedAt, lastHeartbeatAt: now },
      kept: kept === 1,
    }
  }

  async setParticipantId(userId: string, stageArn: string, participantId: string): Promise<Presence | null> {
    const row = await this.run<[string, string] | null>('setParticipantId', [userId, stageArn, participantId])
    return row ? toPresence(userId, row[0], row[1]) : null
  }

  async heartbeat(entries: HeartbeatEntry[], now: number): Promise<HeartbeatOutcome[]> {
    if (entries.length === 0) return []
    return this.run<HeartbeatOutcome[]>('heartbeat', [now, ...entries.flatMap((e) => [e.userId, e.stageArn])])
  }

  async leaveViewer(userId: string, stageArn: string, now: number): Promise<WatchSession | null> {
    const raw = await this.run<string | null>('leaveViewer', [userId, stageArn, now])
    return raw ? (JSON.parse(raw) as WatchSession) : null
  }

  async sweepViewers(silentSince: number, now: number, limit: number): Promise<Presence[]> {
    const removed = await this.run<string[]>('sweepViewers', [silentSince, now, limit])
    return removed.map((raw) => JSON.parse(raw) as Presence)
  }

  async findViewer(userId: string): Promise<Presence | null> {
    const row = await this.run<[string, string] | null>('findViewer', [userId])
    return row ? toPresence(userId, row[0], row[1]) : null
  }

  async listViewers(stageArn: string, limit: number, cursor: string | null): Promise<ViewerPage> {
    const [rows, next] = await this.run<[[string, string, string][], string]>('listViewers', [stageArn, limit, cursor ?? ''])
    return { viewers: rows.map(([userId, raw, seen]) => toPresence(userId, raw, seen)), nextCursor: next === '' ? null : next }
  }

  async viewerDuration(userId: string, stageArn: string | null, now: number): Promise<ViewerDuration> {
    const [history, total, current] = await this.run<[string[], string, string]>('viewerDuration', [userId])
    const sessions = history.map((raw) => JSON.parse(raw) as WatchSession)
    let currentMs = 0
    if (current !== '') {
      const p = JSON.parse(current) as { stageArn: string; participantId: string; joinedAt: number }
      currentMs = Math.max(0, now - p.joinedAt)
      sessions.push({ stageArn: p.stageArn, participantId: p.participantId, joinedAt: p.joinedAt, leftAt: null, durationMs: currentMs })
    }
    if (stageArn === null) return { userId, totalMs: Number(total) + currentMs, sessions }
    const selected = sessions.filter((s) => s.stageArn === stageArn)
    return { userId, totalMs: selected.reduce((sum, s) => sum + s.durationMs, 0), sessions: selected }
  }

  async putRelay(relay: RelayRecord): Promise<void> {
    const { publisherActive, connectedStages, stageArns, lastHeartbeatAt, offlineSince, ...registration } = relay
    const beat: RelayBeat = { publisherActive, connectedStages, stageArns, lastHeartbeatAt, offlineSince }
    await this.call('putRelay', () =>
      this.driver.hsetAtomically([
        [this.key('relays'), relay.serverId, JSON.stringify(registration)],
        [this.key('relayhb'), relay.serverId, JSON.stringify(beat)],
      ]),
    )
  }

  async heartbeatRelay(serverId: string, beat: Omit<RelayBeat, 'offlineSince'>): Promise<boolean> {
    return Number(await this.run('heartbeatRelay', [serverId, JSON.stringify({ ...beat, offlineSince: null })])) === 1
  }

  async markRelayOffline(serverId: string, silentSince: number, now: number): Promise<boolean> {
    return Number(await this.run('markRelayOffline', [serverId, silentSince, now])) === 1
  }

  async listRelays(): Promise<RelayRecord[]> {
    const [registrations, beats] = await this.call('listRelays', () => this.driver.hgetallMany([this.key('relays'), this.key('relayhb')]))
    return Object.entries(registrations!).map(([serverId, raw]) => ({
      ...(JSON.parse(raw) as Omit<RelayRecord, keyof RelayBeat>),
      ...readBeat(beats![serverId] ?? NO_RELAY_BEAT),
    }))
  }

  async getPublisherState(): Promise<PublisherState> {
    const raw = await this.call('getPublisherState', () => this.driver.get(this.key('publisher')))
    return raw ? (JSON.parse(raw) as PublisherState) : { ...NO_PUBLISHER }
  }

  async setPublisherState(state: PublisherState): Promise<PublisherState> {
    const previous = await this.call('setPublisherState', () => this.driver.swap(this.key('publisher'), JSON.stringify(state)))
    return previous ? (JSON.parse(previous) as PublisherState) : { ...NO_PUBLISHER }
  }

  async acquireLease(name: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    return Number(await this.run('acquireLease', [name, holder, ttlMs, now])) === 1
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.run('releaseLease', [name, holder])
  }

  async sharedSecret(name: string, candidate: string): Promise<string> {
    return this.run<string>('sharedSecret', [name, candidate])
  }

  async appendEvent(event: FleetEvent): Promise<string> {
    return this.call('appendEvent', () => this.driver.xadd(this.key('events'), { type: event.type, data: JSON.stringify(event.data) }, EVENTS_KEPT))
  }

  async readEvents(afterId: string | null, limit: number, waitMs = 0): Promise<StoredEvent[]> {
    const key = this.key('events')
    const rows =
      waitMs > 0 && this.driver.xreadBlocking
        ? await this.call('readEvents', () => this.driver.xreadBlocking!(key, afterId ?? '0-0', limit, waitMs))
        : await this.call('readEvents', () => this.driver.xrange(key, afterId === null ? '-' : `(${afterId}`, limit))
    return rows.map(([id, f]) => ({ id, type: f.type!, data: JSON.parse(f.data ?? '{}') as Record<string, unknown> }))
  }

  async lastEventId(): Promise<string | null> {
    return this.call('lastEventId', () => this.driver.lastId(this.key('events')))
  }
}
