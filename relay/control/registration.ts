import { describeError } from '../../src/errors'
import type { Logger } from '../../src/log'
import { realSchedule, type Schedule, type Ticker } from '../../src/ticker'
import { backoffDelay } from '../backoff'
import { ControlPlaneError, type RelayReport, type StageEvents, type StageList } from './control-plane'
import type { FeedingSwitch } from './feeding'
import type { ControlLink } from './link'
import { type MediaReport, type MediaSource, mediaReport } from './media-report'

/**
 * The live stages are looked at this often (no call); a change since the last heartbeat is reported
 * at once, so serve's view of which stages the relay feeds (/api/stats) follows within a moment, not
 * a heartbeat interval later.
 */
export const STAGE_CHECK_MS = 500

/** The calls to the API server the registration makes (control-plane.ts; tests pass their own). */
export interface ControlApi {
  register(): Promise<string[]>
  stages(): Promise<StageList>
  heartbeat(report: RelayReport): Promise<void>
  follow(handlers: StageEvents): { close(): void }
}

/**
 * What the registration keeps in step with the API server's stages (the fan-out). With the media
 * source's members too (the Fanout has them), heartbeats also report the ingest and the stage sessions.
 */
export interface StageFollower extends Partial<MediaSource> {
  readonly publisherActive: boolean
  /** How long the publisher has been connected; null while none is. */
  publisherAgeMs(): number | null
  liveStages(): string[]
  syncStages(arns: string[]): Promise<void>
  addStage(arn: string): void
  removeStage(arn: string): Promise<void>
}

export interface RegistrationSettings {
  serverId: string
  apiServerUrl: string
  heartbeatIntervalMs: number
  stageSyncIntervalMs: number
  /** Full stage sync on a timer besides the events (ENABLE_AUTO_SYNC). */
  enableAutoSync: boolean
  /** Registration retries (default 500 ms doubling up to 15 s, full jitter). */
  backoff: { baseMs: number; capMs: number }
}

export interface RegistrationDeps {
  api: ControlApi
  stages: StageFollower
  /** Whether this relay holds stage sessions (one feeding relay: serve's word and the publisher). */
  feeding: FeedingSwitch
  link: ControlLink
  ticker: Ticker
  logger: Logger
  /** Registration retries and the end of a linger wait on this (tests run them by hand). */
  schedule?: Schedule
  random?: () => number
}

/**
 * The relay's standing with the API server: registers until it is accepted (and again whenever a
 * heartbeat answers 404: the API server restarted or timed the relay out), follows the stage
 * events, heartbeats the publisher state and the live stages (at once when its publisher connects
 * or leaves, so serve can arbitrate), and re-syncs every stage on a timer so a missed event heals.
 * Stage sessions are held only while this relay feeds (FeedingSwitch): serve's `feeding_relay`
 * events and its stage list (`?serverId=`) say who does. What /health reports goes to `link`.
 */
export class RelayRegistration {
  private stopped = false
  private registering = false
  /** 404s in a row: the first registers again at once, later ones back off (no register/heartbeat storm). */
  private forgotten = 0
  private cancelRetry: (() => void) | null = null
  private cancelLinger: (() => void) | null = null
  private readonly cancels: (() => void)[] = []
  private events: { close(): void } | null = null
  /** feeding_relay events so far: a stage list asked for before the last one does not overrule it. */
  private told = 0
  /** The live stages the last heartbeat sent (sorted, joined), null before the first. */
  private reported: string | null = null

  constructor(
    private readonly deps: RegistrationDeps,
    private readonly settings: RegistrationSettings,
  ) {}

  /** The first registration attempt (retried in the background when it fails), then events and timers. */
  async start(): Promise<void> {
    await this.register(0)
    if (this.stopped) return
    const { api, link, ticker } = this.deps
    this.events = api.follow({
      onOpen: () => {
        link.markFollowing(true)
        void this.sync()
        // Also finds out at once whether the API server still knows us (it may have restarted).
        void this.beat()
      },
      onClose: () => link.markFollowing(false),
      onEvent: (type, data) => {
        const arn = typeof data.stageArn === 'string' ? data.stageArn : null
        // `relay: false`: a stage a replica feeds (hybrid), not this relay.
        if (type === 'stage_created' && arn && data.relay !== false && this.deps.feeding.feeding) this.deps.stages.addStage(arn)
        // Hybrid's origins changed: the stages the relay publishes into, as a whole.
        if (type === 'relay_stages' && Array.isArray(data.stageArns) && this.deps.feeding.feeding) {
          void this.deps.stages.syncStages(data.stageArns.filter((a): a is string => typeof a === 'string'))
        }
        if (type === 'stage_deleted' && arn) void this.deps.stages.removeStage(arn)
        if (type === 'feeding_relay' && (typeof data.serverId === 'string' || data.serverId === null)) {
          this.told++
          this.deps.feeding.tell(data.serverId)
          this.follow()
        }
      },
    })
    this.cancels.push(
      ticker.every(this.settings.heartbeatIntervalMs, () => {
        this.follow()
        return this.beat()
      }),
    )
    if (this.settings.enableAutoSync) this.cancels.push(ticker.every(this.settings.stageSyncIntervalMs, () => this.sync()))
    this.cancels.push(
      ticker.every(STAGE_CHECK_MS, () => {
        if (this.reported !== null && this.reported !== [...this.deps.stages.liveStages()].sort().join()) return this.beat()
      }),
    )
  }

