import { describe, expect, test } from 'bun:test'
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose'
import { generateKeyPair, importPrivateKey, SelfSignedTokenIssuer } from '../../src/ivs/signer'
import { ManualClock } from '../support/clock'

const STAGE = {
  arn: 'arn:aws:ivs:eu-west-1:123456789012:stage/AbCdEf123456',
  endpoints: { whip: 'https://global.whip.live-video.net', events: 'wss://global.events.live-video.net' },
}
const KID = 'arn:aws:ivs:eu-west-1:123456789012:public-key/KeyId0000001'

async function issuer(clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0, 789))) {
  const pair = await generateKeyPair()
  const { key } = await importPrivateKey(pair.privateKeyPem)
  return { pair, clock, signer: new SelfSignedTokenIssuer(key, KID, clock) }
}

describe('ES384 self-signed participant tokens', () => {
  test('verify with jose against the public key, with the exact header and every claim', async () => {
    const { pair, clock, signer } = await issuer()
    const issued = await signer.issue({
      stage: STAGE,
      userId: 'viewer-456',
      attributes: { displayName: 'Ada' },
      capabilities: ['SUBSCRIBE'],
      durationMinutes: 60,
    })
    const publicKey = await importSPKI(pair.publicKeyPem, 'ES384')
    const { payload, protectedHeader } = await jwtVerify(issued.token, publicKey, { algorithms: ['ES384'], currentDate: new Date(clock.now()) })
    expect(protectedHeader).toEqual({ alg: 'ES384', typ: 'JWT', kid: KID })
    const iat = Math.floor(clock.now() / 1000)
    expect(payload).toEqual({
      exp: iat + 3600,
      iat,
      jti: issued.participantId,
      user_id: 'viewer-456',
      resource: STAGE.arn,
      topic: 'AbCdEf123456',
      events_url: STAGE.endpoints.events,
      whip_url: STAGE.endpoints.whip,
      capabilities: { allow_publish: false, allow_subscribe: true },
      attributes: { displayName: 'Ada' },
      version: '1.0',
    })
    expect(Number.isInteger(payload.iat)).toBe(true)
    expect(Number.isInteger(payload.exp)).toBe(true)
    expect(issued.participantId).toMatch(/^[A-Za-z0-9-]{1,64}$/)
    expect(issued.expirationTime).toBe(new Date((iat + 3600) * 1000).toISOString())
  })

  test('publish capability, no attributes, caller-chosen participant id', async () => {
    const { pair, clock, signer } = await issuer()
    const issued = await signer.issue({
      participantId: 'relay-AbC123',
      stage: STAGE,
      userId: 'p',
      attributes: {},
      capabilities: ['PUBLISH'],
      durationMinutes: 240,
    })
    const { payload } = await jwtVerify(issued.token, await importSPKI(pair.publicKeyPem, 'ES384'), { currentDate: new Date(clock.now()) })
    expect(payload.jti).toBe('relay-AbC123')
    expect(payload.capabilities).toEqual({ allow_publish: true, allow_subscribe: false })
    expect('attributes' in payload).toBe(false)
  })

  test('a token signed by another key does not verify', async () => {
    const a = await issuer()
    const b = await issuer()
    const issued = await a.signer.issue({ stage: STAGE, userId: 'u', attributes: {}, capabilities: ['SUBSCRIBE'], durationMinutes: 1 })
    expect(decodeProtectedHeader(issued.token).kid).toBe(KID)
    await expect(jwtVerify(issued.token, await importSPKI(b.pair.publicKeyPem, 'ES384'), { currentDate: new Date(a.clock.now()) })).rejects.toThrow()
  })

  test('participant ids are distinct and use only [A-Za-z0-9-]', async () => {
    const { signer } = await issuer()
    const ids = await Promise.all(
      Array.from({ length: 200 }, () => signer.issue({ stage: STAGE, userId: 'u', attributes: {}, capabilities: ['SUBSCRIBE'], durationMinutes: 1 })),
    )
    const set = new Set(ids.map((i) => i.participantId))
    expect(set.size).toBe(200)
    for (const id of set) expect(id).toMatch(/^[A-Za-z0-9-]+$/)
  })
})
