import { describe, expect, test } from 'bun:test'
import {
  CREATED_TAG,
  createdAt,
  formatAge,
  type KeyView,
  MANAGED_TAG,
  newKeyIdentity,
  type RetireInput,
  retireDecision,
  rotationRefusal,
  tokenLifetime,
  viewKeys,
} from '../../src/cli/key-policy'
import { PublisherTokenBody } from '../../src/http/tokens/model'
import { PUBLIC_KEY_NAME } from '../support/ivs-server/public-keys'

const NOW = Date.UTC(2026, 0, 10, 12, 0, 0)
const MIN = 60_000
const arn = (id: string) => `arn:aws:ivs:eu-west-1:123456789012:public-key/${id.padEnd(12, '0')}`

function view(id: string, created: number | null, extra: Partial<KeyView> = {}): KeyView {
  return { arn: arn(id), name: '', createdAt: created, managed: created !== null, inUse: false, ...extra }
}

function decide(input: Partial<RetireInput> & Pick<RetireInput, 'arn' | 'keys'>) {
  return retireDecision({ inUseArn: arn('inuse'), lifetime: { minutes: 240, source: '--token-minutes' }, now: NOW, force: false, ...input })
}

describe('keys rotate: the name and tags of a new key', () => {
  test('legal for IVS (name [a-zA-Z0-9-_]{0,128}, tags within the tag rules) and carrying the creation time to the second', () => {
    const { name, tags } = newKeyIdentity(Date.UTC(2026, 0, 2, 3, 4, 5, 678))
    expect(name).toBe('ivs-fanout-20260102T030405Z')
    expect(PUBLIC_KEY_NAME.test(name) && name.length <= 128).toBe(true)
    expect(tags).toEqual({ [MANAGED_TAG]: 'true', [CREATED_TAG]: '2026-01-02T03:04:05Z' })
    for (const [key, value] of Object.entries(tags)) {
      expect(key).toMatch(/^[\p{L}\p{N}\s_.:/=+\-@]{1,128}$/u)
      expect(value).toMatch(/^[\p{L}\p{N}\s_.:/=+\-@]{0,256}$/u)
      expect(key.toLowerCase().startsWith('aws:')).toBe(false)
    }
    expect(createdAt({ arn: arn('a'), name, tags })).toBe(Date.UTC(2026, 0, 2, 3, 4, 5))
  })

  test('the creation time is read from the tag, else from the name; anything else is unknown', () => {
    const at = Date.UTC(2026, 0, 2, 3, 4, 5)
    expect(createdAt({ arn: arn('a'), name: 'renamed', tags: { [CREATED_TAG]: '2026-01-02T03:04:05Z' } })).toBe(at)
    expect(createdAt({ arn: arn('a'), name: 'ivs-fanout-20260102T030405Z', tags: {} })).toBe(at)
    expect(createdAt({ arn: arn('a'), name: 'ivs-fanout-20260102T030405Z', tags: { [CREATED_TAG]: 'yesterday' } })).toBe(at)
    expect(createdAt({ arn: arn('a'), name: 'ivs-fanout', tags: {} })).toBeNull()
    expect(createdAt({ arn: arn('a'), name: 'ivs-fanout-20261399T999999Z', tags: {} })).toBeNull()
    expect(createdAt({ arn: arn('a'), name: '', tags: { [CREATED_TAG]: '2026-01-02' } })).toBeNull()
  })

  test('viewKeys: unknown ages first, then oldest first; managed only with the tag; the key in use marked', () => {
    const views = viewKeys(
      [
        { arn: arn('new'), name: 'ivs-fanout-20260105T000000Z', tags: { [MANAGED_TAG]: 'true' } },
        { arn: arn('old'), name: 'ivs-fanout-20260101T000000Z', tags: {} },
        { arn: arn('manual'), name: 'fleet-key', tags: {} },
      ],
      arn('old'),
    )
    expect(views.map((v) => [v.arn, v.managed, v.inUse])).toEqual([
      [arn('manual'), false, false],
      [arn('old'), false, true],
      [arn('new'), true, false],
    ])
  })

  test('rotation is refused at 3 keys, naming the quota', () => {
    expect(rotationRefusal([view('a', 1), view('b', 2)], 'eu-west-1')).toBeNull()
    expect(rotationRefusal([view('a', 1), view('b', 2), view('c', 3)], 'eu-west-1')).toMatch(/3 public keys per Region.*eu-west-1 has 3/)
  })
})

