import { bearerOf, secretLabel } from '../web/credentials'

/**
 * Serve's rate-limit buckets: per API key + client address, so guessing keys is limited too. A viewer
 * app (which moves between networks) counts per session, but only once its session verifies: random
 * bearer values fall back to the client address.
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
