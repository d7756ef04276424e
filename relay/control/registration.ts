import { describeError } from '../../src/errors'
import type { Logger } from '../../src/log'
import { realSchedule, type Schedule, type Ticker } from '../../src/ticker'
import { backoffDelay } from '../backoff'
import { ControlPlaneError, type RelayReport, type StageEvents } from './control-plane'
import type { ControlLink } from './link'

/** The calls to the API server the registration makes (control-plane.ts; tests pass their own). */
export interface ControlApi {
  register(): Promise<string[]>
  stages(): Promise<string[]>
  heartbeat(report: RelayReport): Promise<void>
  follow(handlers: StageEvents): { close(): void }
}

/** What the registration keeps in step with the API server's stages (the fan-out). */
export interface StageFollower {
  readonly publisherActive: boolean
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
  link: ControlLink
  ticker: Ticker
  logger: Logger
  /** Registration retries wait on this (tests run them by hand). */
  schedule?: Schedule
  random?: () => number
}

/**
 * The relay's standing with the API server: registers until it is accepted (and again whenever a
 * heartbeat answers 404: the API server restarted or timed the relay out), follows the stage
 * events, heartbeats the publisher state and the live stages, and re-syncs every stage on a timer
 * so a missed event heals. What it learns goes to the fan-out; what /health reports goes to `link`.
 */
export class RelayRegistration {
  private stopped = false
  private registering = false
  /** 404s in a row: the first registers again at once, later ones back off (no register/heartbeat storm). */
  private forgotten = 0
  private cancelRetry: (() => void) | null = null
  private readonly cancels: (() => void)[] = []
  private events: { close(): void } | null = null

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
        if (type === 'stage_created' && arn) this.deps.stages.addStage(arn)
        if (type === 'stage_deleted' && arn) void this.deps.stages.removeStage(arn)
      },
    })
    this.cancels.push(ticker.every(this.settings.heartbeatIntervalMs, () => this.beat()))
    if (this.settings.enableAutoSync) this.cancels.push(ticker.every(this.settings.stageSyncIntervalMs, () => this.sync()))
  }

  /** No more registrations, heartbeats, syncs or events. */
  stop(): void {
    this.stopped = true
    for (const cancel of this.cancels.splice(0)) cancel()
    this.cancelRetry?.()
    this.cancelRetry = null
    this.events?.close()
    this.events = null
  }

  /** The last word after the stage sessions are closed: no publisher, no stages. */
  async farewell(): Promise<void> {
    await this.deps.api.heartbeat({ publisherActive: false, connectedStages: [] }).catch(() => {})
  }

  /** One heartbeat (the ticker's round); a 404 starts registering again. */
  async beat(): Promise<void> {
    const { api, stages, link, logger } = this.deps
    if (!link.registered || this.stopped) return
    try {
      await api.heartbeat({ publisherActive: stages.publisherActive, connectedStages: stages.liveStages() })
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

  /** One full stage sync (the ticker's round). */
  async sync(): Promise<void> {
    if (this.stopped) return
    try {
      await this.deps.stages.syncStages(await this.deps.api.stages())
    } catch (error) {
      this.deps.logger.warn('stage sync failed', { error: describeError(error) })
    }
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
    await stages.syncStages(arns).catch((error) => logger.warn('stage sync failed', { error: describeError(error) }))
  }
}
