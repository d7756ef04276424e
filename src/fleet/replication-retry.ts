/**
 * Calm retries of the replications IVS refused: each is asked again after a delay that doubles up to
 * a ceiling, and each participant's refusal is logged once (then again only after it got through),
 * so a broadcaster who is not live yet costs a few calls and one log line, not a storm.
 */
import type { Clock } from '../clock'
import { AppError } from '../errors'
import { type Replication, replicationKey } from './replication-plan'

/** Why IVS refused a start (the `reason` of the refusal counter). */
export type RefusalReason = 'not-publishing' | 'replication-quota' | 'not-found' | 'invalid' | 'error'

export function refusalReason(error: unknown): RefusalReason {
  if (!(error instanceof AppError)) return 'error'
  if (error.code === 'CONFLICT') return 'not-publishing'
  if (error.code === 'CAPACITY_EXHAUSTED') return 'replication-quota'
  if (error.code === 'NOT_FOUND') return 'not-found'
  if (error.code === 'VALIDATION_ERROR') return 'invalid'
  return 'error'
}

/** At most this many replications are held off at once (a fleet holds far fewer): the oldest go first. */
export const RETRY_BOOK_MAX = 1_000

/**
 * Held-off replications and logged refusals, bounded: what is no longer wanted is forgotten (keepOnly,
 * each round), and so is a hold-off nobody asked again for a whole `retryMaxMs` past its end (an
 * instance that only runs hooks never plans a round), and a logged refusal once nothing of its
 * participant is held off any more.
 */
export class RetryBook {
  private readonly waits = new Map<string, { until: number; attempts: number; participant: string }>()
  /** Participants (source stage | id) whose refusal was logged and has not got through since. */
  private readonly told = new Set<string>()

  constructor(
    private readonly clock: Clock,
    private readonly settings: { retryBaseMs: number; retryMaxMs: number },
  ) {}

  /** Entries held (tests: bounded). */
  get size(): { waits: number; told: number } {
    return { waits: this.waits.size, told: this.told.size }
  }

  /** The replications held off now (replicationKey). */
  heldOff(): Set<string> {
    const now = this.clock.now()
    const held = new Set<string>()
    for (const [key, wait] of this.waits) if (wait.until > now) held.add(key)
    return held
  }

  /** A refusal: held off for the next delay; true when this participant's refusal should be logged (the first since it last got through). */
  refused(r: Replication): boolean {
    this.prune()
    const key = replicationKey(r)
    const attempts = (this.waits.get(key)?.attempts ?? 0) + 1
    const delay = Math.min(this.settings.retryMaxMs, this.settings.retryBaseMs * 2 ** (attempts - 1))
    const participant = participantOf(r)
    this.waits.delete(key)
    this.waits.set(key, { until: this.clock.now() + delay, attempts, participant })
    for (const oldest of this.waits.keys()) {
      if (this.waits.size <= RETRY_BOOK_MAX) break
      this.waits.delete(oldest)
    }
    if (this.told.has(participant)) return false
    this.told.add(participant)
    return true
  }

  succeeded(r: Replication): void {
    this.waits.delete(replicationKey(r))
    this.told.delete(participantOf(r))
  }

  /** Forgets what is no longer wanted, so the book stays as small as the fleet. */
  keepOnly(wanted: readonly Replication[]): void {
    const keys = new Set(wanted.map(replicationKey))
    for (const key of this.waits.keys()) if (!keys.has(key)) this.waits.delete(key)
    this.forgetUntold()
  }

  /** Forgets hold-offs that ran out a whole `retryMaxMs` ago without being asked again. */
  prune(): void {
    const stale = this.clock.now() - this.settings.retryMaxMs
    for (const [key, wait] of this.waits) if (wait.until <= stale) this.waits.delete(key)
    this.forgetUntold()
  }

  /** A logged refusal whose participant has nothing held off any more is forgotten (logged again if refused again). */
  private forgetUntold(): void {
    const holding = new Set([...this.waits.values()].map((wait) => wait.participant))
    for (const participant of this.told) if (!holding.has(participant)) this.told.delete(participant)
  }
}

const participantOf = (r: Pick<Replication, 'sourceStageArn' | 'participantId'>) => `${r.sourceStageArn}|${r.participantId}`
