import type { CorsPolicy } from '../web/cors'

/** Routes a viewer app calls with its own viewerSession (never the API key): any origin may. */
export const VIEWER_SESSION_ROUTES = new Set(['/api/viewer/heartbeat', '/api/viewer/leave', '/api/viewer/rejoin'])
/** Files any page may load cross-origin (the viewer presence module). */
const PUBLIC_FILES = new Set(['/viewer.js'])

/**
 * Serve's CORS (DESIGN §5): viewer-session routes answer any origin, with `Authorization` and
 * `Content-Type` (a bearer, no cookies); API-key routes answer only the origins in CORS_ORIGINS.
 */
export function serveCorsPolicy(corsOrigins: readonly string[]): CorsPolicy {
  const listed = new Set(corsOrigins)
  return (origin, path) => {
    const trusted = listed.has(origin)
    if (VIEWER_SESSION_ROUTES.has(path)) {
      return {
        allowOrigin: trusted ? origin : '*',
        allowHeaders: trusted ? ['authorization', 'content-type', 'x-api-key'] : ['authorization', 'content-type'],
        allowMethods: ['POST'],
      }
    }
    if (PUBLIC_FILES.has(path)) return { allowOrigin: '*', allowHeaders: [], allowMethods: ['GET'] }
    if (trusted && (path.startsWith('/api/') || path === '/metrics')) {
      return {
        allowOrigin: origin,
        allowHeaders: ['x-api-key', 'content-type', 'authorization', 'x-media-auth', 'x-request-id'],
        allowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
      }
    }
    return null
  }
}
