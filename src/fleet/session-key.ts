import { describeError } from '../errors'
import type { Logger } from '../log'
import type { Store } from '../store/types'
import type { Ticker } from '../ticker'
import type { ViewerSessions } from './viewer-session'

/** The store's name for the viewer-session signing key. */
export const SESSION_KEY_SECRET = 'viewer-session-key'
/** HMAC-SHA256 wants a key at least as long as its output: 32 random bytes. */
export const SESSION_KEY_BYTES = 32
/** How often each instance offers its key again (puts it back after the store lost it). */
export const SESSION_KEY_REFRESH_MS = 30_000

/**
 * The key the fleet keeps under SESSION_KEY_SECRET, `candidate` offered first (set-if-absent): the
 * first instance's random key, which every other instance then reads.
 */
export async function fleetSessionKey(store: Pick<Store, 'sharedSecret'>, candidate: Uint8Array): Promise<Buffer> {
  const kept = Buffer.from(await store.sharedSecret(SESSION_KEY_SECRET, Buffer.from(candidate).toString('base64url')), 'base64url')
  if (kept.length < SESSION_KEY_BYTES) throw new Error(`the store's ${SESSION_KEY_SECRET} is not a ${SESSION_KEY_BYTES}-byte key (${kept.length} bytes)`)
  return kept
}

export interface SessionKeyDeps {
  store: Pick<Store, 'sharedSecret'>
  sessions: ViewerSessions
  ticker: Ticker
  logger: Logger
  randomBytes(n: number): Uint8Array
}

/**
 * The fleet's viewer-session key for one instance: read (or made, once for the fleet) as the fleet
 * starts, so sessions one instance signs verify on every other and outlive any API key. Then offered
 * again every SESSION_KEY_REFRESH_MS: after the store lost its data the running instances put their
 * (common) key back, and if an instance that started in between made another, every instance moves
 * to the store's, still accepting the one it had. The memory store keeps one per process.
 */
export class SessionKeyKeeper {
  private key: Buffer | null = null
  private cancel: (() => void) | null = null

  constructor(
    private readonly deps: SessionKeyDeps,
    private readonly refreshMs = SESSION_KEY_REFRESH_MS,
  ) {}

  /** Reads or makes the key; throws while the store does not answer (the fleet's start retries). */
  async load(): Promise<void> {
    if (this.key) return
    this.use(await fleetSessionKey(this.deps.store, this.deps.randomBytes(SESSION_KEY_BYTES)))
  }

  start(): void {
    this.cancel ??= this.deps.ticker.every(this.refreshMs, () => this.refresh())
  }

  stop(): void {
    this.cancel?.()
    this.cancel = null
  }

  /** One refresh: offers this instance's key, follows the store's when it differs. Never throws. */
  async refresh(): Promise<void> {
    try {
      if (!this.key) return await this.load()
      const kept = await fleetSessionKey(this.deps.store, this.key)
      if (kept.equals(this.key)) return
      this.deps.logger.warn(
        "the fleet's viewer-session key in the store is not this instance's (the store lost it?): signing with the store's, still accepting this one",
      )
      this.use(kept)
    } catch (error) {
      this.deps.logger.debug('viewer-session key refresh failed', { error: describeError(error) })
    }
  }

  private use(key: Buffer): void {
    this.key = key
    this.deps.sessions.useKey(key)
  }
}
