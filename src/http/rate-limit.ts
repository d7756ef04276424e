import { AppError } from '../errors'
import { bearerOf, secretLabel } from '../web/credentials'
import type { RateDecision } from '../web/rate-limiter'

/**
 * Serve's rate-limit buckets: per API key + client address, so guessing keys is limited too. A viewer
 * app (which moves between networks) counts per viewer: `sessionOf` gives the key of a session that
 * verifies (its userId, which the viewer cannot change, not the participant id each rejoin renews),
 * and random bearer values fall back to the client address.
 */
export function serveRateKey(sessionOf: (token: string) => string | null) {
  return (request: Request, client: string): string => {
    const headers = request.headers
    const apiKey = headers.get('x-api-key')
    const bearer = apiKey ? null : bearerOf({ authorization: headers.get('authorization') ?? undefined })
    const session = bearer ? sessionOf(bearer) : null
    if (session) return `s:${session}`
    return `k:${apiKey ? secretLabel(apiKey) : '-'}|${client}`
  }
}

/**
 * Rejoins per userId a minute, whoever asks (the viewer's session or the app backend): each one mints
 * a token (in API-token mode an IVS call from the account's shared TPS), and a viewer needs one only
 * when its stage drains or its heartbeat is refused. Counted fleet-wide on a shared store.
 */
export const REJOIN_LIMIT = { max: 10, windowMs: 60_000 }

/** The rejoin budget's bucket for a user. */
export const rejoinKey = (userId: string) => `rejoin:${userId}`

/** Throws 429 (reason "rejoins", with Retry-After) when `userId` has used its rejoin budget. */
export function refuseRejoinOverBudget(decision: RateDecision, userId: string): void {
  if (decision.allowed) return
  const seconds = Math.max(1, Math.ceil(decision.resetInMs / 1000))
  throw new AppError(
    'RATE_LIMITED',
    `viewer ${userId} may rejoin at most ${decision.limit} times a minute; retry in ${seconds} s (a viewer rejoins only when told to)`,
    { reason: 'rejoins' },
    seconds,
  )
}
