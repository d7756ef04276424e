/**
 * GET /viewer.js in headless Chromium, used as a viewer app on another origin would use it: the page
 * is served from a second local origin, imports the module cross-origin, keeps its seat by
 * heartbeats, is rejoined when its stage drains, and leaves when the user navigates away. An
 * API-key call from an origin not in CORS_ORIGINS is blocked by the browser itself.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { launchChromium } from '../support/chromium'
import { eventually } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { startTestServer, type TestServer } from '../support/serve'

const API_KEY = 'viewer-client-api-key-0123456789'
let browser: Browser
let server: TestServer
let listedOrigin: ReturnType<typeof Bun.serve>
let otherOrigin: ReturnType<typeof Bun.serve>

/** The app page: it imports the module from serve (cross-origin) and exposes what happened on window. */
const APP_PAGE = `<!doctype html><meta charset="utf-8"><title>viewer app</title>
<script type="module">
  const params = new URLSearchParams(location.search)
  const api = params.get('api')
  const { ViewerPresence } = await import(api + '/viewer.js')
  window.rejoins = []
  window.errors = []
  window.startPresence = (userId, token) => {
    window.presence = new ViewerPresence({
      apiUrl: api, userId, token,
      onRejoin: (t) => window.rejoins.push(t.stageArn),
      onError: (e) => window.errors.push(String(e.message)),
    }).start()
  }
  window.apiKeyCall = (key) => fetch(api + '/api/stats', { headers: { 'x-api-key': key } }).then((r) => 'status ' + r.status, (e) => 'blocked: ' + e.name)
  window.ready = true
</script>`

const appServer = () => Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response(APP_PAGE, { headers: { 'content-type': 'text/html' } }) })

beforeAllOrFail(async () => {
  listedOrigin = appServer()
  otherOrigin = appServer()
  server = await startTestServer({
    API_SECRET_KEY: API_KEY,
    STAGE_CAPACITY: '1',
    SCALE_UP_THRESHOLD: '1',
    SCALE_DOWN_THRESHOLD: '0',
    HEARTBEAT_INTERVAL_MS: '1000',
    // Four intervals, as the defaults (15 s / 60 s): one late heartbeat of a loaded machine is not a lost seat.
    HEARTBEAT_TIMEOUT_MS: '4000',
    LEADER_LEASE_MS: '1500',
    // Only the first app origin may use the API key; serve itself is on yet another origin.
    CORS_ORIGINS: `http://localhost:${listedOrigin.port}`,
  })
  browser = await launchChromium()
}, 30_000)

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  listedOrigin?.stop(true)
  otherOrigin?.stop(true)
})

/** A page on an app origin (localhost:<port>, while serve answers on 127.0.0.1: another origin). */
async function appPage(port: number): Promise<Page> {
  const page = await browser.newPage()
  await page.goto(`http://localhost:${port}/?api=${encodeURIComponent(server.url)}`)
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, null, { timeout: 10_000 })
  return page
}

const viewerToken = async (userId: string) => (await (await server.api('/api/token/viewer', { method: 'POST', json: { userId } })).json()).data

describe('the viewer presence module in a real browser on another origin', () => {
  test('keeps its seat by heartbeats, is rejoined when its stage drains, leaves on navigation', async () => {
    const page = await appPage(otherOrigin.port!)
    // Capacity 1: the page's viewer sits on a stage of its own, not the master.
    await viewerToken('somebody-on-the-master')
    const token = await viewerToken('browser-viewer')
    const master = (await server.stages.master()).arn
    expect(token.stageArn).not.toBe(master)
    const silent = await viewerToken('silent-viewer') // gets a seat and never heartbeats
    await page.evaluate(([userId, t]) => (window as unknown as { startPresence(u: string, t: unknown): void }).startPresence(userId as string, t), [
      'browser-viewer',
      token,
    ] as const)

    // Past HEARTBEAT_TIMEOUT_MS the silent viewer is swept; the page's viewer, which heartbeats, keeps its seat.
    // (Waited for rather than slept: under a loaded CI machine the sweep and the page's timers both run late.)
    await eventually('the silent viewer is swept', async () => !(await server.store.findViewer('silent-viewer')), 15_000, 50)
    expect(silent.stageArn).toBeTruthy()
    const pageErrors = () => page.evaluate(() => (window as unknown as { errors: string[] }).errors)
    const present = await server.store.findViewer('browser-viewer')
    if (present?.stageArn !== token.stageArn)
      throw new Error(`the page's viewer lost its seat (${JSON.stringify(present)}); page errors: ${JSON.stringify(await pageErrors())}`)
    // …and its heartbeats keep coming.
    const seen = present!.lastHeartbeatAt
    await eventually('another heartbeat from the page', async () => ((await server.store.findViewer('browser-viewer'))?.lastHeartbeatAt ?? 0) > seen, 5_000, 50)
    expect(await pageErrors()).toEqual([])

    // Drain its stage: the page gets rejoin_required (or REJOIN_REQUIRED), rejoins, and reports the new token.
    await server.stages.drain(token.stageArn)
    await page.waitForFunction(() => (window as unknown as { rejoins: string[] }).rejoins.length > 0, null, { timeout: 10_000 })
    const [newStage] = await page.evaluate(() => (window as unknown as { rejoins: string[] }).rejoins)
    expect(newStage).not.toBe(token.stageArn)
    expect((await server.store.findViewer('browser-viewer'))?.stageArn).toBe(newStage)

    // Navigating away: pagehide → leave (keepalive). The seat is freed.
    await page.goto('about:blank')
    await eventually('the seat is freed', async () => !(await server.store.findViewer('browser-viewer')), 5_000, 50)
    expect(await server.store.findViewer('browser-viewer')).toBeNull()
    const duration = (await (await server.api('/api/viewer/duration?userId=browser-viewer')).json()).data
    expect(duration.sessions.every((s: { active: boolean }) => !s.active)).toBe(true)
    await page.close()
  }, 40_000)

  test('an API-key call from an origin not in CORS_ORIGINS is blocked by the browser; from a listed origin it goes through', async () => {
    const unlisted = await appPage(otherOrigin.port!)
    expect(await unlisted.evaluate((key) => (window as unknown as { apiKeyCall(k: string): Promise<string> }).apiKeyCall(key), API_KEY)).toBe(
      'blocked: TypeError',
    )
    const listed = await appPage(listedOrigin.port!)
    expect(await listed.evaluate((key) => (window as unknown as { apiKeyCall(k: string): Promise<string> }).apiKeyCall(key), API_KEY)).toBe('status 200')
    await unlisted.close()
    await listed.close()
  }, 20_000)
})
