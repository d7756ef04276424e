import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors'
import { ViewerSessions } from '../../src/fleet/viewer-session'
import { Authenticator } from '../../src/http/auth'
import { ManualClock } from '../support/clock'

const API_KEY = 'unit-api-key-0123456789abcdef'
const MEDIA_SECRET = 'unit-media-secret-0123456789'
const STAGE = 'arn:aws:ivs:us-east-1:000000000000:stage/AbCdEf123456'

function authenticator(settings: { mediaSecret?: string | null; skipAuth?: boolean } = {}) {
  const clock = new ManualClock(Date.UTC(2026, 11, 1, 12))
  const sessions = new ViewerSessions({ key: Buffer.alloc(32, 5), legacyApiKeys: [API_KEY] })
  const auth = new Authenticator({ apiKey: API_KEY, mediaSecret: settings.mediaSecret ?? null, skipAuth: settings.skipAuth ?? false }, sessions, clock)
  /** A session for `userId` that expires `ttlS` seconds from now. */
  const session = (userId: string, ttlS = 60, signer = sessions) =>
    signer.sign({ userId, participantId: `p-${userId}`, stageArn: STAGE, exp: Math.floor(clock.now() / 1000) + ttlS })
  return { clock, sessions, auth, session }
}

/** What `fn` threw, as the client would see it: code, message and details; or 'ok'. */
function outcome(fn: () => unknown): 'ok' | { code: string; message: string; details?: unknown } {
  try {
    fn()
    return 'ok'
  } catch (error) {
    if (!(error instanceof AppError)) throw error
    return error.details === undefined ? { code: error.code, message: error.message } : { code: error.code, message: error.message, details: error.details }
  }
}
const code = (fn: () => unknown) => {
  const o = outcome(fn)
  return o === 'ok' ? o : o.code
}

describe('Authenticator: the API key', () => {
  test('missing, wrong and right, each with its own message', () => {
    const { auth } = authenticator()
    expect(outcome(() => auth.requireApiKey({}))).toEqual({ code: 'UNAUTHORIZED', message: 'x-api-key header is required' })
    expect(outcome(() => auth.requireApiKey({ 'x-api-key': '' }))).toEqual({ code: 'UNAUTHORIZED', message: 'x-api-key header is required' })
    expect(outcome(() => auth.requireApiKey({ 'x-api-key': 'wrong' }))).toEqual({ code: 'UNAUTHORIZED', message: 'x-api-key is not valid' })
    expect(outcome(() => auth.requireApiKey({ 'x-api-key': API_KEY }))).toBe('ok')
  })

  test('compared by digest: keys of any length (shorter, longer, a prefix, one byte off, not ASCII) are refused without an error of their own', () => {
    const { auth } = authenticator()
    const wrong = ['x', API_KEY.slice(0, -1), `${API_KEY}x`, `${API_KEY.slice(0, -1)}g`, API_KEY.toUpperCase(), 'ключ-é-🔑', 'k'.repeat(10_000)]
    for (const key of wrong)
      expect([key.slice(0, 20), auth.isApiKey(key), code(() => auth.requireApiKey({ 'x-api-key': key }))]).toEqual([key.slice(0, 20), false, 'UNAUTHORIZED'])
    expect([auth.isApiKey(undefined), auth.isApiKey(API_KEY)]).toEqual([false, true])
  })

  test('SKIP_AUTH lets everything through; sockets take the key from the header or the query', () => {
    const open = authenticator({ skipAuth: true, mediaSecret: MEDIA_SECRET }).auth
    expect([code(() => open.requireApiKey({})), code(() => open.requireMedia({})), open.checkSocketKey(undefined, undefined)]).toEqual(['ok', 'ok', true])
    expect(open.requireViewer({}, 'anyone')).toBeNull()
    const { auth } = authenticator()
    expect([auth.checkSocketKey(API_KEY, undefined), auth.checkSocketKey(undefined, API_KEY), auth.checkSocketKey(undefined, 'wrong')]).toEqual([
      true,
      true,
      false,
    ])
    expect(auth.checkSocketKey('wrong', API_KEY)).toBe(false) // the header, when sent, is the one checked
    expect(auth.checkSocketKey(undefined, undefined)).toBe(false)
  })
})

describe('Authenticator: the media secret (relay routes)', () => {
  const key = { 'x-api-key': API_KEY }

  test('configured: the API key first, then x-media-auth required and right', () => {
    const { auth } = authenticator({ mediaSecret: MEDIA_SECRET })
    expect(code(() => auth.requireMedia({ 'x-media-auth': MEDIA_SECRET }))).toBe('UNAUTHORIZED') // no API key
    expect(code(() => auth.requireMedia({ 'x-api-key': 'wrong', 'x-media-auth': MEDIA_SECRET }))).toBe('UNAUTHORIZED')
    expect(outcome(() => auth.requireMedia(key))).toEqual({ code: 'UNAUTHORIZED', message: 'x-media-auth header is required for relay routes' })
    expect(outcome(() => auth.requireMedia({ ...key, 'x-media-auth': `${MEDIA_SECRET}x` }))).toEqual({
      code: 'FORBIDDEN',
      message: 'x-media-auth is not valid',
      details: { credential: 'x-media-auth' },
    })
    expect(code(() => auth.requireMedia({ ...key, 'x-media-auth': MEDIA_SECRET }))).toBe('ok')
  })

  test('not configured: the API key alone, whatever x-media-auth says', () => {
    const { auth } = authenticator({ mediaSecret: null })
    expect([code(() => auth.requireMedia(key)), code(() => auth.requireMedia({ ...key, 'x-media-auth': 'anything' }))]).toEqual(['ok', 'ok'])
    expect(code(() => auth.requireMedia({}))).toBe('UNAUTHORIZED')
  })

  test('optional where the original media server may send it: absent is fine, sent must be right', () => {
    const { auth } = authenticator({ mediaSecret: MEDIA_SECRET })
    expect(code(() => auth.requireApiKeyAndAnyMediaSecret(key))).toBe('ok')
    expect(code(() => auth.requireApiKeyAndAnyMediaSecret({ ...key, 'x-media-auth': MEDIA_SECRET }))).toBe('ok')
    expect(code(() => auth.requireApiKeyAndAnyMediaSecret({ ...key, 'x-media-auth': 'wrong' }))).toBe('FORBIDDEN')
    expect(code(() => auth.requireApiKeyAndAnyMediaSecret({ 'x-media-auth': MEDIA_SECRET }))).toBe('UNAUTHORIZED')
    const { auth: without } = authenticator({ mediaSecret: null })
    expect(code(() => without.requireApiKeyAndAnyMediaSecret({ ...key, 'x-media-auth': 'wrong' }))).toBe('ok')
  })
})

