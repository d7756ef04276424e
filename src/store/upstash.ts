import { Redis } from '@upstash/redis'
import { AppError, describeError } from '../errors'
import type { Logger } from '../log'
import { luaScripts } from './lua'
import {
  DEFAULT_WATCH_HISTORY_TTL_MS,
  type AssignRequest, AssignResult, FleetEvent, HeartbeatEntry, HeartbeatOutcome, Presence, PublisherState,
  RelayRecord, StageRecord, StageView, Store, StoredEvent, ViewerDuration, ViewerPage, WatchSession,
} from './types'

export interface UpstashStoreOptions {
  url: string
  token: string
  prefix: string
  logger: Logger
  /** Per REST call; with the retries below a dead store fails a request well within 2 s. */
  requestTimeoutMs?: number
  retries?: number
  /** How long a viewer's finished sessions and watch total are kept after their last session. */
  historyRetentionMs?: number
}


const EVENTS_KEPT = 10_000

type Script = ReturnType<Redis['createScript']>

/**
 * The shared store on @upstash/redis. Every atomic operation is one Lua script (EVALSHA, with
 * the client's own NOSCRIPT fallback to EVAL); concurrent calls ride the client's auto-pipeline.
 * Any failure to reach Redis surfaces as 503 UPSTREAM_UNAVAILABLE.
 */
export class UpstashStore implements Store {
  readonly kind = 'upstash' as const
  private readonly redis: Redis
  private readonly lua: ReturnType<typeof luaScripts>
  private readonly scripts: { [K in keyof ReturnType<typeof luaScripts>]: Script }
  private readonly p: string

  constructor(private readonly options: UpstashStoreOptions) {
    const timeout = options.requestTimeoutMs ?? 800
    this.redis = new Redis({
      url: options.url,
      token: options.token,
      automaticDeserialization: false,
      enableTelemetry: false,
      retry: { retries: options.retries ?? 1, backoff: (attempt) => 50 * 2 ** attempt },
      signal: () => AbortSignal.timeout(timeout),
    })
    this.p = options.prefix
    this.lua = luaScripts(options.historyRetentionMs ?? DEFAULT_WATCH_HISTORY_TTL_MS)
    this.scripts = Object.fromEntries(Object.entries(this.lua).map(([name, lua]) => [name, this.redis.createScript(lua)])) as never
  }

