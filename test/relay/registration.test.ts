import { describe, expect, test } from 'bun:test'
import { ControlPlaneError, type RelayReport, type StageEvents } from '../../relay/control/control-plane'
import { ControlLink } from '../../relay/control/link'
import { type ControlApi, RelayRegistration, type StageFollower } from '../../relay/control/registration'
import { silentLogger } from '../../src/log'
import { ManualSchedule, ManualTicker } from '../support/clock'

/** An API server the test answers by hand: each call either succeeds or throws what `fail` says. */
class FakeApi implements ControlApi {
  stageList = ['arn:a', 'arn:b']
  registerFailures: Error[] = []
  /** Failures of the next heartbeats, one each. */
  heartbeatFailures: Error[] = []
  registers = 0
  reports: RelayReport[] = []
  handlers: StageEvents | null = null
  closed = false

  async register(): Promise<string[]> {
    this.registers++
    const failure = this.registerFailures.shift()
    if (failure) throw failure
    return [...this.stageList]
  }
  async stages(): Promise<string[]> {
    return [...this.stageList]
  }
  async heartbeat(report: RelayReport): Promise<void> {
    this.reports.push(report)
    const failure = this.heartbeatFailures.shift()
    if (failure) throw failure
  }
  follow(handlers: StageEvents) {
    this.handlers = handlers
    return { close: () => void (this.closed = true) }
  }
}

class FakeStages implements StageFollower {
  publisherActive = false
  readonly held = new Set<string>()
  syncs = 0
  liveStages(): string[] {
    return [...this.held]
  }
  async syncStages(arns: string[]): Promise<void> {
    this.syncs++
    this.held.clear()
    for (const arn of arns) this.held.add(arn)
  }
  addStage(arn: string): void {
    this.held.add(arn)
  }
  async removeStage(arn: string): Promise<void> {
    this.held.delete(arn)
  }
}

const settings = {
  serverId: 'relay-1',
  apiServerUrl: 'http://api.invalid',
  heartbeatIntervalMs: 30_000,
  stageSyncIntervalMs: 60_000,
  enableAutoSync: true,
  backoff: { baseMs: 500, capMs: 15_000 },
}

function setUp(over: Partial<typeof settings> = {}) {
  const api = new FakeApi()
  const stages = new FakeStages()
  const link = new ControlLink(settings.apiServerUrl)
  const ticker = new ManualTicker()
  const retries = new ManualSchedule()
  const registration = new RelayRegistration(
    { api, stages, link, ticker, logger: silentLogger, schedule: retries.schedule, random: () => 1 },
    { ...settings, ...over },
  )
  return { api, stages, link, ticker, retries, registration }
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0))

describe('RelayRegistration (no processes: a fake API server, a manual ticker and retry schedule)', () => {
  test('registers, takes the stage list, follows events, heartbeats and syncs on its ticker', async () => {
    const { api, stages, link, ticker, registration } = setUp()
    await registration.start()
    expect(link.registered).toBe(true)
    expect(stages.liveStages()).toEqual(['arn:a', 'arn:b'])
    expect(ticker.intervals.sort()).toEqual([30_000, 60_000])
    // The first heartbeat goes out right after registering, before any stage session is up.
    await flush()
    expect(api.reports).toEqual([{ publisherActive: false, connectedStages: [] }])

    api.handlers!.onOpen()
    expect(link.following).toBe(true)
    await flush()
    api.handlers!.onEvent('stage_created', { stageArn: 'arn:c' })
    api.handlers!.onEvent('stage_deleted', { stageArn: 'arn:a' })
    api.handlers!.onEvent('stats_update', { totalViewers: 3 })
    await flush()
    expect(stages.liveStages().sort()).toEqual(['arn:b', 'arn:c'])

    stages.publisherActive = true
    api.stageList = ['arn:b', 'arn:d']
    const syncsBefore = stages.syncs
    await ticker.fire()
    expect(stages.syncs).toBe(syncsBefore + 1)
    expect(stages.liveStages().sort()).toEqual(['arn:b', 'arn:d'])
    expect(api.reports.at(-1)!.publisherActive).toBe(true)

    api.handlers!.onClose?.({ code: 1006, reason: '' })
    expect(link.following).toBe(false)
  })

  test('ENABLE_AUTO_SYNC=false: heartbeats only, no periodic sync', async () => {
    const { ticker, registration } = setUp({ enableAutoSync: false })
    await registration.start()
    expect(ticker.intervals).toEqual([30_000])
  })

  test('a refused registration is retried with backoff until it is accepted; /health sees why meanwhile', async () => {
    const { api, link, retries, registration } = setUp()
    api.registerFailures = [new ControlPlaneError('API server not reachable: ECONNREFUSED', null), new ControlPlaneError('answered 503', 503)]
    await registration.start()
    expect(link.registered).toBe(false)
    expect(link.lastRegistrationError).toContain('ECONNREFUSED')
    // Full jitter with random() = 1: the cap of attempt 0 is the base.
    expect(retries.delays).toEqual([500])
    retries.runAll()
    await flush()
    expect(link.lastRegistrationError).toContain('503')
    expect(retries.delays).toEqual([1_000])
    retries.runAll()
    await flush()
    expect(link.registered).toBe(true)
    expect(link.lastRegistrationError).toBeNull()
    expect(api.registers).toBe(3)
    expect(retries.delays).toEqual([])
  })

  test('a heartbeat answered 404 (the API server forgot this relay) registers again; other failures do not', async () => {
    const { api, link, ticker, retries, registration } = setUp()
    await registration.start()
    await flush()
    api.heartbeatFailures = [new ControlPlaneError('answered 503', 503)]
    await ticker.fire()
    expect(link.registered).toBe(true)
    expect(api.registers).toBe(1)

    // Forgotten: registers again at once. Still forgotten right after: backs off instead of storming.
    const forgotten = () => new ControlPlaneError('POST /api/media/heartbeat answered 404 NOT_FOUND', 404)
    api.heartbeatFailures = [forgotten(), forgotten()]
    await registration.beat()
    await flush()
    expect(api.registers).toBe(2)
    expect(link.registered).toBe(false)
    expect(link.lastRegistrationError).toContain('no longer knows this relay')
    expect(retries.delays).toEqual([1_000])
    retries.runAll()
    await flush()
    expect(api.registers).toBe(3)
    expect(link.registered).toBe(true)
    // A heartbeat that gets through ends the streak: the next 404 registers at once again.
    await registration.beat()
    api.heartbeatFailures = [forgotten()]
    await registration.beat()
    await flush()
    expect(api.registers).toBe(4)
    expect(retries.delays).toEqual([])
  })

  test('no heartbeat while unregistered; stop ends timers, retries and the event socket; farewell reports nothing held', async () => {
    const { api, link, ticker, retries, registration } = setUp()
    api.registerFailures = [new ControlPlaneError('down', null)]
    await registration.start()
    await registration.beat()
    expect(api.reports).toEqual([])
    expect(link.registered).toBe(false)
    registration.stop()
    expect(retries.delays).toEqual([])
    expect(ticker.intervals).toEqual([])

    const second = setUp()
    await second.registration.start()
    second.registration.stop()
    expect(second.api.closed).toBe(true)
    expect(second.ticker.intervals).toEqual([])
    await second.registration.farewell()
    expect(second.api.reports.at(-1)).toEqual({ publisherActive: false, connectedStages: [] })
  })
})
