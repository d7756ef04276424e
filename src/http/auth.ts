import type { Clock } from '../clock'
import { AppError } from '../errors'
import type { ViewerSessionClaims, ViewerSessions } from '../fleet/viewer-session'
import { ApiKeys, type PreviousKeyWatch } from '../web/api-keys'
import { bearerOf, SecretCheck } from '../web/credentials'

export interface AuthSettings {
  apiKey: string
  /** API_SECRET_KEY_PREVIOUS: accepted as well while a key rotation rolls out. */
  previousApiKey?: string | null
  mediaSecret: string | null
  skipAuth: boolean
}

type Headers = Record<string, string | undefined>

/** The three credentials of the API: the API key, the relay's second secret, and viewer sessions. */
export class Authenticator {
  private readonly apiKey: ApiKeys
  private readonly mediaSecret: SecretCheck | null

  constructor(
    private readonly settings: AuthSettings,
    private readonly sessions: ViewerSessions,
    private readonly clock: Clock,
    /** Counts and reports requests let in with the previous key. */
    previousKeyWatch: PreviousKeyWatch | null = null,
  ) {
    this.apiKey = new ApiKeys(settings.apiKey, settings.previousApiKey ?? null, previousKeyWatch)
    this.mediaSecret = settings.mediaSecret ? new SecretCheck(settings.mediaSecret) : null
  }

  /** API_SECRET_KEY, or API_SECRET_KEY_PREVIOUS while it is set. */
  isApiKey(key: string | undefined): boolean {
    return this.apiKey.matches(key)
  }

  /** Once per request whose credentials passed (the pipeline's check): notes a use of the previous key on `route`. */
  noteApiKeyUse(key: string | null | undefined, route: string): void {
    if (!this.settings.skipAuth) this.apiKey.noteUse(key, route)
  }

  requireApiKey(headers: Headers): void {
    if (this.settings.skipAuth) return
    const key = headers['x-api-key']
    if (!key) throw new AppError('UNAUTHORIZED', 'x-api-key header is required')
    if (!this.isApiKey(key)) throw new AppError('UNAUTHORIZED', 'x-api-key is not valid')
  }

  /** Relay routes: the API key plus `x-media-auth` when MEDIA_SERVER_SECRET is configured. */
  requireMedia(headers: Headers): void {
    this.requireApiKey(headers)
    if (this.settings.skipAuth || this.mediaSecret === null) return
    const secret = headers['x-media-auth']
    if (!secret) throw new AppError('UNAUTHORIZED', 'x-media-auth header is required for relay routes')
    if (!this.mediaSecret.matches(secret)) throw new AppError('FORBIDDEN', 'x-media-auth is not valid', { credential: 'x-media-auth' })
  }

  /** The API key; x-media-auth is optional, but when sent (and MEDIA_SERVER_SECRET is set) it must be right. */
  requireApiKeyAndAnyMediaSecret(headers: Headers): void {
    this.requireApiKey(headers)
    const secret = headers['x-media-auth']
    if (this.settings.skipAuth || this.mediaSecret === null || secret === undefined) return
    if (!this.mediaSecret.matches(secret)) throw new AppError('FORBIDDEN', 'x-media-auth is not valid', { credential: 'x-media-auth' })
  }

  /**
   * Whether the caller proved the relay's secret: none is configured (or auth is skipped), or its
   * x-media-auth matches. A heartbeat that does not cannot speak for the feeding relay.
   */
  provesMediaSecret(headers: Headers): boolean {
    return this.settings.skipAuth || this.mediaSecret === null || this.mediaSecret.matches(headers['x-media-auth'])
  }

  /**
   * A rate-limit key for a valid viewer session, else null: its userId, which the viewer cannot change
   * (each rejoin signs a session for a new participant, so keying by that would give a fresh bucket each time).
   */
  sessionKey(token: string): string | null {
    return this.sessions.verify(token, this.clock.now())?.userId ?? null
  }

  /** Before the body is read: a valid API key or a valid viewer session, whoever it belongs to. */
  requireViewerCredential(headers: Headers): void {
    if (this.settings.skipAuth || headers['x-api-key'] !== undefined) {
      this.requireApiKey(headers)
      return
    }
    this.session(headers)
  }

  /**
   * Viewer routes take the API key (app backends) or the viewer's own session token.
   * A session only acts for its own userId. Returns the session's claims, or null for the API key.
   */
  requireViewer(headers: Headers, userId: string): ViewerSessionClaims | null {
    if (this.settings.skipAuth || headers['x-api-key'] !== undefined) {
      this.requireApiKey(headers)
      return null
    }
    const claims = this.session(headers)
    if (claims.userId !== userId) throw new AppError('FORBIDDEN', 'viewerSession belongs to another userId')
    return claims
  }

  /**
   * The bearer viewer session's claims. An expired one is refused as such (details.reason
   * "session-expired"): its signature is ours, so it is not charged as a guess.
   */
  private session(headers: Headers): ViewerSessionClaims {
    const token = bearerOf(headers)
    if (!token) throw new AppError('UNAUTHORIZED', 'x-api-key header is required (a viewer app sends Authorization: Bearer <viewerSession> instead)')
    const checked = this.sessions.check(token, this.clock.now())
    if ('claims' in checked) return checked.claims
    // Not a guess: the fleet's session key has not been read from the store yet.
    if (checked.problem === 'unavailable')
      throw new AppError('UPSTREAM_UNAVAILABLE', 'viewer sessions cannot be checked until the store has answered; retry shortly')
    if (checked.problem === 'expired')
      throw new AppError('UNAUTHORIZED', 'viewerSession has expired; request a new viewer token', { reason: 'session-expired' })
    throw new AppError('UNAUTHORIZED', 'viewerSession is not valid; request a new viewer token')
  }

  /** For sockets: the API key in a header or `apiKey` query parameter. */
  checkSocketKey(headerKey: string | undefined, queryKey: string | undefined): boolean {
    if (this.settings.skipAuth) return true
    return this.isApiKey(headerKey ?? queryKey)
  }
}
