import { afterAll, describe, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { launchChromium } from '../support/chromium'
import { eventually } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { PUBLISH_SECRET, type RelayStack, startRelayStack } from '../support/relay-stack'

// Security headers of both modes over real sockets: serve and a relay in this process.

const MEDIA_SECRET = 'media-secret-0123456789'
/** Every route whose answer carries a participant token or a viewer session. */
const TOKEN_ROUTES = ['/api/media/token', '/api/token/mediaserver', '/api/token/publisher', '/api/token/viewer', '/api/viewer/heartbeat', '/api/viewer/rejoin']

let stack: RelayStack
let browser: Browser
beforeAllOrFail(async () => {
  stack = await startRelayStack()
  browser = await launchChromium()
}, 30_000)
afterAll(async () => {
  await browser?.close()
  await stack?.stop()
})

/** A CSP header as directive → its sources. */
const directives = (csp: string | null) =>
  new Map(
    (csp ?? '')
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...sources]) => [name!, sources]),
  )

/** The headers every response must carry, with what was asked (to read a failure). */
const baseHeaders = (what: string, res: Response) => ({
  what,
  nosniff: res.headers.get('x-content-type-options'),
  referrer: res.headers.get('referrer-policy'),
})
const expected = (what: string) => ({ what, nosniff: 'nosniff', referrer: 'no-referrer' })

const wsUpgrade = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }

describe('security headers over HTTP', () => {
  test('serve: nosniff and no-referrer on every response (JSON, errors, 404, pages, scripts, docs, refused upgrades)', async () => {
    const { serve } = stack
    const requests: [string, () => Promise<Response>, number][] = [
      ['GET /api/stats', () => serve.api('/api/stats'), 200],
      ['GET /api/stats without key', () => fetch(`${serve.url}/api/stats`), 401],
      ['POST /api/token/viewer invalid', () => serve.api('/api/token/viewer', { method: 'POST', json: { userId: '' } }), 400],
      ['GET /nowhere', () => fetch(`${serve.url}/nowhere`), 404],
      ['GET /health', () => fetch(`${serve.url}/health`), 200],
      ['GET /', () => fetch(`${serve.url}/`), 200],
      ['GET /dashboard.js', () => fetch(`${serve.url}/dashboard.js`), 200],
      ['GET /viewer.js', () => fetch(`${serve.url}/viewer.js`), 200],
      ['GET /swagger', () => fetch(`${serve.url}/swagger`), 200],
      ['GET /swagger/json', () => fetch(`${serve.url}/swagger/json`), 200],
      ['GET /ws without key', () => fetch(`${serve.url}/ws?type=dashboard`, { headers: wsUpgrade }), 401],
    ]
    for (const [what, request, status] of requests) {
      const res = await request()
      expect({ what, status: res.status }).toEqual({ what, status })
      expect(baseHeaders(what, res)).toEqual(expected(what))
    }
  })

  test('relay: nosniff and no-referrer on every response', async () => {
    const { relay } = stack
    const requests: [string, () => Promise<Response>, number][] = [
      ['GET /publish', () => fetch(`${relay.url}/publish`), 200],
      ['GET /publish.js', () => fetch(`${relay.url}/publish.js`), 200],
      ['GET /health', () => fetch(`${relay.url}/health`), 200],
      ['GET /nowhere', () => fetch(`${relay.url}/nowhere`), 404],
      ['POST /whip without secret', () => fetch(`${relay.url}/whip`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0' }), 401],
      ['GET /', () => fetch(`${relay.url}/`, { redirect: 'manual' }), 302],
    ]
    for (const [what, request, status] of requests) {
      const res = await request()
      expect({ what, status: res.status }).toEqual({ what, status })
      expect(baseHeaders(what, res)).toEqual(expected(what))
    }
  })

  test('the dashboard and the publish page have a strict CSP; /swagger (a CDN-loaded UI) has none', async () => {
    for (const url of [`${stack.serve.url}/`, `${stack.relay.url}/publish`]) {
      const csp = directives((await fetch(url)).headers.get('content-security-policy'))
      expect({ url, default: csp.get('default-src') }).toEqual({ url, default: ["'none'"] })
      expect(csp.get('script-src')).toEqual(["'self'"])
      expect(csp.get('style-src')).toEqual(["'self'"])
      expect(csp.get('connect-src')).toEqual(["'self'"])
      expect(csp.get('frame-ancestors')).toEqual(["'none'"])
      expect(csp.get('base-uri')).toEqual(["'none'"])
    }
    // Only the dashboard writes style="" attributes (its capacity bars).
    expect(directives((await fetch(`${stack.serve.url}/`)).headers.get('content-security-policy')).get('style-src-attr')).toEqual(["'unsafe-inline'"])
    expect(directives((await fetch(`${stack.relay.url}/publish`)).headers.get('content-security-policy')).has('style-src-attr')).toBe(false)
    expect((await fetch(`${stack.serve.url}/swagger`)).headers.get('content-security-policy')).toBeNull()
  })

  test('every response carrying a token or viewer session is Cache-Control: no-store', async () => {
    const { serve } = stack
    const master = (await serve.stages.master()).arn
    const media = { 'x-media-auth': MEDIA_SECRET }
    const viewer = (await (await serve.api('/api/token/viewer', { method: 'POST', json: { userId: 'nostore-1' } })).json()).data
    const bearer = { authorization: `Bearer ${viewer.viewerSession}` }
    const calls: [string, { json: unknown; headers?: Record<string, string> }][] = [
      ['/api/token/publisher', { json: { userId: 'nostore-pub' } }],
      ['/api/token/viewer', { json: { userId: 'nostore-2' } }],
      ['/api/token/mediaserver', { json: { serverId: 'relay-test', stageArn: master }, headers: media }],
      ['/api/media/token', { json: { serverId: 'relay-test', stageArn: master }, headers: media }],
      ['/api/viewer/heartbeat', { json: { userId: 'nostore-1', stageArn: viewer.stageArn }, headers: bearer }],
      ['/api/viewer/rejoin', { json: { userId: 'nostore-1' }, headers: bearer }],
    ]
    for (const [path, { json, headers = {} }] of calls) {
      // The API key unless the call is the viewer's own (its session as the bearer).
      const credential: Record<string, string> = headers.authorization ? {} : { 'x-api-key': serve.apiKey }
      const res = await fetch(`${serve.url}${path}`, {
        method: 'POST',
        headers: { ...headers, ...credential, 'content-type': 'application/json' },
        body: JSON.stringify(json),
      })
      const body = await res.json()
      expect({ path, status: res.status, secret: Boolean(body.data?.token ?? body.data?.viewerSession) }).toEqual({ path, status: 200, secret: true })
      expect({ path, cacheControl: res.headers.get('cache-control') }).toEqual({ path, cacheControl: 'no-store' })
    }
    expect(calls.map(([path]) => path).sort()).toEqual(TOKEN_ROUTES)
  })

  test('the OpenAPI document lists no other route that returns a token or viewer session', async () => {
    const doc = await (await fetch(`${stack.serve.url}/swagger/json`)).json()
    const secretBearing: string[] = []
    for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const operation of Object.values(methods)) {
        const data = operation?.responses?.['200']?.content?.['application/json']?.schema?.properties?.data?.properties ?? {}
        if ('token' in data || 'viewerSession' in data) secretBearing.push(path)
      }
    }
    expect([...new Set(secretBearing)].sort()).toEqual(TOKEN_ROUTES)
  })
})

