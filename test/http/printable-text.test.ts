/**
 * Free-text identifiers (userId, attribute keys and values, participantId, cursor, stage tags,
 * serverId, stage names, the viewer socket's userId) are printable text: no C0/C1 controls, no
 * bidirectional marks/overrides/isolates, no lone surrogates, lengths counted in code points.
 * Real server, real sockets; refused requests must leave no state behind.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { decodeJwt } from 'jose'
import { enc, startTestServer, type TestServer } from '../support/serve'

const MEDIA_SECRET = 'printable-media-secret-0123456789'

/** Each class of bad input, inside an otherwise fine value. */
const BAD: [string, string][] = [
  ['NUL', 'ab\u0000cd'],
  ['CR', 'ab\rcd'],
  ['LF', 'ab\ncd'],
  ['CRLF (header/log injection)', 'ab\r\nSet-Cookie: x=1'],
  ['TAB', 'ab\tcd'],
  ['ESC (terminal escape)', 'ab\u001b[31mred'],
  ['DEL', 'ab\u007fcd'],
  ['C1 NEL U+0085', 'ab\u0085cd'],
  ['C1 CSI U+009B', 'ab\u009b31mcd'],
  ['RLO U+202E', 'ab\u202Ecd'],
  ['LRE U+202A', 'ab\u202Acd'],
  ['LRI U+2066', 'ab\u2066cd'],
  ['PDI U+2069', 'ab\u2069cd'],
  ['RLM U+200F', 'ab\u200Fcd'],
  ['ALM U+061C', 'ab\u061Ccd'],
  ['LINE SEPARATOR U+2028', 'ab\u2028cd'],
  ['tag character U+E0041', 'admin\u{e0041}'],
  ['cancel tag U+E007F', 'ab\u{e007f}cd'],
  ['musical invisible formatting U+1D173', 'ab\u{1d173}cd'],
  ['Hangul filler U+3164', 'ab\u3164cd'],
  ['Hangul choseong filler U+115F', 'ab\u115fcd'],
  ['halfwidth Hangul filler U+FFA0', 'ab\uffa0cd'],
  ['braille blank U+2800', 'ab\u2800cd'],
  ['combining grapheme joiner U+034F', 'ab\u034fcd'],
  ['lone high surrogate', 'ab\ud800cd'],
  ['lone high surrogate at the end', 'abcd\ud800'],
  ['lone low surrogate', 'ab\udc00cd'],
  ['surrogates in the wrong order', 'ab\udc00\ud800cd'],
]
/** A URL cannot carry a lone surrogate (encodeURIComponent throws): query parameters get the rest. */
const isWellFormed = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
const QUERY_BAD = BAD.filter(([, value]) => isWellFormed(value))

const EMOJI = '😀' // one code point, two UTF-16 units
const CODER = '👩🏽‍💻' // four code points (woman, skin tone, ZWJ, laptop), seven UTF-16 units
const GOOD_USER_IDS = [
  'José',
  '山田',
  CODER,
  'Ελένη',
  'مريم',
  'Zoë O’Brien-Łukasz',
  EMOJI.repeat(128),
  CODER.repeat(32),
  'x'.repeat(128),
  // Variation selectors and joiners where emoji and scripts need them.
  '❤️ 1️⃣ 🏳️‍🌈',
  '葛\u{e0100}城',
]
/** userIds that render as nothing: refused even though every code point in them is allowed on its own. */
const BLANK_USER_IDS = [' ', '   ', '\u00a0', '\u3000', '\u200d', '\ufe0f', ' \u200c ']

async function refusal(res: Response) {
  const text = await res.text()
  let body: any = null
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, body, text }
}

/** Fetch with a deadline: an accepted WebSocket upgrade never answers a plain fetch. */
const withDeadline = async (run: () => Promise<Response>) => {
  try {
    return await run()
  } catch (error) {
    return new Response(`no answer: ${(error as Error).message}`, { status: 599 })
  }
}

