import type { FleetStats } from '../../fleet/stats'
import type { StatsAudience } from '../../fleet/stats-broadcast'
import type { StoredEvent } from '../../store/types'

export const CLIENT_TYPES = ['media-server', 'dashboard', 'viewer'] as const
export type ClientType = (typeof CLIENT_TYPES)[number]

export interface HubClient {
  type: ClientType
  /** Set for viewers: whom `rejoin_required` is for. */
  userId: string | null
  send(message: string): void
  close(code: number, reason: string): void
}

/** Which client types get each fleet event. */
const AUDIENCE: Record<string, ClientType[]> = {
  stage_created: ['media-server', 'dashboard'],
  stage_deleted: ['media-server', 'dashboard'],
  publisher_state: ['media-server', 'dashboard'],
  media_server_offline: ['media-server', 'dashboard'],
  feeding_relay: ['media-server', 'dashboard'],
  replication_started: ['dashboard'],
  replication_stopped: ['dashboard'],
  // FANOUT_MODE=hybrid: the relay publishes into these stages only (origins), the rest are replicas.
  relay_stages: ['media-server'],
}

const message = (type: string, data: unknown) => JSON.stringify({ type, data })

/** Close code for a socket whose viewer session has expired (like HTTP 401: authenticate again). */
export const SESSION_EXPIRED = 4401
/** setTimeout's longest delay (about 24.8 days); longer waits would fire at once. */
const MAX_DELAY_MS = 2 ** 31 - 1

/** The sockets of this instance, the frames they are sent (`{type, data}` JSON), and which client type gets which event. */
export class SocketHub implements StatsAudience {
  private readonly clients = new Set<HubClient>()
  private readonly expiries = new Map<HubClient, ReturnType<typeof setTimeout>>()
  private lastStats: string | null = null

  /** `expiresInMs`: the socket's credential (a viewer session) runs out then, and the socket is closed with 4401. */
  add(client: HubClient, expiresInMs?: number): void {
    this.clients.add(client)
    if (expiresInMs === undefined) return
    const timer = setTimeout(
      () => {
        this.expiries.delete(client)
        client.close(SESSION_EXPIRED, 'session expired')
      },
      Math.min(Math.max(0, expiresInMs), MAX_DELAY_MS),
    )
    this.expiries.set(client, timer)
  }

  remove(client: HubClient): void {
    this.clients.delete(client)
    clearTimeout(this.expiries.get(client))
    this.expiries.delete(client)
  }

  /** Sockets waiting for their session to expire. */
  get pendingExpiries(): number {
    return this.expiries.size
  }

  count(type?: ClientType): number {
    let n = 0
    for (const c of this.clients) if (!type || c.type === type) n++
    return n
  }

  deliver(event: StoredEvent): void {
    if (event.type === 'rejoin_required') {
      const users = new Set((event.data.userIds as string[] | undefined) ?? [])
      const text = message('rejoin_required', { stageArn: event.data.stageArn, timestamp: event.data.timestamp })
      for (const c of this.clients) if (c.type === 'viewer' && c.userId !== null && users.has(c.userId)) c.send(text)
      return
    }
    const audience = AUDIENCE[event.type]
    if (!audience) return
    const text = message(event.type, event.data)
    for (const c of this.clients) if (audience.includes(c.type)) c.send(text)
  }

  /** stats_update to dashboards and media servers, only when the figures changed since the last one sent. */
  publishStats(stats: FleetStats): boolean {
    const text = message('stats_update', stats)
    if (text === this.lastStats) return false
    this.lastStats = text
    for (const c of this.clients) if (c.type !== 'viewer') c.send(text)
    return true
  }

  /** Whether anyone would receive stats_update. */
  hasStatsAudience(): boolean {
    for (const c of this.clients) if (c.type !== 'viewer') return true
    return false
  }

  sendStats(client: HubClient, stats: FleetStats): void {
    client.send(message('stats_update', stats))
  }

  closeAll(code: number, reason: string): void {
    for (const timer of this.expiries.values()) clearTimeout(timer)
    this.expiries.clear()
    for (const c of this.clients) c.close(code, reason)
    this.clients.clear()
  }
}
