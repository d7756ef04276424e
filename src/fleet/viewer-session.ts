import { timingSafeEqual } from 'node:crypto'
import { AppError } from '../errors'

export interface ViewerSessionClaims {
  userId: string
  participantId: string
  stageArn: string
  /** Expiry, seconds since the epoch. */
  exp: number
}

export interface ViewerSessionKeys {
  /** The fleet's own signing key (random, kept in the shared store: fleet/session-key.ts); null until it has been read. */
  key?: Uint8Array | null
  /**
   * API keys (API_SECRET_KEY, API_SECRET_KEY_PREVIOUS) whose derived key signed the sessions of releases
   * before the fleet had a key of its own (`v1.`): still verified, so an upgrade ends no session, never
   * used to sign. A viewer's next heartbeat hands it a session under the fleet's key.
   */
  legacyApiKeys?: readonly (string | null)[]
}

export type SessionCheck = { claims: ViewerSessionClaims } | { problem: 'invalid' | 'expired' | 'unavailable' }

/** The key releases before the fleet's own signed sessions with: derived from the API key. */
export const legacySessionKey = (apiKey: string): Buffer => Buffer.from(new Bun.CryptoHasher('sha256', apiKey).update('ivs-fanout viewer session v1').digest())

/**
 * The short signed token a viewer app holds instead of the API key: HMAC-SHA256 over userId,
 * participantId, stageArn and expiry, `v2.<payload>.<mac>` under the fleet's key (one for every
 * instance sharing the store, and independent of the API key, so rotating that ends no session).
 */
export class ViewerSessions {
  private key: Buffer | null
  /** Keys the fleet signed with before the current one (a store that lost it, then another instance's): still verified. */
  private retired: Buffer[] = []
  private readonly legacy: Buffer[]

  constructor(keys: ViewerSessionKeys = {}) {
    this.key = keys.key ? Buffer.from(keys.key) : null
    this.legacy = (keys.legacyApiKeys ?? []).filter((k): k is string => typeof k === 'string' && k !== '').map(legacySessionKey)
  }

  /** Whether the fleet's key has been read (sessions can be signed). */
  get ready(): boolean {
    return this.key !== null
  }

  /** The fleet's key, once read from the store; a replaced one is still verified (the last two). */
  useKey(key: Uint8Array): void {
    const next = Buffer.from(key)
    if (this.key && !this.key.equals(next)) this.retired = [this.key, ...this.retired.filter((k) => !k.equals(next))].slice(0, 2)
    this.key = next
  }

  /** Throws UPSTREAM_UNAVAILABLE while the fleet's key has not been read (the store has not answered yet). */
  sign(claims: ViewerSessionClaims): string {
    if (!this.key) throw new AppError('UPSTREAM_UNAVAILABLE', 'viewer sessions cannot be signed until the store has answered; retry shortly')
    const payload = Buffer.from(JSON.stringify([claims.userId, claims.participantId, claims.stageArn, claims.exp])).toString('base64url')
    return `v2.${payload}.${mac(this.key, payload)}`
  }

  /** null when the token is malformed, forged or expired (or cannot be checked yet). */
  verify(token: string, nowMs: number): ViewerSessionClaims | null {
    const checked = this.check(token, nowMs)
    return 'claims' in checked ? checked.claims : null
  }

  /**
   * The claims of a valid session, or why it is not one: never ours (malformed, forged), ours but
   * expired, or not checkable yet (a `v2` session before the fleet's key was read).
   */
  check(token: string, nowMs: number): SessionCheck {
    const invalid = { problem: 'invalid' } as const
    const parts = token.split('.')
    if (parts.length !== 3) return invalid
    const [version, payload, given] = parts as [string, string, string]
    if (version === 'v2' && !this.key) return { problem: 'unavailable' }
    const keys = version === 'v2' ? [this.key!, ...this.retired] : version === 'v1' ? this.legacy : []
    // Every key is tried (no early exit), so the time taken does not say which one matched.
    let matched = false
    for (const key of keys) matched = macEquals(given, mac(key, payload)) || matched
    if (!matched) return invalid
    try {
      const [userId, participantId, stageArn, exp] = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
      if (typeof userId !== 'string' || typeof participantId !== 'string' || typeof stageArn !== 'string' || typeof exp !== 'number') return invalid
      if (exp * 1000 <= nowMs) return { problem: 'expired' }
      return { claims: { userId, participantId, stageArn, exp } }
    } catch {
      return invalid
    }
  }
}

const mac = (key: Buffer, payload: string): string => new Bun.CryptoHasher('sha256', key).update(payload).digest('base64url')

function macEquals(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}
