/**
 * The IVS calls that change the fan-out (StartParticipantReplication, StopParticipantReplication)
 * and the reads a round makes, counted per operation, logged, and told as events. Before each call
 * the round's `proceed` is asked: a round whose leader lost the lead (or whose fan-out lock another
 * holder took) stops there (RoundStopped) instead of acting on a view that is no longer its own.
 */
import type { Clock } from '../clock'
import { describeError } from '../errors'
import type { StageProvider } from '../ivs/types'
import type { Logger } from '../log'
import type { Counters } from '../metrics/counters'
import type { EventPublisher, FleetEventType } from './events'
import { OperationTally } from './replication-observe'
import { type PlannedStop, pick, type Replication } from './replication-plan'
import { RetryBook, refusalReason } from './replication-retry'
import type { ReplicationSettings } from './settings'

export interface ReplicationCallsDeps {
  provider: Pick<StageProvider, 'participants' | 'startReplication' | 'stopReplication' | 'listReplicas'>
  events: EventPublisher
  counters: Counters
  clock: Clock
  logger: Logger
}

/** A round stopped part-way (its leader lost the lead, or another holder took the fan-out lock). */
export class RoundStopped extends Error {
  constructor() {
    super('the replication round stopped: this instance no longer leads or holds the fan-out lock')
  }
}

/** Never stops. */
export const ALWAYS = () => true

/**
 * One round's or hook's calls: counted on their own and made only while its `proceed` says so. A
 * round's IVS reads run outside the fan-out lock, beside a hook of the same instance, so each has its
 * own; what they share (the retry book) lives in the service's one instance.
 */
export class ReplicationCalls {
  /** IVS calls this round, by operation. */
  private readonly ops = new OperationTally()

  constructor(
    private readonly deps: ReplicationCallsDeps,
    private readonly settings: ReplicationSettings,
    readonly retries: RetryBook = new RetryBook(deps.clock, settings),
    private readonly proceed: () => boolean = ALWAYS,
  ) {}

  /** Calls for a new round or hook: counted afresh, each made only while `proceed` says so, the retry book shared. */
  scoped(proceed: () => boolean): ReplicationCalls {
    return new ReplicationCalls(this.deps, this.settings, this.retries, proceed)
  }

  /** Throws RoundStopped once the round must not go on. */
  check(): void {
    if (!this.proceed()) throw new RoundStopped()
  }

  /** The most calls of any one IVS operation this round. */
  busiest(): number {
    return this.ops.most()
  }

  /** The provider's reads, each checked and counted as the operations it costs (participants: GetStage and ListParticipants). */
  reads() {
    const { provider } = this.deps
    return {
      participants: (arn: string) => {
        this.check()
        this.ops.add('GetStage')
        this.ops.add('ListParticipants')
        return provider.participants(arn)
      },
      listReplicas: (arn: string, participantId: string) => {
        this.check()
        this.ops.add('ListParticipantReplicas')
        return provider.listReplicas(arn, participantId)
      },
    }
  }

  async start(r: Replication): Promise<boolean> {
    const { provider, counters, logger } = this.deps
    this.check()
    this.ops.add('StartParticipantReplication')
    try {
      await provider.startReplication({ ...pick(r), reconnectWindowSeconds: this.settings.reconnectWindowSeconds })
    } catch (error) {
      const reason = refusalReason(error)
      counters.add('ReplicationRefusals', 1, { reason })
      if (this.retries.refused(r)) {
        if (reason === 'not-publishing') logger.info('the participant is not publishing yet: its replication is asked for again, calmly', { ...pick(r) })
        else logger.warn('IVS refused a replication; asked for again later', { ...pick(r), reason, error: describeError(error) })
      }
      return false
    }
    this.retries.succeeded(r)
    counters.add('ReplicationStarts', 1)
    await this.tell('replication_started', { ...pick(r) })
    logger.info('replication started', { ...pick(r) })
    return true
  }

  async stop(s: PlannedStop): Promise<boolean> {
    const { provider, counters, logger } = this.deps
    this.check()
    this.ops.add('StopParticipantReplication')
    try {
      await provider.stopReplication(pick(s))
    } catch (error) {
      logger.warn('cannot stop a replication; tried again next round', { ...pick(s), reason: s.reason, error: describeError(error) })
      return false
    }
    counters.add('ReplicationStops', 1, { reason: s.reason })
    await this.tell('replication_stopped', { ...pick(s), reason: s.reason })
    logger.info('replication stopped', { ...pick(s), reason: s.reason })
    return true
  }

  /** An event, stamped now. A failure is logged, never thrown: IVS already did what it tells, and the round must still record it. */
  async tell(type: FleetEventType, data: Record<string, unknown>): Promise<void> {
    try {
      await this.deps.events.publish(type, { ...data, timestamp: new Date(this.deps.clock.now()).toISOString() })
    } catch (error) {
      this.deps.logger.warn('cannot publish a fan-out event; the change itself stands', { type, error: describeError(error) })
    }
  }
}
