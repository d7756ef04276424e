import type { ProxyTrust } from '../web/client-address'
import { readTlsPair, type TlsFiles } from '../web/listener'
import type { EnvReader } from './env'

/** The shortest secret either mode accepts (API key, media secret, publish secret): 16 characters. */
export const MIN_SECRET_LENGTH = 16

/**
 * What both modes read alike to defend their HTTP side: whom to believe for the client address,
 * the rate limit, the guess budget, the body deadline and the shared secrets. One reader, so a
 * security setting means the same in `serve` and `relay` and a fix to it lands once.
 */
export interface HardeningConfig {
  /** Whose X-Forwarded-For to believe for the client address (TRUST_PROXY). */
  trustProxy: ProxyTrust
  /** Requests per window per client (RATE_LIMIT_WINDOW_MS / RATE_LIMIT_MAX_REQUESTS). */
  rateLimit: { windowMs: number; max: number }
  /** Failed authentications per minute per client address before it is locked out (AUTH_FAILURE_LIMIT). */
  authFailureLimit: number
  /** A request body must arrive within this (BODY_TIMEOUT_MS), or 408. */
  bodyTimeoutMs: number
  /** A second credential for /metrics (and the relay's /health details), so a scraper need not hold the API key. */
  metricsToken: string | null
  /** The relay's second secret (x-media-auth), where the API server asks for it. */
  mediaServerSecret: string | null
  /** Serve https with these PEM files (TLS_CERT_FILE, TLS_KEY_FILE), reloaded on SIGHUP; null: plain http. */
  tls: TlsFiles | null
}

export function readHardening(r: EnvReader): HardeningConfig {
  return {
    trustProxy: r.proxyTrust(),
    rateLimit: { windowMs: r.int('RATE_LIMIT_WINDOW_MS', 60_000, 100), max: r.int('RATE_LIMIT_MAX_REQUESTS', 100, 1) },
    authFailureLimit: r.int('AUTH_FAILURE_LIMIT', 10, 1, 1_000_000),
    bodyTimeoutMs: r.int('BODY_TIMEOUT_MS', 10_000, 100, 120_000),
    metricsToken: r.optional('METRICS_TOKEN'),
    mediaServerSecret: readSecret(r, 'MEDIA_SERVER_SECRET'),
    tls: readTls(r),
  }
}

/** TLS_CERT_FILE and TLS_KEY_FILE, together, each a readable PEM file, the key the certificate's own. */
function readTls(r: EnvReader): TlsFiles | null {
  const certFile = r.optional('TLS_CERT_FILE')
  const keyFile = r.optional('TLS_KEY_FILE')
  if (certFile === null && keyFile === null) return null
  if (certFile === null || keyFile === null) {
    r.errors.push('TLS_CERT_FILE and TLS_KEY_FILE must be set together (the PEM certificate chain and its private key)')
    return null
  }
  try {
    readTlsPair({ certFile, keyFile })
  } catch (error) {
    r.errors.push((error as Error).message)
    return null
  }
  return { certFile, keyFile }
}

/** An optional secret: at least MIN_SECRET_LENGTH characters when set (never echoed in the error). */
export function readSecret(r: EnvReader, name: string): string | null {
  const value = r.optional(name)
  if (value !== null && value.length < MIN_SECRET_LENGTH) r.errors.push(`${name} must be at least ${MIN_SECRET_LENGTH} characters`)
  return value
}

/** Logged at start by serve and the relay while API_SECRET_KEY_PREVIOUS is set: a rotation is meant to end. */
export const PREVIOUS_API_KEY_WARNING =
  'accepting the previous API key: remove API_SECRET_KEY_PREVIOUS once ivs_fanout_api_key_previous_used_total stops rising'

/**
 * API_SECRET_KEY_PREVIOUS: the API key being replaced, accepted beside API_SECRET_KEY while a rotation
 * rolls out (both modes). A secret like the others, and only meaningful next to a different new key;
 * while it is accepted, the loader's warnings say so (PREVIOUS_API_KEY_WARNING), so a grace period
 * left in place shows in every start's log.
 */
export function readPreviousApiKey(r: EnvReader, apiKey: string | null): string | null {
  const previous = readSecret(r, 'API_SECRET_KEY_PREVIOUS')
  if (previous === null) return null
  if (apiKey === null) {
    r.errors.push('API_SECRET_KEY_PREVIOUS is set without API_SECRET_KEY: set API_SECRET_KEY to the new key and API_SECRET_KEY_PREVIOUS to the one it replaces')
    return null
  }
  if (previous === apiKey) {
    r.errors.push('API_SECRET_KEY_PREVIOUS is the same as API_SECRET_KEY: set it to the key being replaced, or remove it')
    return null
  }
  r.warnings.push(PREVIOUS_API_KEY_WARNING)
  return previous
}
