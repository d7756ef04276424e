import { hostname } from 'node:os'
import { describeError } from '../src/errors'
import { randomSecret } from '../src/ids'
import type { Logger } from '../src/log'
import { Counters } from '../src/metrics/counters'
import { buildRelayApp } from './app'
import { backoffDelay } from './backoff'
import type { RelayConfig } from './config'
import { ControlPlane } from './control-plane'
import { Fanout } from './fanout'

export interface RelayHandle {
  app: ReturnType<typeof buildRelayApp>
  port: number
  url: string
  publishSecret: string
  fanout: Fanout
  stop(): Promise<void>
}

export interface RelayOptions {
  config: RelayConfig
  logger: Logger
  announce?: (line: string) => void
  /** Tests: ICE on loopback only, faster retries. */
  bindAddress?: string
  backoff?: { baseMs: number; capMs: number }
  feedbackTimeoutMs?: number
  mediaTimeoutMs?: number
  /** Per forwarded packet and stage: its in→out delay in ms (benchmarks). */
  onForwarded?(delayMs: number): void
}

/** Composition root of relay mode. */
export async function startRelay(options: RelayOptions): Promise<RelayHandle> {
  const { config, logger } = options
  let publishSecret = config.publishSecret
  if (publishSecret === null) {
    publishSecret = randomSecret(24)
    options.announce?.(`No PUBLISH_SECRET set: this run's publish secret (WHIP bearer token) is ${publishSecret}`)
  }
  // The port the relay reports is the one it really listens on (config may say 0).
  let control: ControlPlane | null = null
  const api = () => control!
  const fanout = new Fanout({
    grant: (arn) => api().grant(arn),
    logger,
    bindAddress: options.bindAddress,
    backoff: options.backoff,
    feedbackTimeoutMs: options.feedbackTimeoutMs,
    mediaTimeoutMs: options.mediaTimeoutMs,
    onForwarded: options.onForwarded,
  })
  const counters = new Counters()
  const app = buildRelayApp({
    fanout,
    publishSecret,
    logger,
    counters,
    startedAt: Date.now(),
    apiKey: config.apiSecretKey,
    metricsToken: config.metricsToken,
    checks: [{ name: 'api', kind: 'http', check: async () => void (await api().stages()) }],
  })
  app.listen({ port: config.port, hostname: '0.0.0.0' })
  const server = app.server!
  control = new ControlPlane({ ...config, port: server.port! }, logger)

  const timers: Timer[] = []
  let stopped = false
  const sync = async () => {
    try {
      await fanout.syncStages(await api().stages())
    } catch (error) {
      logger.warn('stage sync failed', { error: describeError(error) })
    }
  }
  // Register until the API server answers; then the event socket and timers keep us in step.
  const register = async (attempt = 0): Promise<void> => {
    if (stopped) return
    try {
      await fanout.syncStages(await api().register())
      logger.info('registered with the API server', { serverId: config.serverId, api: config.apiServerUrl })
    } catch (error) {
      const delay = backoffDelay(attempt, { baseMs: 500, capMs: 15_000 })
      logger.warn('registration failed', { error: describeError(error), retryInMs: delay })
      timers.push(setTimeout(() => void register(attempt + 1), delay))
    }
  }
  await register()
  const events = api().follow({
    onOpen: () => void sync(),
    onEvent: (type, data) => {
      const arn = typeof data.stageArn === 'string' ? data.stageArn : null
      if (type === 'stage_created' && arn) fanout.addStage(arn)
      if (type === 'stage_deleted' && arn) void fanout.removeStage(arn)
    },
  })
  timers.push(
    setInterval(() => {
      api()
        .heartbeat({ publisherActive: fanout.publisherActive, connectedStages: fanout.liveStages() })
        .catch((error: unknown) => {
          logger.warn('heartbeat failed', { error: describeError(error) })
        })
    }, config.heartbeatIntervalMs),
  )
  if (config.enableAutoSync) timers.push(setInterval(() => void sync(), config.stageSyncIntervalMs))
  logger.info('relay serving', { port: server.port, serverId: config.serverId, host: hostname() })

  let stopping: Promise<void> | null = null
  return {
    app,
    port: server.port!,
    url: `http://127.0.0.1:${server.port}`,
    publishSecret,
    fanout,
    stop() {
      stopping ??= (async () => {
        stopped = true
        for (const timer of timers) clearTimeout(timer)
        events.close()
        // WHIP DELETE on every stage session, then the publisher.
        await fanout.stop()
        await api()
          .heartbeat({ publisherActive: false, connectedStages: [] })
          .catch(() => {})
        await server.stop(true)
        logger.info('relay stopped')
      })()
      return stopping
    },
  }
}