  /** Loads every script in one pipeline so the first real call of each is a plain EVALSHA. */
  async loadScripts(): Promise<void> {
    await this.call('loadScripts', () => {
      const pipe = this.redis.pipeline()
      for (const lua of Object.values(this.lua)) pipe.scriptLoad(lua)
      return pipe.exec()
    })
  }

  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      this.options.logger.warn('store call failed', { op: what, error: describeError(error) })
      throw new AppError('UPSTREAM_UNAVAILABLE', 'the store is not reachable; retry shortly')
    }
  }

  private run<T = unknown>(name: keyof UpstashStore['lua'], args: (string | number)[]): Promise<T> {
    return this.call(name, () => this.scripts[name].exec([], [this.p, ...args.map(String)]) as Promise<T>)
  }

  private key(name: string): string {
    return this.p + name
  }

  async ping(): Promise<void> {
    await this.call('ping', () => this.redis.ping())
  }

  async addStage(stage: StageRecord, maxStages: number): Promise<boolean> {
    return (await this.run<number>('addStage', [stage.arn, JSON.stringify(stage), maxStages])) === 1
  }

  async getStage(arn: string): Promise<StageView | null> {
    const [row] = await this.run<[string, number][]>('stageViews', [arn])
    return row ? toView(row) : null
  }

  async listStages(): Promise<StageView[]> {
    const rows = await this.run<[string, number][]>('stageViews', [''])
    return rows.map(toView).sort((a, b) => a.seq - b.seq)
  }

  async updateStage(arn: string, patch: Partial<Pick<StageRecord, 'name' | 'status' | 'drainingSince' | 'endpoints'>>): Promise<StageView | null> {
    const row = await this.run<[string, number] | null>('updateStage', [arn, JSON.stringify(patch)])
    return row ? toView(row) : null
  }

  async removeStage(arn: string, now: number): Promise<Presence[] | null> {
    const removed = await this.run<string[] | null>('removeStage', [arn, now])
    return removed ? removed.map((raw) => JSON.parse(raw) as Presence) : null
  }

  async nextStageSeq(): Promise<number> {
    return Number(await this.call('nextStageSeq', () => this.redis.incr(this.key('seq'))))
  }

  async assignViewer(request: AssignRequest): Promise<AssignResult> {
    const { userId, participantId, capacity, now } = request
    const raw = await this.run<string | null>('assignViewer', [userId, participantId, capacity, now, JSON.stringify(request.exclude ?? [])])
    if (!raw) return { ok: false, reason: 'full' }
    const [stageJson, count, stageArn, joinedAt, kept] = JSON.parse(raw) as [string, number, string, number, number]
    return {
      ok: true,
      stage: { ...(JSON.parse(stageJson) as StageRecord), viewerCount: count },
      presence: { userId, participantId, stageArn, joinedAt, lastHeartbeatAt: now },
      kept: kept === 1,
    }
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
    const { publisherActive, connectedStages, lastHeartbeatAt, ...registration } = relay
    await this.call('putRelay', () =>
      this.redis.multi()
        .hset(this.key('relays'), { [relay.serverId]: JSON.stringify(registration) })
        .hset(this.key('relayhb'), { [relay.serverId]: JSON.stringify({ publisherActive, connectedStages, lastHeartbeatAt }) })
        .exec(),
    )
  }

  async heartbeatRelay(serverId: string, update: Pick<RelayRecord, 'publisherActive' | 'connectedStages' | 'lastHeartbeatAt'>): Promise<boolean> {
    return (await this.run<number>('heartbeatRelay', [serverId, JSON.stringify(update)])) === 1
  }

  async listRelays(): Promise<RelayRecord[]> {
    const [registrations, beats] = await this.call('listRelays', () =>
      this.redis.pipeline().hgetall(this.key('relays')).hgetall(this.key('relayhb')).exec<[string[] | null, string[] | null]>(),
    )
    const beatOf = pairs(beats)
    return Object.entries(pairs(registrations)).map(([serverId, raw]) => ({
      ...(JSON.parse(raw) as Omit<RelayRecord, 'publisherActive' | 'connectedStages' | 'lastHeartbeatAt'>),
      ...(JSON.parse(beatOf[serverId] ?? '{"publisherActive":false,"connectedStages":[],"lastHeartbeatAt":0}') as Pick<RelayRecord, 'publisherActive' | 'connectedStages' | 'lastHeartbeatAt'>),
    }))
  }

  async getPublisherState(): Promise<PublisherState> {
    const raw = await this.call('getPublisherState', () => this.redis.get<string>(this.key('publisher')))
    return raw ? (JSON.parse(raw) as PublisherState) : { active: false, updatedAt: null, serverId: null }
  }

  async setPublisherState(state: PublisherState): Promise<PublisherState> {
    const previous = await this.call('setPublisherState', () => this.redis.set<string>(this.key('publisher'), JSON.stringify(state), { get: true }))
    return previous ? (JSON.parse(previous as string) as PublisherState) : { active: false, updatedAt: null, serverId: null }
  }

  async acquireLease(name: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    return (await this.run<number>('acquireLease', [name, holder, ttlMs, now])) === 1
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.run('releaseLease', [name, holder])
  }

  async appendEvent(event: FleetEvent): Promise<string> {
    const id = await this.call('appendEvent', () =>
      this.redis.xadd(this.key('events'), '*', { type: event.type, data: JSON.stringify(event.data) }, { trim: { type: 'MAXLEN', threshold: EVENTS_KEPT, comparison: '~' } }),
    )
    return String(id)
  }

  async readEvents(afterId: string | null, limit: number): Promise<StoredEvent[]> {
    const start = afterId === null ? '-' : `(${afterId}`
    const rows = await this.call('readEvents', () => this.redis.xrange(this.key('events'), start, '+', limit))
    return (rows as unknown as [string, string[]][]).map(([id, fields]) => {
      const f = pairs(fields)
      return { id, type: f.type!, data: JSON.parse(f.data ?? '{}') as Record<string, unknown> }
    })
  }

  async lastEventId(): Promise<string | null> {
    const rows = await this.call('lastEventId', () => this.redis.xrevrange(this.key('events'), '+', '-', 1))
    return (rows as unknown as [string, string[]][])[0]?.[0] ?? null
  }
}

/** Raw (undeserialized) HGETALL-style answers are flat [key, value, ...] arrays. */
function pairs(flat: string[] | null | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; flat && i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!
  return out
}

function toView([raw, count]: [string, number]): StageView {
  return { ...(JSON.parse(raw) as StageRecord), viewerCount: Number(count) }
}

function toPresence(userId: string, raw: string, seen: string): Presence {
  const p = JSON.parse(raw) as { stageArn: string; participantId: string; joinedAt: number }
  return { userId, stageArn: p.stageArn, participantId: p.participantId, joinedAt: p.joinedAt, lastHeartbeatAt: Number(seen) }
}