describe('Authenticator: viewer sessions', () => {
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

  test('a valid session acts for its own user and hands back its claims (stage included, for the route to use)', () => {
    const { auth, session, clock } = authenticator()
    const claims = auth.requireViewer(bearer(session('alice')), 'alice')
    expect(claims).toEqual({ userId: 'alice', participantId: 'p-alice', stageArn: STAGE, exp: Math.floor(clock.now() / 1000) + 60 })
    expect(auth.requireViewer({ authorization: `bearer   ${session('alice')}` }, 'alice')?.userId).toBe('alice')
    // The rate-limit key is the user, whichever participant the session names (each rejoin names a new one).
    expect(auth.sessionKey(session('alice'))).toBe('alice')
  })

  test('for another user: FORBIDDEN, the signature being ours', () => {
    const { auth, session } = authenticator()
    expect(outcome(() => auth.requireViewer(bearer(session('alice')), 'bob'))).toEqual({
      code: 'FORBIDDEN',
      message: 'viewerSession belongs to another userId',
    })
    // Before the body is read, any valid session is a credential: whose it is is checked later.
    expect(code(() => auth.requireViewerCredential(bearer(session('alice'))))).toBe('ok')
  })

  test('expired: UNAUTHORIZED with reason session-expired, at the second it ends and not before', () => {
    const { auth, session, clock } = authenticator()
    clock.set(Date.UTC(2026, 11, 1, 12)) // a whole second
    const token = session('alice', 60)
    clock.advance(59_999)
    expect(code(() => auth.requireViewer(bearer(token), 'alice'))).toBe('ok')
    clock.advance(1)
    const expired = {
      code: 'UNAUTHORIZED',
      message: 'viewerSession has expired; request a new viewer token',
      details: { reason: 'session-expired' },
    }
    expect(outcome(() => auth.requireViewer(bearer(token), 'alice'))).toEqual(expired)
    expect(outcome(() => auth.requireViewerCredential(bearer(token)))).toEqual(expired)
    expect(auth.sessionKey(token)).toBeNull()
  })

  test('forged or malformed: UNAUTHORIZED without the expired reason (a guess)', () => {
    const { auth, session } = authenticator()
    const good = session('alice')
    const [version, payload, mac] = good.split('.') as [string, string, string]
    const otherPayload = Buffer.from(JSON.stringify(['alice', 'p-alice', STAGE, 4_000_000_000])).toString('base64url')
    const flipped = mac[0] === 'A' ? `B${mac.slice(1)}` : `A${mac.slice(1)}`
    const forged = [
      session('alice', 60, new ViewerSessions({ key: Buffer.alloc(32, 6) })), // signed with another fleet's key
      `${version}.${otherPayload}.${mac}`, // a longer expiry under the old MAC
      `${version}.${payload}.${flipped}`, // one character of the MAC
      `${version}.${payload}.${mac.slice(0, 10)}`, // a short MAC
      `${version}.${payload}.${mac}${mac}`, // a long one
      `v1.${payload}.${mac}`, // the right MAC under the legacy version
      `${version}.${payload}`,
      'not-a-session',
    ]
    const invalid = { code: 'UNAUTHORIZED', message: 'viewerSession is not valid; request a new viewer token' }
    for (const token of forged) {
      expect([token.slice(0, 12), outcome(() => auth.requireViewer(bearer(token), 'alice'))]).toEqual([token.slice(0, 12), invalid])
      expect(auth.sessionKey(token)).toBeNull()
    }
  })

  test('no session and no key: UNAUTHORIZED naming both ways; an x-api-key header always takes the key path', () => {
    const { auth, session } = authenticator()
    expect(outcome(() => auth.requireViewer({}, 'alice'))).toEqual({
      code: 'UNAUTHORIZED',
      message: 'x-api-key header is required (a viewer app sends Authorization: Bearer <viewerSession> instead)',
    })
    expect(code(() => auth.requireViewer({ authorization: `Basic ${session('alice')}` }, 'alice'))).toBe('UNAUTHORIZED')
    expect(code(() => auth.requireViewerCredential({}))).toBe('UNAUTHORIZED')
    // An app backend with the API key acts for any user; a wrong key is not rescued by a valid session.
    expect(auth.requireViewer({ 'x-api-key': API_KEY }, 'anyone')).toBeNull()
    expect(code(() => auth.requireViewer({ 'x-api-key': 'wrong', ...bearer(session('alice')) }, 'alice'))).toBe('UNAUTHORIZED')
    expect(code(() => auth.requireViewerCredential({ 'x-api-key': 'wrong', ...bearer(session('alice')) }))).toBe('UNAUTHORIZED')
  })
})
