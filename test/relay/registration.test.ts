import { describe, expect, test } from 'bun:test'
import { ControlPlaneError, type RelayReport, type StageEvents, type StageList } from '../../relay/control/control-plane'
import { FeedingSwitch } from '../../relay/control/feeding'
import { ControlLink } from '../../relay/control/link'
import { type ControlApi, RelayRegistration, STAGE_CHECK_MS, type StageFollower } from '../../relay/control/registration'
import { silentLogger } from '../../src/log'
import { ManualClock, ManualSchedule, ManualTicker } from '../support/clock'

/** An API server the test answers by hand: each call either succeeds or throws what `fail` says. */
class FakeApi implements ControlApi {
  stageList = ['arn:a', 'arn:b']
  /** What GET /api/media/stages?serverId= says feeds (undefined: an API server that does not say). */
  feedingRelay: string | null | undefined = undefined
  /** Set to hold the next stage list until the test releases it. */
  holdStages: Promise<void> | null = null
  stageCalls = 0
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
  async stages(): Promise<StageList> {
    this.stageCalls++
    const answer = { arns: [...this.stageList], feedingRelay: this.feedingRelay }
    if (this.holdStages) await this.holdStages
    return answer
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
  /** The publisher connected this long ago; null: none connected. */
  age: number | null = null
  readonly held = new Set<string>()
  syncs = 0
  publisherAgeMs(): number | null {
    return this.age
  }
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

const LINGER_MS = 10_000

/** `withoutPublisher`: the relay holds the stages with no publisher too (how these registration tests ran before issue 21). */
function setUp(over: Partial<typeof settings> = {}, feed: { withoutPublisher?: boolean } = { withoutPublisher: true }) {
  const api = new FakeApi()
  const stages = new FakeStages()
  const link = new ControlLink(settings.apiServerUrl)
  const ticker = new ManualTicker()
  const retries = new ManualSchedule()
  const clock = new ManualClock(0)
  const feeding = new FeedingSwitch({ serverId: settings.serverId, lingerMs: LINGER_MS, ...feed }, clock)
  const registration = new RelayRegistration(
    { api, stages, feeding, link, ticker, logger: silentLogger, schedule: retries.schedule, random: () => 1 },
    { ...settings, ...over },
  )
  return { api, stages, feeding, link, ticker, retries, clock, registration }
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0))

describe('RelayRegistration (no processes: a fake API server, a manual ticker and retry schedule)', () => {
  test('registers, takes the stage list, follows events, heartbeats and syncs on its ticker', async () => {
    const { api, stages, link, ticker, registration } = setUp()
    await registration.start()
    expect(link.registered).toBe(true)
    expect(stages.liveStages()).toEqual(['arn:a', 'arn:b'])
    expect(ticker.intervals.sort((a, b) => a - b)).toEqual([STAGE_CHECK_MS, 30_000, 60_000])
    // The first heartbeat goes out right after registering, before any stage session is up.
    await flush()
    expect(api.reports).toEqual([{ publisherActive: false, connectedStages: [], publisherAgeMs: null }])

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

  test('hybrid: a stage_created for a replica-fed stage (relay: false) is left alone; relay_stages sets the whole list', async () => {
    const { api, stages, registration } = setUp()
    await registration.start()
    api.handlers!.onOpen()
    await flush()
    api.handlers!.onEvent('stage_created', { stageArn: 'arn:replica', relay: false })
    api.handlers!.onEvent('stage_created', { stageArn: 'arn:origin', relay: true })
    await flush()
    expect(stages.liveStages().sort()).toEqual(['arn:a', 'arn:b', 'arn:origin'])
    api.handlers!.onEvent('relay_stages', { stageArns: ['arn:a', 'arn:new-origin', 42] })
    await flush()
    expect(stages.liveStages().sort()).toEqual(['arn:a', 'arn:new-origin'])
  })

  test('a change of the live stages is reported at the next check (500 ms), once; no change, no extra heartbeat', async () => {
    const { api, stages, ticker, registration } = setUp()
    await registration.start()
    await flush()
    // The first heartbeat went out before the stage sessions were up: they are reported at the next check.
    expect(api.reports.map((r) => r.connectedStages)).toEqual([[]])
    await ticker.fire(STAGE_CHECK_MS)
    expect(api.reports.map((r) => r.connectedStages)).toEqual([[], ['arn:a', 'arn:b']])
    await ticker.fire(STAGE_CHECK_MS)
    await ticker.fire(STAGE_CHECK_MS)
    expect(api.reports.length).toBe(2)
    // One goes (its session ended): reported once.
    await stages.removeStage('arn:a')
    await ticker.fire(STAGE_CHECK_MS)
    await ticker.fire(STAGE_CHECK_MS)
    expect(api.reports.map((r) => r.connectedStages)).toEqual([[], ['arn:a', 'arn:b'], ['arn:b']])
    // A heartbeat that fails is not repeated by the checks (the periodic heartbeat carries on).
    api.heartbeatFailures = [new ControlPlaneError('answered 503', 503)]
    stages.addStage('arn:c')
    await ticker.fire(STAGE_CHECK_MS)
    await ticker.fire(STAGE_CHECK_MS)
    expect(api.reports.length).toBe(4)
    registration.stop()
  })

  test('ENABLE_AUTO_SYNC=false: heartbeats only, no periodic sync', async () => {
    const { ticker, registration } = setUp({ enableAutoSync: false })
    await registration.start()
    expect(ticker.intervals.sort((a, b) => a - b)).toEqual([STAGE_CHECK_MS, 30_000])
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
    expect(second.api.reports.at(-1)).toEqual({ publisherActive: false, connectedStages: [], publisherAgeMs: null })
  })
})

describe('RelayRegistration: one feeding relay (fake API, manual ticker, schedule and clock)', () => {
  /** The relay's publisher connects (the fan-out's hook) `age` ms ago. */
  const connect = (t: ReturnType<typeof setUp>, age = 0) => {
    t.stages.publisherActive = true
    t.stages.age = age
    t.registration.publisherChanged()
  }
  const leave = (t: ReturnType<typeof setUp>) => {
    t.stages.publisherActive = false
    t.stages.age = null
    t.registration.publisherChanged()
  }

  test('no publisher: registered and following, but no stage session; its publisher connecting: a heartbeat at once and every stage at once', async () => {
    const t = setUp({}, {})
    await t.registration.start()
    t.api.handlers!.onOpen()
    await flush()
    expect(t.link.registered).toBe(true)
    expect(t.stages.liveStages()).toEqual([])
    expect(t.feeding.feeding).toBe(false)
    // A stage created meanwhile is not taken either.
    t.api.handlers!.onEvent('stage_created', { stageArn: 'arn:c' })
    expect(t.stages.liveStages()).toEqual([])
    const reports = t.api.reports.length
    connect(t, 0)
    await flush()
    expect(t.api.reports.slice(reports)).toEqual([{ publisherActive: true, connectedStages: [], publisherAgeMs: 0 }])
    // serve has named nobody yet: the relay holding the publisher feeds at once (a fresh stage list).
    expect(t.feeding.feeding).toBe(true)
    expect(t.stages.liveStages().sort()).toEqual(['arn:a', 'arn:b'])
    t.api.handlers!.onEvent('feeding_relay', { serverId: 'relay-1', timestamp: 'now' })
    t.api.handlers!.onEvent('stage_created', { stageArn: 'arn:c' })
    expect(t.stages.liveStages().sort()).toEqual(['arn:a', 'arn:b', 'arn:c'])
    expect(t.feeding.feedingRelay).toBe('relay-1')
  })

  test('serve names another relay: every stage let go at once, publisher or not; named again: a fresh stage list at once', async () => {
    const t = setUp({}, {})
    await t.registration.start()
    connect(t, 0)
    await flush()
    expect(t.stages.liveStages().sort()).toEqual(['arn:a', 'arn:b'])
    // The broadcaster reconnected to relay-2: this relay's old publisher has not timed out yet.
    t.api.handlers!.onEvent('feeding_relay', { serverId: 'relay-2', timestamp: 'now' })
    await flush()
    expect(t.stages.liveStages()).toEqual([])
    expect(t.feeding.feeding).toBe(false)
    // Its periodic sync and heartbeat change nothing while serve says relay-2 (the list says so too).
    t.api.feedingRelay = 'relay-2'
    await t.ticker.fire()
    expect(t.stages.liveStages()).toEqual([])
    t.api.handlers!.onEvent('stage_created', { stageArn: 'arn:c' })
    expect(t.stages.liveStages()).toEqual([])
    // Named again (relay-2 went away): the stages at once, with the list as it is now.
    t.api.stageList = ['arn:a', 'arn:b', 'arn:c']
    t.api.feedingRelay = 'relay-1'
    const calls = t.api.stageCalls
    t.api.handlers!.onEvent('feeding_relay', { serverId: 'relay-1', timestamp: 'now' })
    await flush()
    expect(t.api.stageCalls).toBe(calls + 1)
    expect(t.stages.liveStages().sort()).toEqual(['arn:a', 'arn:b', 'arn:c'])
  })

  test('the publisher leaves and serve names nobody: the stages are kept for the linger, then let go; a publisher back within it keeps them', async () => {
    const t = setUp({}, {})
    await t.registration.start()
    connect(t, 0)
    await flush()
    t.api.handlers!.onEvent('feeding_relay', { serverId: 'relay-1', timestamp: 'now' })
    leave(t)
    await flush()
    expect(t.api.reports.at(-1)).toEqual({ publisherActive: false, connectedStages: ['arn:a', 'arn:b'], publisherAgeMs: null })
    t.api.handlers!.onEvent('feeding_relay', { serverId: null, timestamp: 'now' })
    await flush()
    expect(t.stages.liveStages().sort()).toEqual(['arn:a', 'arn:b'])
    expect(t.retries.delays).toEqual([LINGER_MS + 1])
    // Back after 4 s (an OBS reconnect): nothing churns, no linger left.
    t.clock.advance(4_000)
    connect(t, 0)
    await flush()
    expect(t.retries.delays).toEqual([])
    expect(t.stages.liveStages().sort()).toEqual(['arn:a', 'arn:b'])
    // Gone again, for good: the linger's end lets every stage go.
    leave(t)
    await flush()
    expect(t.retries.delays).toEqual([LINGER_MS + 1])
    t.clock.advance(LINGER_MS + 1)
    t.retries.runAll()
    await flush()
    expect(t.stages.liveStages()).toEqual([])
    expect(t.feeding.feeding).toBe(false)
    // And nothing is taken back by the next sync.
    await t.registration.sync()
    expect(t.stages.liveStages()).toEqual([])
  })

  test('a stage list asked for before a feeding_relay event does not overrule the event', async () => {
    const t = setUp({}, {})
    await t.registration.start()
    connect(t, 0)
    await flush()
    let release = () => {}
    t.api.holdStages = new Promise<void>((resolve) => (release = resolve))
    t.api.feedingRelay = 'relay-1' // what the list read said, before relay-2 took over
    const sync = t.registration.sync()
    await flush()
    t.api.handlers!.onEvent('feeding_relay', { serverId: 'relay-2', timestamp: 'now' })
    await flush()
    release()
    await sync
    expect(t.feeding.feedingRelay).toBe('relay-2')
    expect(t.stages.liveStages()).toEqual([])
  })

  test('withoutPublisher (tests, benchmarks): the stages without a publisher, unless serve names another relay', async () => {
    const t = setUp()
    await t.registration.start()
    expect(t.stages.liveStages().sort()).toEqual(['arn:a', 'arn:b'])
    t.api.handlers!.onEvent('feeding_relay', { serverId: 'relay-2', timestamp: 'now' })
    await flush()
    expect(t.stages.liveStages()).toEqual([])
    t.api.handlers!.onEvent('feeding_relay', { serverId: null, timestamp: 'now' })
    await flush()
    expect(t.stages.liveStages().sort()).toEqual(['arn:a', 'arn:b'])
  })
})
