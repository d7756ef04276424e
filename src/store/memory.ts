import { MemoryFanout } from './fanout'
import { pickStage } from './fill-first'
import { LocalLimits } from './limits'
import { MemoryLocalStages } from './local-stages'
import { lowerBound } from './lower-bound'
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

const SESSIONS_KEPT_PER_USER = 100
const EVENTS_KEPT = 10_000

interface StageEntry {
  record: StageRecord
  viewers: Map<string, Presence>
}

/** The embedded store: one process, no persistence. JavaScript's single thread makes every method atomic. */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const
  readonly blockingReads = false
  readonly limits = new LocalLimits()
  readonly localStages = new MemoryLocalStages()
  readonly fanout = new MemoryFanout()
  private readonly stageCapacity: number
  /** Finished sessions and watch totals are forgotten this long after a viewer's last session. */
  private readonly historyRetentionMs: number

  constructor(options: StoreOptions = {}) {
    this.stageCapacity = options.stageCapacity ?? DEFAULT_STAGE_CAPACITY
    this.historyRetentionMs = options.historyRetentionMs ?? DEFAULT_WATCH_HISTORY_TTL_MS
  }
  private readonly stages = new Map<string, StageEntry>()
  private readonly presenceByUser = new Map<string, Presence>()
  private readonly history = new Map<string, { totalMs: number; sessions: WatchSession[]; lastAt: number }>()
  private nextHistoryPrune = 0
  private readonly relays = new Map<string, RelayRecord>()
  private publisher: PublisherState = { active: false, updatedAt: null, serverId: null }
  private readonly leases = new Map<string, { holder: string; expiresAt: number }>()
  private readonly secrets = new Map<string, string>()
  private events: StoredEvent[] = []
  private eventSeq = 0
  private stageSeq = 0

  async ping(): Promise<void> {}
  async close(): Promise<void> {}

  describe(): string {
    return 'memory (this process only)'
  }

  async addStage(stage: StageRecord, maxStages: number): Promise<boolean> {
    if (this.stages.has(stage.arn)) return true
    if (this.stages.size >= maxStages) return false
    this.stages.set(stage.arn, { record: { ...stage }, viewers: new Map() })
    this.stageSeq = Math.max(this.stageSeq, stage.seq)
    return true
  }

  async getStage(arn: string): Promise<StageView | null> {
    const entry = this.stages.get(arn)
    return entry ? this.view(entry) : null
  }

  async listStages(): Promise<StageView[]> {
    return [...this.stages.values()].map((entry) => this.view(entry)).sort((a, b) => a.seq - b.seq)
  }

  async updateStage(arn: string, patch: Partial<Pick<StageRecord, 'name' | 'status' | 'drainingSince' | 'endpoints'>>): Promise<StageView | null> {
    const entry = this.stages.get(arn)
    if (!entry) return null
    entry.record = { ...entry.record, ...patch }
    return this.view(entry)
  }

  async removeStage(arn: string, now: number): Promise<Presence[] | null> {
    const entry = this.stages.get(arn)
    if (!entry) return null
    const removed = [...entry.viewers.values()]
    for (const presence of removed) this.closeSession(presence, now)
    this.stages.delete(arn)
    return removed
  }

  async nextStageSeq(): Promise<number> {
    return ++this.stageSeq
  }

  async assignViewer(request: AssignRequest): Promise<AssignResult> {
    const { userId, participantId, now } = request
    const exclude = request.exclude ?? []
    const current = this.presenceByUser.get(userId)
    if (current) {
      const entry = this.stages.get(current.stageArn)
      if (entry && entry.record.status === 'active' && !exclude.includes(current.stageArn)) {
        current.participantId = participantId
        current.lastHeartbeatAt = now
        return { ok: true, stage: this.view(entry), presence: { ...current }, kept: true }
      }
    }
    const candidates = [...this.stages.values()].map((entry) => this.view(entry))
    if (!current && request.maxViewers !== undefined && candidates.reduce((sum, s) => sum + s.viewerCount, 0) >= request.maxViewers)
      return { ok: false, reason: 'quota' }
    const target = pickStage(candidates, exclude)
    if (!target) return { ok: false, reason: 'full' }
    if (current) this.closeSession(current, now)
    const presence: Presence = { userId, participantId, stageArn: target.arn, joinedAt: now, lastHeartbeatAt: now }
    const entry = this.stages.get(target.arn)!
    entry.viewers.set(userId, presence)
    this.presenceByUser.set(userId, presence)
    return { ok: true, stage: this.view(entry), presence: { ...presence }, kept: false }
  }

  async setParticipantId(userId: string, stageArn: string, participantId: string): Promise<Presence | null> {
    const presence = this.presenceByUser.get(userId)
    if (presence?.stageArn !== stageArn) return null
    presence.participantId = participantId
    return { ...presence }
  }

  async heartbeat(entries: HeartbeatEntry[], now: number): Promise<HeartbeatOutcome[]> {
    return entries.map(({ userId, stageArn }) => {
      const entry = this.stages.get(stageArn)
      const presence = entry?.viewers.get(userId)
      if (!entry || !presence) return 'unknown'
      presence.lastHeartbeatAt = Math.max(presence.lastHeartbeatAt, now)
      return entry.record.status === 'draining' ? 'draining' : 'ok'
    })
  }

  async leaveViewer(userId: string, stageArn: string, now: number): Promise<WatchSession | null> {
    const presence = this.stages.get(stageArn)?.viewers.get(userId)
    return presence ? this.closeSession(presence, now) : null
  }

  async sweepViewers(silentSince: number, now: number, limit: number): Promise<Presence[]> {
    const removed: Presence[] = []
    for (const presence of this.presenceByUser.values()) {
      if (removed.length >= limit) break
      if (presence.lastHeartbeatAt < silentSince) removed.push(presence)
    }
    // Watch time ends at the last sign of life, not at the sweep.
    for (const presence of removed) this.closeSession(presence, Math.min(now, presence.lastHeartbeatAt))
    if (now >= this.nextHistoryPrune) this.pruneHistory(now)
    return removed.map((p) => ({ ...p }))
  }

  async findViewer(userId: string): Promise<Presence | null> {
    const presence = this.presenceByUser.get(userId)
    return presence ? { ...presence } : null
  }

  async listViewers(stageArn: string, limit: number, cursor: string | null): Promise<ViewerPage> {
    const entry = this.stages.get(stageArn)
    if (!entry) return { viewers: [], nextCursor: null }
    const ids = [...entry.viewers.keys()].sort()
    let start = 0
    if (cursor !== null) {
      start = lowerBound(ids, cursor)
      if (ids[start] === cursor) start++
    }
    const page = ids.slice(start, start + limit)
    const nextCursor = start + limit < ids.length ? page[page.length - 1]! : null
    return { viewers: page.map((id) => ({ ...entry.viewers.get(id)! })), nextCursor }
  }

  async viewerDuration(userId: string, stageArn: string | null, now: number): Promise<ViewerDuration> {
    const past = this.history.get(userId)?.sessions ?? []
    const sessions = [...past]
    const current = this.presenceByUser.get(userId)
    if (current) sessions.push(openSession(current, now))
    const selected = stageArn === null ? sessions : sessions.filter((s) => s.stageArn === stageArn)
    const totalMs =
      stageArn === null ? (this.history.get(userId)?.totalMs ?? 0) + (current ? now - current.joinedAt : 0) : selected.reduce((sum, s) => sum + s.durationMs, 0)
    return { userId, totalMs, sessions: selected }
  }

  async putRelay(relay: RelayRecord): Promise<void> {
    this.relays.set(relay.serverId, { ...relay, stageArns: [...relay.stageArns] })
  }

  async heartbeatRelay(serverId: string, beat: Omit<RelayBeat, 'offlineSince'>): Promise<boolean> {
    const relay = this.relays.get(serverId)
    if (!relay) return false
    Object.assign(relay, beat, { stageArns: [...beat.stageArns], offlineSince: null })
    return true
  }

  async markRelayOffline(serverId: string, silentSince: number, now: number): Promise<boolean> {
    const relay = this.relays.get(serverId)
    if (!relay || relay.offlineSince !== null || relay.lastHeartbeatAt >= silentSince) return false
    relay.offlineSince = now
    return true
  }

  async listRelays(): Promise<RelayRecord[]> {
    return [...this.relays.values()].map((r) => ({ ...r, stageArns: [...r.stageArns] }))
  }

  async getPublisherState(): Promise<PublisherState> {
    return { ...this.publisher }
  }

  async setPublisherState(state: PublisherState): Promise<PublisherState> {
    const previous = this.publisher
    this.publisher = { ...state }
    return previous
  }

  async acquireLease(name: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    const lease = this.leases.get(name)
    if (lease && lease.holder !== holder && lease.expiresAt > now) return false
    this.leases.set(name, { holder, expiresAt: now + ttlMs })
    return true
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    if (this.leases.get(name)?.holder === holder) this.leases.delete(name)
  }

  async sharedSecret(name: string, candidate: string): Promise<string> {
    if (!this.secrets.has(name)) this.secrets.set(name, candidate)
    return this.secrets.get(name)!
  }

  async appendEvent(event: FleetEvent): Promise<string> {
    const id = String(++this.eventSeq)
    this.events.push({ ...event, id })
    if (this.events.length > EVENTS_KEPT * 2) this.events = this.events.slice(-EVENTS_KEPT)
    return id
  }

  async readEvents(afterId: string | null, limit: number): Promise<StoredEvent[]> {
    const after = afterId === null ? 0 : Number(afterId)
    const out: StoredEvent[] = []
    for (const event of this.events) {
      if (Number(event.id) > after) out.push(event)
      if (out.length >= limit) break
    }
    return out
  }

  async lastEventId(): Promise<string | null> {
    return this.eventSeq === 0 ? null : String(this.eventSeq)
  }

  private view(entry: StageEntry): StageView {
    return { ...entry.record, viewerCount: entry.viewers.size, capacity: this.stageCapacity }
  }

  private pruneHistory(now: number): void {
    for (const [userId, record] of this.history) if (record.lastAt < now - this.historyRetentionMs) this.history.delete(userId)
    this.nextHistoryPrune = now + 60_000
  }

  private closeSession(presence: Presence, now: number): WatchSession {
    this.stages.get(presence.stageArn)?.viewers.delete(presence.userId)
    if (this.presenceByUser.get(presence.userId) === presence) this.presenceByUser.delete(presence.userId)
    const session: WatchSession = { ...openSession(presence, now), leftAt: now }
    const record = this.history.get(presence.userId) ?? { totalMs: 0, sessions: [], lastAt: now }
    record.totalMs += session.durationMs
    record.lastAt = now
    record.sessions.push(session)
    if (record.sessions.length > SESSIONS_KEPT_PER_USER) record.sessions.shift()
    this.history.set(presence.userId, record)
    return session
  }
}

function openSession(presence: Presence, now: number): WatchSession {
  return {
    stageArn: presence.stageArn,
    participantId: presence.participantId,
    joinedAt: presence.joinedAt,
    leftAt: null,
    durationMs: Math.max(0, now - presence.joinedAt),
  }
}