/** Records the page's CSP violations (DOM events and console reports) from its first script on. */
async function watchViolations(page: Page): Promise<() => Promise<string[]>> {
  const console: string[] = []
  page.on('console', (message) => {
    if (/Content.Security.Policy/i.test(message.text())) console.push(message.text())
  })
  await page.addInitScript(() => {
    const seen: string[] = []
    ;(window as unknown as { violations: string[] }).violations = seen
    document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`))
  })
  return async () => [...(await page.evaluate(() => (window as unknown as { violations: string[] }).violations)), ...console]
}

/** Injects an inline script into the page: a working CSP blocks it (and reports script-src). */
async function inlineScriptRuns(page: Page): Promise<boolean> {
  await page.evaluate(() => {
    const script = document.createElement('script')
    script.textContent = 'window.injected = true'
    document.body.append(script)
  })
  await page.waitForTimeout(100)
  return page.evaluate(() => (window as unknown as { injected?: boolean }).injected === true)
}

describe('the pages work under their CSP in headless Chromium (no violations), and it blocks inline script', () => {
  test('dashboard: connects over /ws, fetches, draws its bars; nothing blocked', async () => {
    const { serve } = stack
    const page = await browser.newPage()
    const violations = await watchViolations(page)
    await page.goto(`${serve.url}/#key=${encodeURIComponent(serve.apiKey)}`)
    await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'live', null, { timeout: 10_000 })
    for (const u of ['csp-1', 'csp-2']) await serve.api('/api/token/viewer', { method: 'POST', json: { userId: u } })
    await page.waitForFunction(() => Number(document.body.dataset.viewers) >= 2, null, { timeout: 10_000 })
    // The style="width:…%" attribute of a capacity bar took effect.
    const barWidth = await page.evaluate(() => (document.querySelector('.stage .bar div') as HTMLElement).style.width)
    expect(barWidth).toMatch(/^[1-9]\d*%$/)
    expect(await violations()).toEqual([])
    expect(await inlineScriptRuns(page)).toBe(false)
    expect((await violations()).some((v) => v.startsWith('script-src'))).toBe(true)
    await page.close()
  }, 30_000)

  test('publish page: camera, WHIP POST, ingest figures, stop; nothing blocked', async () => {
    const { serve, relay } = stack
    const master = (await serve.stages.master()).arn
    await eventually('master stage live', () => relay.fanout.liveStages().includes(master), 10_000)
    const page = await browser.newPage()
    const violations = await watchViolations(page)
    await page.goto(`${relay.url}/publish`)
    await page.fill('#secret', PUBLISH_SECRET)
    await page.click('#start')
    await page.waitForFunction(() => document.body.dataset.state === 'connected', null, { timeout: 15_000 })
    // GET /whip/<id> answered: the ingest figures are shown.
    await page.waitForFunction(() => !(document.getElementById('ingest') as HTMLElement).hidden, null, { timeout: 6_000 })
    await page.click('#stop')
    await page.waitForFunction(() => document.body.dataset.state === 'stopped', null, { timeout: 5_000 })
    expect(await violations()).toEqual([])
    expect(await inlineScriptRuns(page)).toBe(false)
    await page.close()
  }, 40_000)
})
