import { expect, test } from 'bun:test'
import { DEFAULT_GUESS_POLICY, type FailureCounter, GuessBudget } from '../../src/web/guess-budget'
import { ManualClock } from '../support/clock'

const policy = { ...DEFAULT_GUESS_POLICY, budget: 3, windowMs: 60_000, baseLockMs: 1_000, maxLockMs: 8_000, forgetMs: 3_600_000 }

test('failures are counted per address: past the budget the address is locked, whatever secret it tried', async () => {
  const clock = new ManualClock(0)
  const budget = new GuessBudget(policy, clock)
  expect([await budget.fail('10.0.0.1'), await budget.fail('10.0.0.1')]).toEqual([0, 0])
  expect(budget.lockedFor('10.0.0.1')).toBe(0)
  // The budget's last failure locks: the next try is refused.
  expect(await budget.fail('10.0.0.1')).toBe(1_000)
  expect(budget.lockedFor('10.0.0.1')).toBe(1_000)
  // Another address is not affected.
  expect(budget.lockedFor('10.0.0.2')).toBe(0)
  clock.advance(600)
  expect(budget.lockedFor('10.0.0.1')).toBe(400)
  clock.advance(400)
  expect(budget.lockedFor('10.0.0.1')).toBe(0)
})

test('each further lock-out doubles, up to the maximum; an hour of quiet forgets the address', async () => {
  const clock = new ManualClock(0)
  const budget = new GuessBudget(policy, clock)
  const locks: number[] = []
  for (let round = 0; round < 6; round++) {
    let lock = 0
    for (let i = 0; i < policy.budget; i++) lock = await budget.fail('a')
    locks.push(lock)
    clock.advance(lock)
  }
  expect(locks).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000])
  clock.advance(policy.forgetMs + 1)
  for (let i = 1; i < policy.budget; i++) await budget.fail('a')
  expect(await budget.fail('a')).toBe(1_000)
})

test('failures spread over windows never lock; a new window starts the count again', async () => {
  const clock = new ManualClock(0)
  const budget = new GuessBudget(policy, clock)
  for (let minute = 0; minute < 10; minute++) {
    for (let i = 1; i < policy.budget; i++) expect(await budget.fail('b')).toBe(0)
    clock.advance(policy.windowMs)
  }
  expect(budget.lockedFor('b')).toBe(0)
})

test('with a fleet counter, failures made through other instances count too; a failing counter falls back to this one', async () => {
  const clock = new ManualClock(0)
  let fleetCount = 0
  let down = false
  const fleet: FailureCounter = {
    countHits: async (keys) => {
      if (down) throw new Error('store down')
      expect(keys).toEqual(['authfail:c'])
      return [{ count: ++fleetCount, resetInMs: 60_000 }]
    },
  }
  const budget = new GuessBudget(policy, clock, fleet)
  fleetCount = 10 // other instances saw this address fail already
  expect(await budget.fail('c')).toBe(1_000)
  clock.advance(1_000)
  down = true
  const locks = []
  for (let i = 0; i < policy.budget; i++) locks.push(await budget.fail('c'))
  expect(locks).toEqual([0, 0, 2_000])
})

test('the addresses tracked are capped', async () => {
  const clock = new ManualClock(0)
  const budget = new GuessBudget({ ...policy, maxAddresses: 1_000 }, clock)
  for (let i = 0; i < 5_000; i++) await budget.fail(`192.0.${i >> 8}.${i & 255}`)
  expect(budget.size).toBeLessThanOrEqual(1_000)
  expect(budget.size).toBeGreaterThanOrEqual(500)
})
