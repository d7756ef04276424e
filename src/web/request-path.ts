/**
 * Where the path starts in a request's URL. Bun gives `request.url` as an absolute URL normally,
 * but as the bare path when the Host header is not a valid host (`Host: a/b`): both must give the
 * same path, or a bad Host would slip past every hook that decides by path (the guess budget, the
 * rate limit, security headers, the drain's readiness answer).
 */
export function pathStart(url: string): number {
  if (url.startsWith('/')) return 0
  const scheme = url.indexOf('//')
  const start = url.indexOf('/', scheme === -1 ? 0 : scheme + 2)
  return start === -1 ? url.length : start
}

/** The path of a request's URL, without the query ('/' when there is none). */
export function pathOf(url: string): string {
  const start = pathStart(url)
  if (start === url.length) return '/'
  const end = url.indexOf('?', start)
  return url.slice(start, end === -1 ? undefined : end)
}

/** Anything a spelling can hide in: an escape, a backslash, an empty or dot segment, a trailing slash. */
const UNUSUAL = /%|\\|\/\/|\/\.|.\/$/

/**
 * The path the pipeline decides by (credentialed or not, which credentials), however the client
 * spelled it: the path of `pathOf`, with ASCII percent-escapes decoded once, backslashes read as
 * slashes, empty and `.` segments dropped, `..` resolved, and no trailing slash. Routers disagree
 * on which spellings are one route (Bun resolves dot segments in request.url only for a valid Host;
 * Elysia answers `/metrics/` with another route): deciding on one form means a spelling can only
 * add a check, never skip one.
 */
export function canonicalPath(url: string): string {
  const path = pathOf(url)
  if (!UNUSUAL.test(path)) return path
  // Only ASCII escapes can spell a route's name or a separator; the rest stay as they are.
  const decoded = path.replace(/%([0-7][0-9a-f])/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
  const segments: string[] = []
  for (const segment of decoded.replaceAll('\\', '/').split('/')) {
    if (segment === '..') segments.pop()
    else if (segment !== '' && segment !== '.') segments.push(segment)
  }
  return `/${segments.join('/')}`
}
