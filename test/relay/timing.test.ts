import { describe, expect, test } from 'bun:test'
import { backoffDelay } from '../../relay/backoff'
import { KeyframeRequester } from '../../relay/ingest/keyframes'

describe('backoff with full jitter', () => {
  test('uniform in [0, min(cap, base·2^attempt)]', () => {
    const opts = { baseMs: 100, capMs: 5_000 }
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, opts, () => 0.999999))).toEqual([99, 199, 399, 799])
    expect(backoffDelay(10, opts, () => 0.999999)).toBe(4_999)
    expect(backoffDelay(1_000, opts, () => 0.5)).toBe(2_500)
    expect(backoffDelay(3, opts, () => 0)).toBe(0)
  })
})

describe('keyframe requests to the publisher', () => {
  test('the first is sent at once, the rest at most once per interval, merged not lost', async () => {
    let now = 0
    const sentAt: number[] = []
    const requester = new KeyframeRequester(() => (sentAt.push(now), true), { minIntervalMs: 100 }, { now: () => now })
    requester.request()
    expect(sentAt).toEqual([0])
    now = 10
    for (let i = 0; i < 20; i++) requester.request() // a burst of PLIs from many stages
    expect(sentAt).toEqual([0])
    now = 100
    await Bun.sleep(120)
    expect(sentAt).toEqual([0, 100])
    expect(requester.sent).toBe(2)
    now = 500
    requester.request()
    expect(sentAt).toEqual([0, 100, 500])
    requester.cancel()
  })
})

test('a keyframe request that could not be sent (track not open yet) does not start the interval', () => {
  let now = 0
  let open = false
  const sentAt: number[] = []
  const requester = new KeyframeRequester(() => (open ? (sentAt.push(now), true) : false), { minIntervalMs: 500 }, { now: () => now })
  requester.request() // publisher track not open: nothing sent
  open = true
  now = 10
  requester.request() // sent at once, not 500 ms later
  expect(sentAt).toEqual([10])
  requester.cancel()
})
