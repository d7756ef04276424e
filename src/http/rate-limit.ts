import { Elysia } from 'elysia'
import { AppError } from '../errors'
import { bearerOf } from './auth'
import type { RateLimiter } from './rate-limiter'

const shortHash = (value: string) => new Bun.CryptoHasher('sha256').update(value).digest('base64url').slice(0, 16)

/**
 * Counts every /api request per API key + client IP (per viewer session for viewer apps,
 * which move between networks) before auth, so guessing keys is limited too.
 */
export function rateLimit(limiter: RateLimiter, options: { trustProxy: boolean }) {
  return new Elysia({ name: 'rate-limit' }).onRequest(({ request, server, set }) => {
    const path = request.url.slice(request.url.indexOf('/', 8))
    if (!path.startsWith('/api/') && !path.startsWith('/ws')) return
    const headers = request.headers
    const apiKey = headers.get('x-api-key')
    const session = apiKey ? null : bearerOf({ authorization: headers.get('authorization') ?? undefined })
    let key: string
    if (session) key = `s:${shortHash(session)}`
    else {
      const forwarded = options.trustProxy ? headers.get('x-forwarded-for')?.split(',')[0]?.trim() : undefined
      const ip = forwarded || server?.requestIP(request)?.address || 'unknown'
      key = `k:${apiKey ? shortHash(apiKey) : '-'}|${ip}`
    }
    const decision = limiter.hit(key)
    const resetSeconds = Math.ceil(decision.resetInMs / 1000)
    set.headers['ratelimit-limit'] = String(decision.limit)
    set.headers['ratelimit-remaining'] = String(decision.remaining)
    set.headers['ratelimit-reset'] = String(resetSeconds)
    if (!decision.allowed) {
      throw new AppError('RATE_LIMITED', `rate limit of ${decision.limit} requests exceeded; retry in ${resetSeconds} s`, undefined, resetSeconds)
    }
  })
}
