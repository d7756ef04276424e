import { Elysia } from 'elysia'
import { bearerOf, secretLabel } from '../web/credentials'
import { enforce } from '../web/rate-limiter'
import { pathOf } from '../web/request-path'
import type { RateCounter } from './fleet-rate-limiter'

/**
 * Counts every /api, /ws and /metrics request per API key + client IP before auth, so guessing
 * keys is limited too. A viewer app (which moves between networks) is counted per session, but
 * only once its session verifies: random bearer values fall back to the client IP.
 */
export function rateLimit(
  limiter: RateCounter,
  options: {
    clientOf(request: Request, server: { requestIP(request: Request): { address: string } | null } | null): string
    sessionOf(token: string): string | null
  },
) {
  return new Elysia({ name: 'rate-limit' }).onRequest(async ({ request, server, set }) => {
    const path = pathOf(request.url)
    if (!path.startsWith('/api/') && !path.startsWith('/ws') && !path.startsWith('/metrics')) return
    const headers = request.headers
    const apiKey = headers.get('x-api-key')
    const bearer = apiKey ? null : bearerOf({ authorization: headers.get('authorization') ?? undefined })
    const session = bearer ? options.sessionOf(bearer) : null
    let key: string
    if (session) key = `s:${session}`
    else key = `k:${apiKey ? secretLabel(apiKey) : '-'}|${options.clientOf(request, server)}`
    enforce(await limiter.hit(key), set)
  })
}
