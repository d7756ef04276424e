import { Elysia } from 'elysia'
import { AppError } from '../errors'
import { bearerOf, secretLabel } from '../web/credentials'
import type { RateCounter } from './fleet-rate-limiter'

/**
 * Counts every /api, /ws and /metrics request per API key + client IP before auth, so guessing
 * keys is limited too. A viewer app (which moves between networks) is counted per session, but
 * only once its session verifies: random bearer values fall back to the client IP.
 */
export function rateLimit(limiter: RateCounter, options: { trustProxy: boolean; sessionOf(token: string): string | null }) {
  return new Elysia({ name: 'rate-limit' }).onRequest(async ({ request, server, set }) => {
    const path = request.url.slice(request.url.indexOf('/', 8))
    if (!path.startsWith('/api/') && !path.startsWith('/ws') && !path.startsWith('/metrics')) return
    const headers = request.headers
    const apiKey = headers.get('x-api-key')
    const bearer = apiKey ? null : bearerOf({ authorization: headers.get('authorization') ?? undefined })
    const session = bearer ? options.sessionOf(bearer) : null
    let key: string
    if (session) key = `s:${session}`
    else {
      // The proxy appends the address it saw: the last entry is the one a client cannot forge.
      const forwarded = options.trustProxy ? headers.get('x-forwarded-for')?.split(',').at(-1)?.trim() : undefined
      const ip = forwarded || server?.requestIP(request)?.address || 'unknown'
      key = `k:${apiKey ? secretLabel(apiKey) : '-'}|${ip}`
    }
    const decision = await limiter.hit(key)
    const resetSeconds = Math.ceil(decision.resetInMs / 1000)
    set.headers['ratelimit-limit'] = String(decision.limit)
    set.headers['ratelimit-remaining'] = String(decision.remaining)
    set.headers['ratelimit-reset'] = String(resetSeconds)
    if (!decision.allowed) {
      throw new AppError('RATE_LIMITED', `rate limit of ${decision.limit} requests exceeded; retry in ${resetSeconds} s`, undefined, resetSeconds)
    }
  })
}
