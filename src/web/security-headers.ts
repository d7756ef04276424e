import { Elysia } from 'elysia'
import { pathOf } from './request-path'

/**
 * The Content-Security-Policy of our own HTML pages (serve's dashboard, the relay's publish page):
 * nothing is allowed unless listed. Each page is one HTML file plus its own script and style sheet
 * from the same origin, and talks only to its own origin (fetch, and the dashboard's WebSocket:
 * CSP 3 lets 'self' match ws:/wss: on the page's host). No inline script, no eval, no plugins, no
 * <base>, forms post only to the page's origin, and no other site may frame the page (clickjacking).
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

/**
 * A page's policy. `styleAttributes`: the page writes markup with `style="…"` attributes (the
 * dashboard's capacity bars); those are allowed, `<style>` elements and inline scripts still are not.
 */
export function pageCsp(options: { styleAttributes?: boolean } = {}): string {
  return [...PAGE_POLICY, ...(options.styleAttributes ? ["style-src-attr 'unsafe-inline'"] : [])].join('; ')
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
