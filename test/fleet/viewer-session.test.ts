import { expect, test } from 'bun:test'
import { createHmac } from 'node:crypto'
import { AppError } from '../../src/errors'
import { ViewerSessions } from '../../src/fleet/viewer-session'

const claims = { userId: 'viewer-456', participantId: 'p1', stageArn: 'arn:aws:ivs:us-east-1:000000000000:stage/AbCdEf123456', exp: 2_000_000_000 }
const KEY = Buffer.alloc(32, 7)
const OTHER_KEY = Buffer.alloc(32, 8)
const OLD_API_KEY = 'the-old-api-key-0123456789'
const NEW_API_KEY = 'the-new-api-key-0123456789'

/**
 * A session exactly as releases before the fleet's own key signed it, written out here from that
 * release's code (not from the module under test): HMAC-SHA256 keyed with SHA-256-HMAC(apiKey,
 * "ivs-fanout viewer session v1"), over the base64url JSON payload, as `v1.<payload>.<mac>`.
 */
function preUpgradeSession(apiKey: string, c = claims): string {
  const key = createHmac('sha256', apiKey).update('ivs-fanout viewer session v1').digest()
  const payload = Buffer.from(JSON.stringify([c.userId, c.participantId, c.stageArn, c.exp])).toString('base64url')
  return `v1.${payload}.${createHmac('sha256', key).update(payload).digest('base64url')}`
}

test('a signed session verifies and carries its claims', () => {
  const sessions = new ViewerSessions({ key: KEY })
  const token = sessions.sign(claims)
  expect(token).toStartWith('v2.')
  expect(sessions.verify(token, 1_000)).toEqual(claims)
})

test('expired, forged, tampered or malformed sessions are refused', () => {
  const sessions = new ViewerSessions({ key: KEY })
  const token = sessions.sign(claims)
  expect(sessions.check(token, claims.exp * 1000)).toEqual({ problem: 'expired' })
  expect(new ViewerSessions({ key: OTHER_KEY }).verify(token, 1_000)).toBeNull()
  const [v, payload, mac] = token.split('.') as [string, string, string]
  const tampered = Buffer.from(JSON.stringify(['someone-else', 'p1', claims.stageArn, claims.exp])).toString('base64url')
  expect(sessions.verify(`${v}.${tampered}.${mac}`, 1_000)).toBeNull()
  expect(sessions.verify(`${v}.${payload}`, 1_000)).toBeNull()
  expect(sessions.verify(`v1.${payload}.${mac}`, 1_000)).toBeNull()
  expect(sessions.verify(`v3.${payload}.${mac}`, 1_000)).toBeNull()
  expect(sessions.verify('garbage', 1_000)).toBeNull()
  expect(sessions.verify('', 1_000)).toBeNull()
})

test("the fleet's key does not depend on the API key: sessions survive a rotation; a replaced fleet key is still verified", () => {
  const before = new ViewerSessions({ key: KEY, legacyApiKeys: [OLD_API_KEY] })
  const during = new ViewerSessions({ key: KEY, legacyApiKeys: [NEW_API_KEY, OLD_API_KEY] })
  const after = new ViewerSessions({ key: KEY, legacyApiKeys: [NEW_API_KEY] })
  const token = before.sign(claims)
  expect([during.verify(token, 1_000), after.verify(token, 1_000)]).toEqual([claims, claims])
  // The store's key changed under a running instance (fleet/session-key.ts): it signs with the new one, verifies both.
  after.useKey(OTHER_KEY)
  const fresh = after.sign(claims)
  expect([after.verify(token, 1_000), after.verify(fresh, 1_000), new ViewerSessions({ key: KEY }).verify(fresh, 1_000)]).toEqual([claims, claims, null])
})

test('sessions signed before the upgrade (derived from the API key) verify under API_SECRET_KEY or API_SECRET_KEY_PREVIOUS; new ones are never signed that way', () => {
  const old = preUpgradeSession(OLD_API_KEY)
  // The upgrade, same API key: the old sessions still verify.
  expect(new ViewerSessions({ key: KEY, legacyApiKeys: [OLD_API_KEY] }).verify(old, 1_000)).toEqual(claims)
  // The upgrade together with a rotation: through API_SECRET_KEY_PREVIOUS.
  const rotating = new ViewerSessions({ key: KEY, legacyApiKeys: [NEW_API_KEY, OLD_API_KEY] })
  expect(rotating.verify(old, 1_000)).toEqual(claims)
  expect(rotating.check(preUpgradeSession(OLD_API_KEY, { ...claims, exp: 1 }), 1_000)).toEqual({ problem: 'expired' })
  // Neither key: not ours. No legacy key at all (local mode's generated key): not ours either.
  expect(new ViewerSessions({ key: KEY, legacyApiKeys: [NEW_API_KEY] }).verify(old, 1_000)).toBeNull()
  expect(new ViewerSessions({ key: KEY }).verify(old, 1_000)).toBeNull()
  // What it signs is under the fleet's key, which no API key opens.
  const fresh = rotating.sign(claims)
  expect(fresh).toStartWith('v2.')
  expect(new ViewerSessions({ key: OTHER_KEY, legacyApiKeys: [NEW_API_KEY, OLD_API_KEY] }).verify(fresh, 1_000)).toBeNull()
})

test("before the fleet's key is read: signing is 503 UPSTREAM_UNAVAILABLE, a v2 session cannot be checked (not 'invalid'), a v1 one can", () => {
  const sessions = new ViewerSessions({ legacyApiKeys: [OLD_API_KEY] })
  const token = new ViewerSessions({ key: KEY }).sign(claims)
  expect(sessions.ready).toBe(false)
  expect(() => sessions.sign(claims)).toThrow(AppError)
  expect(sessions.check(token, 1_000)).toEqual({ problem: 'unavailable' })
  expect(sessions.verify(preUpgradeSession(OLD_API_KEY), 1_000)).toEqual(claims)
  sessions.useKey(KEY)
  expect([sessions.ready, sessions.verify(token, 1_000)]).toEqual([true, claims])
})
