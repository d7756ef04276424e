import { expect, test } from 'bun:test'
import { ViewerSessions } from '../../src/fleet/viewer-session'

const claims = { userId: 'viewer-456', participantId: 'p1', stageArn: 'arn:aws:ivs:us-east-1:000000000000:stage/AbCdEf123456', exp: 2_000_000_000 }

test('a signed session verifies and carries its claims', () => {
  const sessions = new ViewerSessions('secret-one-secret-one')
  expect(sessions.verify(sessions.sign(claims), 1_000)).toEqual(claims)
})

test('expired, forged, tampered or malformed sessions are refused', () => {
  const sessions = new ViewerSessions('secret-one-secret-one')
  const token = sessions.sign(claims)
  expect(sessions.verify(token, claims.exp * 1000)).toBeNull()
  expect(new ViewerSessions('another-secret-value').verify(token, 1_000)).toBeNull()
  const [v, payload, mac] = token.split('.') as [string, string, string]
  const tampered = Buffer.from(JSON.stringify(['someone-else', 'p1', claims.stageArn, claims.exp])).toString('base64url')
  expect(sessions.verify(`${v}.${tampered}.${mac}`, 1_000)).toBeNull()
  expect(sessions.verify(`${v}.${payload}`, 1_000)).toBeNull()
  expect(sessions.verify('garbage', 1_000)).toBeNull()
  expect(sessions.verify('', 1_000)).toBeNull()
})
