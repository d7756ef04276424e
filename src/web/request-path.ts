/**
 * The path of a request's URL, without the query. Bun gives `request.url` as an absolute URL
 * normally, but as the bare path when the Host header is not a valid host (`Host: a/b`): both must
 * give the same path, or a bad Host would slip past every hook that decides by path (the guess
 * budget, the rate limit, security headers, the drain's readiness answer).
 */
export function pathOf(url: string): string {
  let start = 0
  if (!url.startsWith('/')) {
    const scheme = url.indexOf('//')
    start = url.indexOf('/', scheme === -1 ? 0 : scheme + 2)
    if (start === -1) return '/'
  }
  const end = url.indexOf('?', start)
  return url.slice(start, end === -1 ? undefined : end)
}
