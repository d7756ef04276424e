import { expect, test } from 'bun:test'
import { pathOf } from '../../src/web/request-path'

test('the path of an absolute URL and of the bare path Bun gives for a malformed Host are the same', () => {
  expect(pathOf('http://127.0.0.1:3000/api/stats?x=1')).toBe('/api/stats')
  expect(pathOf('/api/stats?x=1')).toBe('/api/stats')
  expect(pathOf('/api/stats')).toBe('/api/stats')
  expect(pathOf('http://[::1]:3000/health/ready')).toBe('/health/ready')
  expect(pathOf('http://host')).toBe('/')
  expect(pathOf('/')).toBe('/')
})
