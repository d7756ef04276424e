import type { Clock } from '../clock'
import { AppError, describeError } from '../errors'
import type { Logger } from '../log'
import type { PublisherState, RelayIngest, RelayRecord, StageSessionCounts, Store } from '../store/types'
import type { EventPublisher } from './events'
import { decideFeeder } from './feeding'
import type { RelaySettings } from './settings'

export type RelayState = 'online' | 'offline'

export interface RelayView extends RelayRecord {
  state: RelayState
  /** Milliseconds since its last heartbeat. */
  ageMs: number
}

/** Asks IVS whether someone publishes into the master stage (null: cannot tell, e.g. local stages). */
export type PublisherProbe = () => Promise<boolean | null>

/** Which relay feeds the stages, as a relay asks it (GET /api/media/stages?serverId=). */
export interface FeedingAnswer {
  /** The asking relay is the one. */
  feeding: boolean
  /** The feeding relay, null when none holds a publisher. */
  feedingRelay: string | null
}

/**
 * The media relays: each one's registration and last report, kept per serverId. A relay silent for
 * `offlineAfterMs` is offline (a `media_server_offline` event, once). The publisher is active when
 * any online relay says so, so a second relay without the publisher cannot turn it off. With no
 * relay online (OBS publishing straight into the master stage), the leader asks IVS instead.
 *
 * One feeding relay (fleet/feeding.ts): the publisher state's `serverId` is the relay that publishes
 * into the stages, decided from the relays' records on every heartbeat (whichever instance gets it)
 * and on the leader's every tick; a change is a `feeding_relay` event.
 */
export class RelayService {
  private lastProbeAt = Number.NEGATIVE_INFINITY
  /** This instance's decisions, one at a time: each reads the records after the previous one wrote. */
  private deciding: Promise<void> = Promise.resolve()

