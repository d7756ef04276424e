/** API_ALLOWED_CIDRS (issue 20 item 8): the API-key routes answer only listed client addresses. */
import { describe, expect, test } from 'bun:test'
import { loadServeConfig } from '../../src/config/serve'
import { freshServer } from '../support/serve'

const ALLOWED = '10.1.2.3'
const OUTSIDE = '203.0.113.9'

describe('API_ALLOWED_CIDRS', () => {
  test('API-key routes answer a listed address (after TRUST_PROXY) and refuse any other with 403 before looking at the key', async () => {
    await using server = await freshServer({ API_ALLOWED_CIDRS: '10.0.0.0/8, 2001:db8::/32', TRUST_PROXY: '127.0.0.1', AUTH_FAILURE_LIMIT: '3' })
    const from = (address: string, init: RequestInit & { json?: unknown } = {}) =>
      server.api('/api/stats', { ...init, headers: { 'x-forwarded-for': address, ...(init.headers as Record<string, string>) } })
    expect((await from(ALLOWED)).status).toBe(200)
    expect((await from('2001:db8::7')).status).toBe(200)
    expect((await from(`::ffff:${ALLOWED}`)).status).toBe(200)
    const refused = await from(OUTSIDE)
    expect(refused.status).toBe(403)
    const body = await refused.json()
    expect(body.error).toMatchObject({ code: 'FORBIDDEN', details: { reason: 'address-not-allowed' } })
    expect(body.error.message).toContain('API_ALLOWED_CIDRS')
    // A wrong key from outside is refused for the address, not counted as a guess: no lock-out after the budget.
    for (let i = 0; i < 6; i++) expect((await from(OUTSIDE, { headers: { 'x-api-key': `wrong-key-${i}-0123456789` } })).status).toBe(403)
    // Token routes too.
    const token = await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'outsider' }, headers: { 'x-forwarded-for': OUTSIDE } })
    expect(token.status).toBe(403)
  })

  test("health and a viewer app's own routes (with its session, no API key) are not affected; the API key on them is", async () => {
    await using server = await freshServer({ API_ALLOWED_CIDRS: '10.0.0.0/8', TRUST_PROXY: '127.0.0.1' })
    const seat = await (await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'viewer-1' }, headers: { 'x-forwarded-for': ALLOWED } })).json()
    expect(seat.success).toBe(true)
    const { stageArn, viewerSession } = seat.data
    expect((await fetch(`${server.url}/health`, { headers: { 'x-forwarded-for': OUTSIDE } })).status).toBe(200)
    const beat = await fetch(`${server.url}/api/viewer/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${viewerSession}`, 'content-type': 'application/json', 'x-forwarded-for': OUTSIDE },
      body: JSON.stringify({ userId: 'viewer-1', stageArn }),
    })
    expect(beat.status).toBe(200)
    const withKey = await server.api('/api/viewer/heartbeat', {
      method: 'POST',
      json: { userId: 'viewer-1', stageArn },
      headers: { 'x-forwarded-for': OUTSIDE },
    })
    expect(withKey.status).toBe(403)
  })

  test('unset: any address; a bad entry is a configuration error naming the variable', async () => {
    await using server = await freshServer({ TRUST_PROXY: '127.0.0.1' })
    expect((await server.api('/api/stats', { headers: { 'x-forwarded-for': OUTSIDE } })).status).toBe(200)
    const bad = loadServeConfig({ API_ALLOWED_CIDRS: '10.0.0.0/8,office' })
    expect(bad.ok ? [] : bad.errors).toContain(
      'API_ALLOWED_CIDRS must be addresses and CIDRs separated by commas (e.g. 10.0.0.0/8,203.0.113.7); "office" is neither',
    )
  })
})
