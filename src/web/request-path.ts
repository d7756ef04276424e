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