describe('keys retire: which key may go', () => {
  const old = view('old', NOW - 3 * 24 * 60 * MIN)
  const inUse = (created: number | null) => view('inuse', created, { inUse: true })

  test('the key in use never, not even with --force', () => {
    for (const force of [false, true]) {
      const decision = decide({ arn: arn('inuse'), keys: [old, inUse(NOW - 10_000 * MIN)], force })
      expect(decision).toEqual({ ok: false, forceable: false, reason: expect.stringContaining('the key in use (IVS_PUBLIC_KEY_ARN)') })
    }
  })

  test('an unknown ARN is refused, with or without --force', () => {
    expect(decide({ arn: arn('nope'), keys: [old], force: true })).toMatchObject({
      ok: false,
      forceable: false,
      reason: expect.stringContaining('unknown ARN'),
    })
  })

  test('its successor younger than the longest token lifetime: refused (with when it may go); at exactly the lifetime: allowed', () => {
    const young = decide({ arn: arn('old'), keys: [old, inUse(NOW - 239 * MIN)] })
    expect(young).toMatchObject({ ok: false, forceable: true })
    expect(!young.ok && young.reason).toContain('is 3 h 59 min old, younger than the longest token lifetime (240 min = 4 h 0 min: --token-minutes)')
    expect(!young.ok && young.reason).toContain(new Date(NOW + MIN).toISOString())
    expect(!young.ok && young.reason).toContain('the wait counts from when every server was signing with the new key; its import time is only a lower bound')
    expect(decide({ arn: arn('old'), keys: [old, inUse(NOW - 239 * MIN)], force: true })).toEqual({ ok: true })
    expect(decide({ arn: arn('old'), keys: [old, inUse(NOW - 240 * MIN)] })).toEqual({ ok: true })
  })

  test('the successor is the next newer key, not the newest', () => {
    const oldest = view('oldest', NOW - 5000 * MIN)
    const middle = view('middle', NOW - 60 * MIN)
    const keys = [oldest, view('x', NOW - 4000 * MIN), middle, inUse(NOW - 10 * MIN)]
    expect(decide({ arn: arn('oldest'), keys })).toEqual({ ok: true })
    expect(decide({ arn: arn('middle'), keys })).toMatchObject({ ok: false, forceable: true })
  })

  test('conservative when ages are unknown: the key, or a possible successor, of unknown age needs --force', () => {
    const unknown = view('manual', null)
    const a = decide({ arn: arn('manual'), keys: [unknown, inUse(NOW - 10_000 * MIN)] })
    expect(!a.ok && a.reason).toContain('age of')
    expect(a).toMatchObject({ ok: false, forceable: true })
    const b = decide({ arn: arn('old'), keys: [old, inUse(null)] })
    expect(!b.ok && b.reason).toContain(`its successor may be ${arn('inuse')}, whose age is unknown`)
    expect(decide({ arn: arn('manual'), keys: [unknown, inUse(null)], force: true })).toEqual({ ok: true })
  })

  test('the newest key (no successor) and a missing IVS_PUBLIC_KEY_ARN need --force', () => {
    const newest = view('newest', NOW - 9000 * MIN)
    expect(decide({ arn: arn('newest'), keys: [inUse(NOW - 10_000 * MIN), newest] })).toMatchObject({
      ok: false,
      forceable: true,
      reason: expect.stringContaining('no newer key exists'),
    })
    expect(decide({ arn: arn('old'), keys: [old, view('b', NOW - 9000 * MIN)], inUseArn: null })).toMatchObject({
      ok: false,
      forceable: true,
      reason: expect.stringContaining('IVS_PUBLIC_KEY_ARN is not set'),
    })
  })

  test('the lifetime waited out: by default the longest any token can be issued with (the publisher route’s own bound), so a 14-day token outlives no key', () => {
    const ttls = { publisherTokenTtlMin: 240, viewerTokenTtlMin: 60 }
    const byDefault = tokenLifetime(null, ttls)
    expect(PublisherTokenBody.properties.durationMinutes.maximum).toBe('minutes' in byDefault ? byDefault.minutes : -1)
    expect('minutes' in byDefault && byDefault.minutes).toBe(20160)
    expect('source' in byDefault && byDefault.source).toContain('POST /api/token/publisher')
    const lifetime = byDefault as { minutes: number; source: string }
    const ancient = view('old', NOW - 30 * 24 * 60 * MIN)
    // A successor 240 min old (the configured TTL) is not enough: a 14-day publisher token signed with the old key still joins.
    expect(
      retireDecision({ arn: arn('old'), keys: [ancient, inUse(NOW - 240 * MIN)], inUseArn: arn('inuse'), lifetime, now: NOW, force: false }),
    ).toMatchObject({
      ok: false,
      reason: expect.stringContaining(
        'younger than the longest token lifetime (20160 min = 14 d 0 h: the longest durationMinutes POST /api/token/publisher accepts',
      ),
    })
    expect(retireDecision({ arn: arn('old'), keys: [ancient, inUse(NOW - 20160 * MIN)], inUseArn: arn('inuse'), lifetime, now: NOW, force: false })).toEqual({
      ok: true,
    })
  })

  test('--token-minutes: what the operator states, never below the configured TTLs nor above 14 days', () => {
    const ttls = { publisherTokenTtlMin: 240, viewerTokenTtlMin: 300 }
    expect(tokenLifetime(300, ttls)).toEqual({ minutes: 300, source: '--token-minutes' })
    expect(tokenLifetime(1440, ttls)).toEqual({ minutes: 1440, source: '--token-minutes' })
    expect(tokenLifetime(299, ttls)).toEqual({
      error:
        '--token-minutes 299 is shorter than the tokens serve issues by default (PUBLISHER_TOKEN_TTL_MIN 240, VIEWER_TOKEN_TTL_MIN 300): give at least 300',
    })
    expect(tokenLifetime(20161, ttls)).toMatchObject({ error: expect.stringContaining('longer than any token lives') })
  })

  test('ages read as an operator would', () => {
    expect([0, 59_999, 12 * MIN, 125 * MIN, (3 * 24 * 60 + 4 * 60 + 59) * MIN].map(formatAge)).toEqual(['< 1 min', '< 1 min', '12 min', '2 h 5 min', '3 d 4 h'])
  })
})