  /** No more registrations, heartbeats, syncs or events. */
  stop(): void {
    this.stopped = true
    for (const cancel of this.cancels.splice(0)) cancel()
    this.cancelRetry?.()
    this.cancelRetry = null
    this.cancelLinger?.()
    this.cancelLinger = null
    this.events?.close()
    this.events = null
  }

  /** The last word after the stage sessions are closed: no publisher, no stages. */
  async farewell(): Promise<void> {
    await this.deps.api.heartbeat({ publisherActive: false, connectedStages: [], publisherAgeMs: null }).catch(() => {})
  }

  /** The publisher connected or left: serve hears it at once (it arbitrates the feeding relay), and the stage sessions follow. */
  publisherChanged(): void {
    if (this.stopped) return
    this.deps.feeding.publisher(this.deps.stages.publisherAgeMs() !== null)
    void this.beat()
    this.follow()
  }

  /** One heartbeat (the ticker's round); a 404 starts registering again. */
  async beat(): Promise<void> {
    const { api, stages, link, logger } = this.deps
    if (!link.registered || this.stopped) return
    const connectedStages = stages.liveStages()
    // Sent (whether or not it gets through): a change is reported once, a failure waits for the periodic heartbeat.
    this.reported = [...connectedStages].sort().join()
    try {
      await api.heartbeat({ publisherActive: stages.publisherActive, connectedStages, publisherAgeMs: stages.publisherAgeMs(), ...this.media() })
      this.forgotten = 0
    } catch (error) {
      if (this.stopped) return
      if (error instanceof ControlPlaneError && error.status === 404) {
        link.markUnregistered(`the API server no longer knows this relay (${describeError(error)}); registering again`)
        logger.warn('the API server no longer knows this relay; registering again', { serverId: this.settings.serverId })
        if (this.registering || this.cancelRetry) return
        const streak = this.forgotten++
        if (streak === 0) void this.register(0)
        else this.retryRegister(0, backoffDelay(streak, this.settings.backoff, this.deps.random))
      } else logger.warn('heartbeat failed', { error: describeError(error) })
    }
  }

  /** The ingest and stage sessions, when the follower can say (a heartbeat without them is still complete). */
  private media(): Partial<MediaReport> {
    const { stages } = this.deps
    return stages.publisherSession === undefined || !stages.stageSnapshots ? {} : mediaReport(stages as MediaSource)
  }

  /** One full stage sync (the ticker's round): the stages, and who feeds them; held only while this relay feeds. */
  async sync(): Promise<void> {
    if (this.stopped) return
    const { api, feeding, stages, logger } = this.deps
    const told = this.told
    try {
      const list = await api.stages()
      if (this.stopped) return
      // A feeding_relay event that came while the list was on its way is newer than the list's word.
      if (list.feedingRelay !== undefined && told === this.told) feeding.tell(list.feedingRelay)
      const was = feeding.feeding
      const feeds = feeding.decide()
      if (was !== feeds) this.logChange(feeds)
      await stages.syncStages(feeds ? list.arns : [])
      this.scheduleLinger()
    } catch (error) {
      logger.warn('stage sync failed', { error: describeError(error) })
    }
  }

  /** Applies a change of serve's word or of the publisher: starts feeding with a fresh stage list, or lets every stage go (WHIP DELETE). */
  private follow(): void {
    if (this.stopped) return
    const { feeding, stages } = this.deps
    const was = feeding.feeding
    const feeds = feeding.decide()
    this.scheduleLinger()
    if (was === feeds) return
    this.logChange(feeds)
    if (feeds) void this.sync()
    else void stages.syncStages([]).catch((error) => this.deps.logger.warn('stage sessions did not all close', { error: describeError(error) }))
  }

  /** A linger that keeps this relay feeding ends on time (not only at the next heartbeat). */
  private scheduleLinger(): void {
    this.cancelLinger?.()
    this.cancelLinger = null
    const left = this.deps.feeding.lingerLeftMs()
    if (left !== null) this.cancelLinger = (this.deps.schedule ?? realSchedule)(() => this.follow(), left + 1)
  }

  private logChange(feeds: boolean): void {
    const { feeding, logger } = this.deps
    if (feeds) logger.info('feeding the stages', { feedingRelay: feeding.feedingRelay })
    else logger.info('not feeding the stages: their sessions end', { feedingRelay: feeding.feedingRelay })
  }

  private retryRegister(attempt: number, delayMs: number): void {
    this.cancelRetry = (this.deps.schedule ?? realSchedule)(() => void this.register(attempt), delayMs)
  }

  private async register(attempt: number): Promise<void> {
    this.cancelRetry = null
    if (this.stopped) return
    const { api, link, logger, stages } = this.deps
    this.registering = true
    let arns: string[]
    try {
      arns = await api.register()
    } catch (error) {
      if (this.stopped) return
      const delay = backoffDelay(attempt, this.settings.backoff, this.deps.random)
      link.markUnregistered(describeError(error))
      logger.warn('registration failed', { error: describeError(error), retryInMs: delay })
      this.retryRegister(attempt + 1, delay)
      return
    }
    this.registering = false
    if (this.stopped) return
    link.markRegistered()
    logger.info('registered with the API server', { serverId: this.settings.serverId, api: this.settings.apiServerUrl })
    void this.beat()
    const feeds = this.deps.feeding.decide()
    await stages.syncStages(feeds ? arns : []).catch((error) => logger.warn('stage sync failed', { error: describeError(error) }))
  }
}
