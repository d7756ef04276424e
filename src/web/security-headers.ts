import { Elysia } from 'elysia'
import { pathOf } from './request-path'

/**
 * The Content-Security-Policy of our own HTML pages (serve's dashboard and /watch, the relay's
 * publish page): nothing is allowed unless listed. Each page is one HTML file plus its own script and
 * style sheet from the same origin, and talks to its own origin (fetch, and the dashboard's
 * WebSocket: CSP 3 lets 'self' match ws:/wss: on the page's host), plus what its options name (the
 * /watch page: AWS's CDN for the IVS web SDK, IVS's endpoints). No inline script, no eval, no
 * plugins, no <base>, forms post only to the page's origin, and no other site may frame the page
 * (clickjacking).
 */
const PAGE_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
]

export interface PageCspOptions {
  /**
   * The page writes markup with `style="…"` attributes (the dashboard's capacity bars); those are
   * allowed, `<style>` elements and inline scripts still are not.
   */
  styleAttributes?: boolean
  /** Where the page loads scripts from besides its own origin (script-src): origins, or a file's exact URL. */
  scripts?: readonly string[]
  /** Endpoints the page connects to besides its own origin: fetch, WebSocket (connect-src). */
  connect?: readonly string[]
  /** Where the page's scripts may start workers from (worker-src; without it, script-src's sources). */
  workers?: readonly string[]
}

/** A page's policy: PAGE_POLICY, widened only where `options` say. */
export function pageCsp(options: PageCspOptions = {}): string {
  const widened: Record<string, readonly string[] | undefined> = { 'script-src': options.scripts, 'connect-src': options.connect }
  const policy = PAGE_POLICY.map((directive) => {
    const more = widened[directive.split(' ')[0]!]
    return more?.length ? `${directive} ${more.join(' ')}` : directive
  })
  if (options.workers?.length) policy.push(`worker-src ${options.workers.join(' ')}`)
  if (options.styleAttributes) policy.push("style-src-attr 'unsafe-inline'")
  return policy.join('; ')
}

export interface SecurityHeaderOptions {
  /** Path of each HTML page of ours → its Content-Security-Policy. */
  pages: Record<string, string>
  /** Paths whose responses carry a secret (participant tokens, viewer sessions): `Cache-Control: no-store`. */
  noStore?: readonly string[]
}

/**
 * Security headers for both modes, on every response (errors and 404s included):
 * `X-Content-Type-Options: nosniff` (a response is only ever what its Content-Type says) and
 * `Referrer-Policy: no-referrer` (nothing here needs a Referer, so none is sent from our pages);
 * plus a CSP on our HTML pages and `Cache-Control: no-store` where a secret is returned.
 * /swagger (a third-party UI loaded from a CDN, with inline script and styles) gets no CSP.
 */
export function securityHeaders(options: SecurityHeaderOptions) {
  const noStore = new Set(options.noStore ?? [])
  return new Elysia({ name: 'security-headers' }).onRequest(({ request, set }) => {
    set.headers['x-content-type-options'] = 'nosniff'
    set.headers['referrer-policy'] = 'no-referrer'
    const path = pathOf(request.url)
    const csp = Object.hasOwn(options.pages, path) ? options.pages[path] : undefined
    if (csp) set.headers['content-security-policy'] = csp
    if (noStore.has(path)) set.headers['cache-control'] = 'no-store'
  })
}
