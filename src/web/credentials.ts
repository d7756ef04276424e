import { timingSafeEqual } from 'node:crypto'

/** SHA-256 of a secret: what is kept in memory and compared, never the secret itself. */
export const secretDigest = (value: string): Buffer => Buffer.from(new Bun.CryptoHasher('sha256').update(value).digest())

/** Constant-time comparison: both sides are hashed first so lengths never leak either. */
export function secretsEqual(given: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(secretDigest(given), expectedDigest)
}

/** A secret checked in constant time; built once from its value. */
export class SecretCheck {
  private readonly digest: Buffer
  constructor(secret: string) {
    this.digest = secretDigest(secret)
  }
  matches(given: string | null | undefined): boolean {
    return typeof given === 'string' && secretsEqual(given, this.digest)
  }
}

/** A short, stable, non-reversible label for a secret (e.g. a rate-limit bucket). */
export const secretLabel = (value: string): string => new Bun.CryptoHasher('sha256').update(value).digest('base64url').slice(0, 16)

export function bearerOf(headers: Record<string, string | undefined>): string | null {
  const value = headers.authorization
  if (!value) return null
  const match = /^Bearer\s+(\S+)$/i.exec(value)
  return match ? match[1]! : null
}