  constructor(
    private readonly deps: { store: Store; events: EventPublisher; clock: Clock; logger: Logger; probe?: PublisherProbe },
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

  /**
   * `connectedStages`: a count, as the original media server sends it, or the list of stage ARNs.
   * `ingest`, `stageSessions`: what this project's relays report of their media (kept for /api/stats/publisher).
   * `publisherAgeMs`: how long its publisher has been connected (null: none connected; absent: the
   * relay does not say), kept as the time it connected by this instance's clock.
   *
   * `proven`: the caller proved the relay's secret (x-media-auth, or none is configured). The age
   * decides the feeding relay, so a heartbeat that did not prove it may not send one, nor speak for a
   * relay that reports it (this project's relays, which send x-media-auth): 401. What is left is the
   * original media server's heartbeat (the API key alone, no age), whose publisher counts as older
   * than any that reports an age, so it cannot take the stages from a relay that does.
   */
  async heartbeat(
    input: {
      serverId: string
      publisherActive: boolean
      connectedStages: number | string[]
      publisherAgeMs?: number | null
      ingest?: RelayIngest | null
      stageSessions?: StageSessionCounts
    },
    proven = true,
  ): Promise<void> {
    if (!proven && (input.publisherAgeMs !== undefined || (await this.reportsAge(input.serverId)))) {
      throw new AppError('UNAUTHORIZED', `x-media-auth header is required for a heartbeat that reports the publisher's age, or speaks for a relay that does`)
    }
    const now = this.deps.clock.now()
    const list = Array.isArray(input.connectedStages) ? input.connectedStages : []
    const age = input.publisherAgeMs
    const beat = {
      publisherActive: input.publisherActive,
      connectedStages: Array.isArray(input.connectedStages) ? list.length : input.connectedStages,
      stageArns: list,
      publisherSince: age === undefined || age === null ? age : now - age,
      lastHeartbeatAt: now,
      // What the relay says of its media, for the dashboard (each heartbeat replaces it; absent: not said).
      ingest: input.ingest,
      stageSessions: input.stageSessions,
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

  /**
   * The leader's round, when no relay is online: IVS's participant list of the master stage says
   * whether a publisher is on, at most once per `probeIntervalMs` (two stage operations, well inside
   * the account's 5 per second).
   */
  async probePublisher(): Promise<boolean | null> {
    const { store, clock, probe, logger } = this.deps
    const now = clock.now()
    if (!probe || now - this.lastProbeAt < this.settings.probeIntervalMs) return null
    if ((await store.listRelays()).some((r) => this.stateOf(r, now) === 'online')) return null
    this.lastProbeAt = now
    const active = await probe().catch((error: unknown) => {
      logger.warn('cannot ask IVS whether the publisher is on', { error: describeError(error) })
      return null
    })
    if (active === null) return null
    await this.setPublisher(await store.getPublisherState(), { active, updatedAt: now, serverId: null, source: 'ivs' })
    return active
  }

  async list(): Promise<RelayView[]> {
    const now = this.deps.clock.now()
    return (await this.deps.store.listRelays()).map((r) => ({ ...r, state: this.stateOf(r, now), ageMs: Math.max(0, now - r.lastHeartbeatAt) }))
  }

  publisherState(): Promise<PublisherState> {
    return this.deps.store.getPublisherState()
  }

  /** Whether `serverId` is the feeding relay, and which one is. */
  async feeding(serverId: string): Promise<FeedingAnswer> {
    const state = await this.deps.store.getPublisherState()
    const feedingRelay = state.source === 'ivs' ? null : state.serverId
    return { feeding: feedingRelay === serverId, feedingRelay }
  }

  /** The relay has reported its publisher's age (publisherSince kept, null included). */
  private async reportsAge(serverId: string): Promise<boolean> {
    return (await this.deps.store.listRelays()).some((r) => r.serverId === serverId && r.publisherSince !== undefined)
  }

  private stateOf(relay: RelayRecord, now: number): RelayState {
    return relay.offlineSince === null && now - relay.lastHeartbeatAt < this.settings.offlineAfterMs ? 'online' : 'offline'
  }

  /** One decision at a time in this instance (a failure is the caller's, and does not stop the next). */
  private refreshPublisherState(): Promise<void> {
    const run = this.deciding.then(() => this.decide())
    this.deciding = run.catch(() => {})
    return run
  }

  /**
   * Publisher active = any online relay reports it; the feeding relay is decided from the online
   * relays' records (fleet/feeding.ts), the current one kept on a tie. With no relay online, IVS's
   * last answer stands (probePublisher); a relay's word that lapsed turns the publisher off.
   */
  private async decide(): Promise<void> {
    const { store, clock } = this.deps
    const now = clock.now()
    const online = (await store.listRelays()).filter((r) => this.stateOf(r, now) === 'online')
    const previous = await store.getPublisherState()
    if (online.length === 0) {
      if (previous.source === 'ivs' || (!previous.active && previous.serverId === null)) return
      return this.setPublisher(previous, { active: false, updatedAt: now, serverId: null })
    }
    const feeder = decideFeeder(
      online.map((r) => ({ ...r, online: true })),
      previous.source === 'ivs' ? null : previous.serverId,
    )
    await this.setPublisher(previous, { active: online.some((r) => r.publisherActive), updatedAt: now, serverId: feeder, source: 'relay' })
  }

  /**
   * Stores the state when it changed; a `publisher_state` event when `active` changed, a
   * `feeding_relay` event when the feeding relay did (the atomic swap decides who tells).
   */
  private async setPublisher(previous: PublisherState, state: PublisherState): Promise<void> {
    const { store, events } = this.deps
    if (previous.active === state.active && previous.serverId === state.serverId && previous.source === state.source) return
    const swapped = await store.setPublisherState(state)
    const timestamp = new Date(state.updatedAt ?? 0).toISOString()
    if (swapped.active !== state.active) await events.publish('publisher_state', { active: state.active, source: state.source ?? null, timestamp })
    if (swapped.serverId !== state.serverId) await events.publish('feeding_relay', { serverId: state.serverId, timestamp })
  }
}
