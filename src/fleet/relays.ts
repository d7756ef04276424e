import type { Clock } from '../clock'
import { AppError } from '../errors'
import type { Logger } from '../log'
import type { PublisherState, RelayRecord, Store } from '../store/types'
import type { EventPublisher } from './events'
import type { RelaySettings } from './settings'

export type RelayState = 'online' | 'offline'

export interface RelayView extends RelayRecord {
  state: RelayState
  /** Milliseconds since its last heartbeat. */
  ageMs: number
}

/**
 * The media relays: each one's registration and last report, kept per serverId. A relay silent for
 * `offlineAfterMs` is offline (a `media_server_offline` event, once). The publisher is active when
 * any online relay says so, so a second relay without the publisher cannot turn it off.
 */
export class RelayService {
  constructor(
    private readonly deps: { store: Store; events: EventPublisher; clock: Clock; logger: Logger },
    private readonly settings: RelaySettings,
  ) {}

  async register(input: { serverId: string; ipAddress: string; port: number }): Promise<void> {
    const now = this.deps.clock.now()
    await this.deps.store.putRelay({
      ...input,
      publisherActive: false,
      connectedStages: 0,
      stageArns: [],
      registeredAt: now,
      lastHeartbeatAt: now,
      offlineSince: null,
    })
    this.deps.logger.info('relay registered', input)
  }

  /** `connectedStages`: a count, as the original media server sends it, or the list of stage ARNs. */
  async heartbeat(input: { serverId: string; publisherActive: boolean; connectedStages: number | string[] }): Promise<void> {
    const now = this.deps.clock.now()
    const list = Array.isArray(input.connectedStages) ? input.connectedStages : []
    const beat = {
      publisherActive: input.publisherActive,
      connectedStages: Array.isArray(input.connectedStages) ? list.length : input.connectedStages,
      stageArns: list,
      lastHeartbeatAt: now,
    }
    if (!(await this.deps.store.heartbeatRelay(input.serverId, beat))) {
      throw new AppError('NOT_FOUND', `relay ${input.serverId} is not registered`, { action: 'register' })
    }
    await this.refreshPublisherState()
  }

  /** The leader's round: relays silent too long go offline (once each), and the publisher state follows. */
  async expireSilent(): Promise<string[]> {
    const { store, events, clock, logger } = this.deps
    const now = clock.now()
    const silentSince = now - this.settings.offlineAfterMs
    const expired: string[] = []
    for (const relay of await store.listRelays()) {
      if (relay.offlineSince !== null || relay.lastHeartbeatAt >= silentSince) continue
      if (!(await store.markRelayOffline(relay.serverId, silentSince, now))) continue
      expired.push(relay.serverId)
      logger.warn('relay offline', { serverId: relay.serverId, silentMs: now - relay.lastHeartbeatAt })
      await events.publish('media_server_offline', {
        serverId: relay.serverId,
        lastHeartbeatAt: new Date(relay.lastHeartbeatAt).toISOString(),
        timestamp: new Date(now).toISOString(),
      })
    }
    await this.refreshPublisherState()
    return expired
  }

  async list(): Promise<RelayView[]> {
    const now = this.deps.clock.now()
    return (await this.deps.store.listRelays()).map((r) => ({ ...r, state: this.stateOf(r, now), ageMs: Math.max(0, now - r.lastHeartbeatAt) }))
  }

  publisherState(): Promise<PublisherState> {
    return this.deps.store.getPublisherState()
  }

  private stateOf(relay: RelayRecord, now: number): RelayState {
    return relay.offlineSince === null && now - relay.lastHeartbeatAt < this.settings.offlineAfterMs ? 'online' : 'offline'
  }

  /** Publisher active = any online relay reports it; an event when that changes (the atomic swap decides who tells). */
  private async refreshPublisherState(): Promise<void> {
    const { store, events, clock } = this.deps
    const now = clock.now()
    const reporting = (await store.listRelays()).filter((r) => this.stateOf(r, now) === 'online' && r.publisherActive)
    const state: PublisherState = { active: reporting.length > 0, updatedAt: now, serverId: reporting[0]?.serverId ?? null }
    const previous = await store.getPublisherState()
    if (previous.active === state.active && previous.serverId === state.serverId) return
    const swapped = await store.setPublisherState(state)
    if (swapped.active !== state.active) await events.publish('publisher_state', { active: state.active, timestamp: new Date(now).toISOString() })
  }
}
