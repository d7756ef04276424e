import { timingSafeEqual } from 'node:crypto'

export interface ViewerSessionClaims {
  userId: string
  participantId: string
  stageArn: string
  /** Expiry, seconds since the epoch. */
  exp: number
}

/**
 * The short signed token a viewer app holds instead of the API key: HMAC-SHA256 over
 * userId, participantId, stageArn and expiry. Every instance derives the same key.
 */
export class ViewerSessions {
  private readonly key: Buffer

  constructor(secret: string) {
    this.key = Buffer.from(new Bun.CryptoHasher('sha256', secret).update('ivs-fanout viewer session v1').digest())
  }

  sign(claims: ViewerSessionClaims): string {
    const payload = Buffer.from(JSON.stringify([claims.userId, claims.participantId, claims.stageArn, claims.exp])).toString('base64url')
    return `v1.${payload}.${this.mac(payload)}`
  }

  /** null when the token is malformed, forged or expired. */
  verify(token: string, nowMs: number): ViewerSessionClaims | null {
    const checked = this.check(token, nowMs)
    return 'claims' in checked ? checked.claims : null
  }

  /** The claims of a valid session, or why it is not one: never ours (malformed, forged) or ours but expired. */
  check(token: string, nowMs: number): { claims: ViewerSessionClaims } | { problem: 'invalid' | 'expired' } {
    const invalid = { problem: 'invalid' } as const
    const parts = token.split('.')
    if (parts.length !== 3 || parts[0] !== 'v1') return invalid
    const [, payload, mac] = parts as [string, string, string]
    const expected = Buffer.from(this.mac(payload))
    const given = Buffer.from(mac)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return invalid
    try {
      const [userId, participantId, stageArn, exp] = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
      if (typeof userId !== 'string' || typeof participantId !== 'string' || typeof stageArn !== 'string' || typeof exp !== 'number') return invalid
      if (exp * 1000 <= nowMs) return { problem: 'expired' }
      return { claims: { userId, participantId, stageArn, exp } }
    } catch {
      return invalid
    }
  }

  private mac(payload: string): string {
    return new Bun.CryptoHasher('sha256', this.key).update(payload).digest('base64url')
  }
}
