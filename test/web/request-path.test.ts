import { expect, test } from 'bun:test'
import { canonicalPath, pathOf } from '../../src/web/request-path'

test('the path of an absolute URL and of the bare path Bun gives for a malformed Host are the same', () => {
  expect(pathOf('http://127.0.0.1:3000/api/stats?x=1')).toBe('/api/stats')
  expect(pathOf('/api/stats?x=1')).toBe('/api/stats')
  expect(pathOf('/api/stats')).toBe('/api/stats')
  expect(pathOf('http://[::1]:3000/health/ready')).toBe('/health/ready')
  expect(pathOf('http://host')).toBe('/')
  expect(pathOf('/')).toBe('/')
})

test('the canonical path: every spelling of a route is that route, so the pipeline checks it the same', () => {
  const spellings: [string, string][] = [
    ['/metrics', '/metrics'],
    ['http://x/metrics?x=1', '/metrics'],
    ['/metrics/', '/metrics'],
    ['/metrics/.', '/metrics'],
    ['/metrics/./', '/metrics'],
    ['/metrics/?x', '/metrics'],
    ['//metrics', '/metrics'],
    ['/./metrics', '/metrics'],
    ['/x/../metrics', '/metrics'],
    ['/../../metrics', '/metrics'],
    ['/%6Detrics', '/metrics'],
    ['/%6d%65trics', '/metrics'],
    ['/metrics%2F', '/metrics'],
    ['/metrics/%2e', '/metrics'],
    ['/metrics/%2E%2E/metrics', '/metrics'],
    ['/metrics\\', '/metrics'],
    ['/api//stats', '/api/stats'],
    ['/api/%73tats/', '/api/stats'],
    ['http://[::1]:3000/ws/?type=viewer', '/ws'],
    ['/', '/'],
    ['//', '/'],
    ['/..', '/'],
    ['http://host', '/'],
  ]
  for (const [url, path] of spellings) expect({ url, path: canonicalPath(url) }).toEqual({ url, path })
  // Non-ASCII escapes are left as they are (they cannot spell a route's name); an ARN keeps its shape.
  expect(canonicalPath('/api/stage/arn%3Aaws%3Aivs%3Aus-east-1%3A1%3Astage%2FAbC')).toBe('/api/stage/arn:aws:ivs:us-east-1:1:stage/AbC')
  expect(canonicalPath('/caf%C3%A9/')).toBe('/caf%C3%A9')
  expect(canonicalPath('/api/stats')).toBe('/api/stats')
})
