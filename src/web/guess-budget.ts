import type { Clock } from '../clock'
import { LruMap } from '../lru-map'

export interface GuessPolicy {
  /** Failed authentications an address may make per window before it is locked out. */
  budget: number
  windowMs: number
  /** The first lock-out; each further one (before the address has been quiet for `forgetMs`) doubles, up to `maxLockMs`. */
  baseLockMs: number
  maxLockMs: number
  forgetMs: number
  /** Addresses tracked at once (the oldest are forgotten first). */
  maxAddresses: number
}

/** 10 wrong secrets a minute; then 1 s, 2 s, 4 s … up to 15 min locked; forgotten after an hour of quiet. */
export const DEFAULT_GUESS_POLICY: GuessPolicy = {
  budget: 10,
  windowMs: 60_000,
  baseLockMs: 1_000,
  maxLockMs: 15 * 60_000,
  forgetMs: 60 * 60_000,
  maxAddresses: 100_000,
}

/** Counts failures fleet-wide (the shared store's window counters); optional. */
export interface FailureCounter {
  countHits(keys: string[], windowMs: number, now: number): Promise<{ count: number; resetInMs: number }[]>
}

interface AddressState {
  windowStart: number
  failures: number
  lockouts: number
  lockedUntil: number
  lastFailure: number
}

/**
 * The guess budget for secrets: failed authentications are counted per client address, whatever
 * secret was presented (a fresh wrong key is not a fresh bucket), and past the budget the address is
 * locked out, for twice as long each time. With a shared store the failures are counted fleet-wide
 * too, so an attacker spread over instances by a load balancer still gets one budget; the lock-out
 * itself is enforced by each instance from its own memory (no store call on the happy path).
 */
export class GuessBudget {
  private readonly addresses: LruMap<string, AddressState>

  constructor(
    private readonly policy: GuessPolicy,
    private readonly clock: Clock,
    private readonly fleet: FailureCounter | null = null,
  ) {
    this.addresses = new LruMap(policy.maxAddresses)
  }

  /** How long `address` must still wait (ms); 0 when it may try. */
  lockedFor(address: string): number {
    const state = this.addresses.get(address)
    return state ? Math.max(0, state.lockedUntil - this.clock.now()) : 0
  }

  /** A failed authentication from `address`; resolves to the lock-out it now has (ms, 0 for none). */
  async fail(address: string): Promise<number> {
    const now = this.clock.now()
    const state = this.state(address, now)
    state.failures++
    state.lastFailure = now
    let over = state.failures >= this.policy.budget
    if (!over && this.fleet) {
      try {
        const [fleetWide] = await this.fleet.countHits([`authfail:${address}`], this.policy.windowMs, now)
        over = (fleetWide?.count ?? 0) >= this.policy.budget
      } catch {
        // The store is down: this instance's own count still holds the line.
      }
    }
    if (!over) return 0
    const lockMs = Math.min(this.policy.maxLockMs, this.policy.baseLockMs * 2 ** state.lockouts)
    state.lockouts++
    state.lockedUntil = this.clock.now() + lockMs
    state.windowStart = state.lockedUntil
    state.failures = 0
    return lockMs
  }

  /** Addresses tracked now (bounded by maxAddresses). */
  get size(): number {
    return this.addresses.size
  }

  private state(address: string, now: number): AddressState {
    let state = this.addresses.get(address)
    if (state && now - state.lastFailure > this.policy.forgetMs) state = undefined
    if (!state) {
      state = { windowStart: now, failures: 0, lockouts: 0, lockedUntil: 0, lastFailure: now }
      this.addresses.set(address, state)
    } else if (now - state.windowStart >= this.policy.windowMs) {
      state.windowStart = now
      state.failures = 0
    }
    return state
  }
}