describe('printable text: every free-text field refuses controls, bidi overrides and broken Unicode', () => {
  let server: TestServer
  let master: string
  let before: unknown
  const triedUserIds = new Set<string>()

  const post = (path: string, json: unknown) => server.api(path, { method: 'POST', json, headers: { 'x-media-auth': MEDIA_SECRET } })
  const get = (path: string) => server.api(path, { headers: { 'x-media-auth': MEDIA_SECRET } })

  async function snapshot() {
    const read = async (path: string) => (await (await get(path)).json()).data
    const stats = await read('/api/stats')
    const stages = await read('/api/stage/list')
    const publisher = await read('/api/stats/publisher')
    const anchor = await server.store.findViewer('anchor')
    return {
      totalViewers: stats.totalViewers,
      stages: stages.stages.map((s: any) => `${s.stageArn} ${s.name} ${JSON.stringify(s.tags)} ${s.viewerCount}`).sort(),
      relays: publisher.relays.map((r: any) => r.serverId),
      publisherActive: publisher.active,
      anchor: anchor && { stageArn: anchor.stageArn, participantId: anchor.participantId },
    }
  }

  beforeAll(async () => {
    server = await startTestServer({ MEDIA_SERVER_SECRET: MEDIA_SECRET, STAGE_CAPACITY: '50' })
    master = (await server.stages.master()).arn
    expect((await post('/api/token/viewer', { userId: 'anchor' })).status).toBe(200)
    before = await snapshot()
  })
  afterAll(() => server.stop())

  interface Case {
    name: string
    /** What the error message must name. */
    field: string
    query?: boolean
    send(bad: string): Promise<Response>
  }
  const asUser = (bad: string) => (triedUserIds.add(bad), bad)
  const CASES: Case[] = [
    { name: 'POST /api/token/viewer userId', field: 'userId', send: (bad) => post('/api/token/viewer', { userId: asUser(bad) }) },
    { name: 'POST /api/token/publisher userId', field: 'userId', send: (bad) => post('/api/token/publisher', { userId: asUser(bad) }) },
    {
      name: 'POST /api/token/viewer attributes value',
      field: 'attributes',
      send: (bad) => post('/api/token/viewer', { userId: 'attr-value-user', attributes: { displayName: bad } }),
    },
    {
      name: 'POST /api/token/publisher attributes key',
      field: 'attributes',
      send: (bad) => post('/api/token/publisher', { userId: 'pub', attributes: { [bad]: 'x' } }),
    },
    { name: 'POST /api/viewer/rejoin userId', field: 'userId', send: (bad) => post('/api/viewer/rejoin', { userId: asUser(bad) }) },
    {
      name: 'POST /api/viewer/rejoin participantId',
      field: 'participantId',
      send: (bad) => post('/api/viewer/rejoin', { userId: 'anchor', participantId: bad }),
    },
    { name: 'POST /api/viewer/heartbeat userId', field: 'userId', send: (bad) => post('/api/viewer/heartbeat', { userId: asUser(bad), stageArn: master }) },
    {
      name: 'POST /api/viewer/heartbeat participantId',
      field: 'participantId',
      send: (bad) => post('/api/viewer/heartbeat', { userId: 'anchor', stageArn: master, participantId: bad }),
    },
    { name: 'POST /api/viewer/leave userId', field: 'userId', send: (bad) => post('/api/viewer/leave', { userId: asUser(bad), stageArn: master }) },
    { name: 'GET /api/viewer/duration ?userId', field: 'userId', query: true, send: (bad) => get(`/api/viewer/duration?userId=${enc(asUser(bad))}`) },
    { name: 'GET /api/viewer/list ?cursor', field: 'cursor', query: true, send: (bad) => get(`/api/viewer/list/${enc(master)}?cursor=${enc(bad)}`) },
    {
      name: 'POST /api/media/register serverId',
      field: 'serverId',
      send: (bad) => post('/api/media/register', { serverId: bad, ipAddress: '127.0.0.1', port: 3001 }),
    },
    {
      name: 'POST /api/media/heartbeat serverId',
      field: 'serverId',
      send: (bad) => post('/api/media/heartbeat', { serverId: bad, publisherActive: true, connectedStages: 1 }),
    },
    { name: 'POST /api/media/token serverId', field: 'serverId', send: (bad) => post('/api/media/token', { serverId: bad, stageArn: master }) },
    { name: 'POST /api/token/mediaserver serverId', field: 'serverId', send: (bad) => post('/api/token/mediaserver', { serverId: bad, stageArn: master }) },
    { name: 'POST /api/stage name', field: 'name', send: (bad) => post('/api/stage', { name: bad }) },
    { name: 'PUT /api/stage/:stageArn name', field: 'name', send: (bad) => server.api(`/api/stage/${enc(master)}`, { method: 'PUT', json: { name: bad } }) },
    { name: 'POST /api/stage tags key', field: 'tags', send: (bad) => post('/api/stage', { tags: { [bad]: 'v' } }) },
    { name: 'POST /api/stage tags value', field: 'tags', send: (bad) => post('/api/stage', { tags: { team: bad } }) },
    {
      name: 'WS /ws?type=viewer userId',
      field: 'userId',
      query: true,
      send: (bad) =>
        withDeadline(() =>
          fetch(`${server.url}/ws?type=viewer&apiKey=${enc(server.apiKey)}&userId=${enc(asUser(bad))}`, {
            headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
            signal: AbortSignal.timeout(2_000),
          }),
        ),
    },
  ]

  for (const c of CASES) {
    test(`${c.name}: each class is refused with 400 VALIDATION_ERROR naming the field`, async () => {
      const wrong: string[] = []
      for (const [label, bad] of c.query ? QUERY_BAD : BAD) {
        const { status, body, text } = await refusal(await c.send(bad))
        const message: string = body?.error?.message ?? ''
        const fields: string[] = (body?.error?.details?.fields ?? []).map((f: { field: string }) => f.field)
        const ok =
          status === 400 &&
          body?.success === false &&
          body.error.code === 'VALIDATION_ERROR' &&
          message.includes(c.field) &&
          (fields.length === 0 || fields.some((f) => f.startsWith(c.field)))
        if (!ok) wrong.push(`${label}: ${status} ${text.slice(0, 160)}`)
      }
      expect(wrong).toEqual([])
    })
  }

  test('a userId of nothing visible (spaces, joiners, variation selectors only) is refused, in bodies and queries', async () => {
    const wrong: string[] = []
    for (const userId of BLANK_USER_IDS) {
      const attempts = [
        await post('/api/token/viewer', { userId: asUser(userId) }),
        await post('/api/viewer/rejoin', { userId: asUser(userId) }),
        await get(`/api/viewer/duration?userId=${enc(asUser(userId))}`),
      ]
      for (const res of attempts) {
        const { status, body, text } = await refusal(res)
        if (status !== 400 || body?.error?.code !== 'VALIDATION_ERROR' || !body.error.message.includes('userId'))
          wrong.push(`${JSON.stringify(userId)}: ${status} ${text.slice(0, 120)}`)
      }
    }
    expect(wrong).toEqual([])
    // An attribute value may be empty, so it may be blank too.
    expect((await post('/api/token/viewer', { userId: 'blank-attribute', attributes: { note: ' ' } })).status).toBe(200)
    expect((await post('/api/viewer/leave', { userId: 'blank-attribute', stageArn: master })).status).toBe(200)
  })

  test('userId messages say what to fix', async () => {
    const body = await (await post('/api/token/viewer', { userId: asUser('a\u202Eb') })).json()
    expect(body.error.message).toContain('userId must be 1-128 characters')
    expect(body.error.message).toContain('printable text')
    expect(body.error.message).toMatch(/control characters/)
    expect(body.error.message).toMatch(/bidirectional/)
    expect(body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(['userId'])
  })

  test('lengths are counted in code points: 129 emoji or 32 ZWJ sequences + 1 are too long', async () => {
    for (const userId of [EMOJI.repeat(129), `${CODER.repeat(32)}x`, 'x'.repeat(129)]) {
      const body = await (await post('/api/token/viewer', { userId: asUser(userId) })).json()
      expect(body.error?.code).toBe('VALIDATION_ERROR')
      expect(body.error.message).toContain('userId must be 1-128 characters')
    }
    const tag = await (await post('/api/stage', { tags: { team: EMOJI.repeat(257) } })).json()
    expect(tag.error?.code).toBe('VALIDATION_ERROR')
    const key = await (await post('/api/token/viewer', { userId: 'long-key', attributes: { [EMOJI.repeat(129)]: 'x' } })).json()
    expect(key.error?.code).toBe('VALIDATION_ERROR')
  })

  test('the refused requests wrote no state', async () => {
    expect(await snapshot()).toEqual(before as never)
    const stored: string[] = []
    for (const userId of triedUserIds) {
      if (await server.store.findViewer(userId)) stored.push(JSON.stringify(userId))
      const duration = await server.viewers.duration(userId, null)
      if (duration.sessions.length > 0) stored.push(`${JSON.stringify(userId)} (watch history)`)
    }
    expect(stored).toEqual([])
    expect(triedUserIds.size).toBeGreaterThan(BAD.length)
  })
})

describe('printable text: other scripts, emoji and code-point lengths are accepted', () => {
  test('viewer tokens, heartbeat, leave, duration and list keep the userId exactly', async () => {
    const server = await startTestServer({ STAGE_CAPACITY: '50' })
    try {
      const master = (await server.stages.master()).arn
      for (const userId of GOOD_USER_IDS) {
        const res = await server.api('/api/token/viewer', {
          method: 'POST',
          json: { userId, attributes: { displayName: `${userId.slice(0, 40)} 山田 ${CODER}` } },
        })
        const body = await res.json()
        expect({ userId, status: res.status, error: body.error }).toEqual({ userId, status: 200, error: undefined })
        const claims = decodeJwt(body.data.token)
        expect(claims.user_id).toBe(userId)
        expect((claims.attributes as Record<string, string>).displayName).toBe(`${userId.slice(0, 40)} 山田 ${CODER}`)
        expect((await server.store.findViewer(userId))?.stageArn).toBe(master)
        const auth = { authorization: `Bearer ${body.data.viewerSession}` }
        const beat = await fetch(`${server.url}/api/viewer/heartbeat`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ userId, stageArn: master }),
        })
        expect(beat.status).toBe(200)
        const duration = await (await server.api(`/api/viewer/duration?userId=${enc(userId)}`)).json()
        expect(duration.data.userId).toBe(userId)
        expect(duration.data.sessions.length).toBe(1)
      }
      const list = await (await server.api(`/api/viewer/list/${enc(master)}?limit=1000`)).json()
      expect(list.data.viewers.map((v: { userId: string }) => v.userId).sort()).toEqual([...GOOD_USER_IDS].sort())
      // A userId as the cursor (the list is ordered by userId).
      const page = await server.api(`/api/viewer/list/${enc(master)}?limit=1&cursor=${enc('山田')}`)
      expect(page.status).toBe(200)
      const leave = await server.api('/api/viewer/leave', { method: 'POST', json: { userId: CODER, stageArn: master } })
      expect(leave.status).toBe(200)
    } finally {
      await server.stop()
    }
  })

  test('attribute keys and stage tags take printable text counted in code points', async () => {
    const server = await startTestServer()
    try {
      const pub = await server.api('/api/token/publisher', { method: 'POST', json: { userId: '山田', attributes: { 名前: 'José', [EMOJI.repeat(128)]: 'x' } } })
      expect(pub.status).toBe(200)
      expect(decodeJwt((await pub.json()).data.token).attributes).toEqual({ 名前: 'José', [EMOJI.repeat(128)]: 'x' })
      const stage = await server.api('/api/stage', { method: 'POST', json: { name: 'emoji-tags', tags: { équipe: CODER, team: EMOJI.repeat(256) } } })
      expect(stage.status).toBe(200)
      expect((await stage.json()).data.tags).toMatchObject({ équipe: CODER, team: EMOJI.repeat(256) })
    } finally {
      await server.stop()
    }
  })

  test('the viewer WebSocket accepts a non-Latin userId with its session', async () => {
    const server = await startTestServer()
    try {
      const token = (await (await server.api('/api/token/viewer', { method: 'POST', json: { userId: '山田' } })).json()).data
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?type=viewer&userId=${enc('山田')}&viewerSession=${enc(token.viewerSession)}`)
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve()
        ws.onerror = () => reject(new Error('socket refused'))
      })
      ws.close()
    } finally {
      await server.stop()
    }
  })
})
