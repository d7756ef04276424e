import { Elysia } from 'elysia'
import { pathOf } from './request-path'

/** What one origin may do on one path. */
export interface CorsGrant {
  /** `*` (any page, no credentials) or the requesting origin itself. */
  allowOrigin: string
  allowHeaders: string[]
  allowMethods: string[]
}

/** Decides per origin and path; null gives no allow headers at all (the browser then blocks the call). */
export type CorsPolicy = (origin: string, path: string) => CorsGrant | null

/**
 * CORS for browsers on other origins: preflights are answered here (204, before rate limits and
 * auth: they carry no credentials and do no work), and actual responses, errors included, carry
 * the allow headers the policy grants. Credentials (cookies) are never allowed.
 */
export function cors(policy: CorsPolicy, options: { exposeHeaders: string[]; maxAgeSeconds?: number }) {
  return new Elysia({ name: 'cors' }).onRequest(({ request, set }) => {
    const origin = request.headers.get('origin')
    if (!origin) return
    const grant = policy(origin, pathOf(request.url))
    if (request.method === 'OPTIONS' && request.headers.has('access-control-request-method')) {
      const headers: Record<string, string> = { vary: 'Origin' }
      const requestId = set.headers['x-request-id']
      if (typeof requestId === 'string') headers['x-request-id'] = requestId
      if (grant) {
        headers['access-control-allow-origin'] = grant.allowOrigin
        headers['access-control-allow-methods'] = [...grant.allowMethods, 'OPTIONS'].join(', ')
        if (grant.allowHeaders.length > 0) headers['access-control-allow-headers'] = grant.allowHeaders.join(', ')
        headers['access-control-expose-headers'] = options.exposeHeaders.join(', ')
        headers['access-control-max-age'] = String(options.maxAgeSeconds ?? 7200)
      }
      return new Response(null, { status: 204, headers })
    }
    set.headers.vary = 'Origin'
    if (!grant) return
    set.headers['access-control-allow-origin'] = grant.allowOrigin
    set.headers['access-control-expose-headers'] = options.exposeHeaders.join(', ')
  })
}
