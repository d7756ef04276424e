import { expect, test } from 'bun:test'
import { LruMap } from '../../src/lru-map'

test('never holds more than its cap; keys read recently survive a flood of new ones', () => {
  const map = new LruMap<string, number>(10)
  map.set('active', 1)
  for (let i = 0; i < 1_000; i++) {
    map.set(`flood-${i}`, i)
    expect(map.size).toBeLessThanOrEqual(10)
    if (i % 3 === 0) expect(map.get('active')).toBe(1)
  }
  expect(map.get('active')).toBe(1)
  expect(map.get('flood-0')).toBeUndefined()
  expect(map.get('flood-999')).toBe(999)
  expect(map.evicted + map.size).toBe(1_001)
})

test('set replaces, delete removes from either generation, prune drops what is stale', () => {
  const map = new LruMap<string, number>(6)
  map.set('a', 1)
  map.set('b', 2)
  map.set('c', 3) // a generation (half the cap) is full: a, b, c are the older one now
  map.set('a', 10)
  expect([map.get('a'), map.get('b'), map.get('c')]).toEqual([10, 2, 3])
  expect(map.delete('b')).toBe(true)
  expect(map.delete('b')).toBe(false)
  map.prune((value) => value > 5)
  expect([map.get('a'), map.get('c')]).toEqual([undefined, 3])
  expect(() => new LruMap(1)).toThrow()
})
