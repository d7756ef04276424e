import type { Clock } from '../clock'
import { AppError } from '../errors'
import type { Logger } from '../log'
import type { PublisherState, RelayRecord, Store } from '../store/types'
import type { EventPublisher } from './events'

/** The media relays: who is registered, what each reports, and the publisher state they imply. */
export class RelayService {
  constructor(private readonly deps: { store: Store; events: EventPublisher; clock: Clock; logger: Logger }) {}

  async register(input: { serverId: string; ipAddress: string; port: number }): Promise<void> {
    const now = this.deps.clock.now()
    await this.deps.store.putRelay({ ...input, publisherActive: false, connectedStages: [], registeredAt: now, lastHeartbeatAt: now })
    this.deps.logger.info('relay registered', input)
  }

  async heartbeat(input: { serverId: string; publisherActive: boolean; connectedStages: string[] }): Promise<void> {
    const { store, events, clock } = this.deps
    const now = clock.now()
    const known = await store.heartbeatRelay(input.serverId, {
      publisherActive: input.publisherActive,
      connectedStages: input.connectedStages,
      lastHeartbeatAt: now,
    })
    if (!known) throw new AppError('NOT_FOUND', `relay ${input.serverId} is not registered`, { action: 'register' })
    const previous = await store.setPublisherState({ active: input.publisherActive, updatedAt: now, serverId: input.serverId })
    if (previous.active !== input.publisherActive) {
      await events.publish('publisher_state', { active: input.publisherActive, timestamp: new Date(now).toISOString() })
    }
  }

  list(): Promise<RelayRecord[]> {
    return this.deps.store.listRelays()
  }

  publisherState(): Promise<PublisherState> {
    return this.deps.store.getPublisherState()
  }
}
