/**
 * GET /watch in headless Chromium: serve's own viewer page. AWS's CDN address of the IVS web SDK is
 * routed to the devDependency's file and IVS's events sockets are recorded (test/support/ivs-sdk.ts),
 * so the page runs as it would against AWS, under its own Content-Security-Policy, with every CSP
 * violation caught. It gets a viewer token with the key from the fragment, the SDK joins that stage,
 * and when the stage drains it leaves it and joins the next; it plays what the SDK hands it, says so
 * when serve's stages are local (no media), and says in words what is wrong with a bad or missing key.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { IVS_SDK_URL, WATCH_CSP } from '../../src/http/watch'
import { IVS_GLOBAL_EVENTS_URL, IVS_GLOBAL_WHIP_URL } from '../../src/ivs/endpoints'
import { launchChromium } from '../support/chromium'
import { eventually, until } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { claimsOf, type IvsSocket, type IvsTraffic, routeIvs, SDK_CDN_URL, SDK_VERSION, stageIdOf, stageTopicOf, topicOf } from '../support/ivs-sdk'
import { awsModeEnv, type IvsServer, startIvsServer } from '../support/ivs-server'
import { type FreshServer, freshServer } from '../support/serve'

/** One seat a stage, so the page's viewer sits on a stage of its own (the master cannot be drained). */
const ONE_SEAT = { STAGE_CAPACITY: '1', SCALE_UP_THRESHOLD: '1', SCALE_DOWN_THRESHOLD: '0', HEARTBEAT_INTERVAL_MS: '1000', HEARTBEAT_TIMEOUT_MS: '4000' }
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIDLOCALTEST', AWS_SECRET_ACCESS_KEY: 'local-test-secret' }
const saved = Object.fromEntries(Object.keys(CREDENTIALS).map((k) => [k, process.env[k]]))

let browser: Browser
let ivs: IvsServer
beforeAllOrFail(async () => {
  Object.assign(process.env, CREDENTIALS)
  ivs = await startIvsServer({ region: 'eu-west-1' })
  browser = await launchChromium()
}, 30_000)
afterAll(async () => {
  await browser?.close()
  await ivs?.stop()
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
})

interface Watch {
  context: BrowserContext
  page: Page
  traffic: IvsTraffic
  /** Every request the page made (its own, its workers', the SDK's; WebSockets are traffic.sockets), by URL. */
  requests: string[]
  /** CSP violations the page met (directive and blocked address), and uncaught errors. */
  problems: () => Promise<string[]>
}

/** A fresh context with IVS routed and CSP violations recorded, at `server`'s /watch with `fragment`. */
async function openWatch(server: FreshServer, fragment: string, answer: 'at-once' | 'when-told' = 'at-once'): Promise<Watch> {
  const context = await browser.newContext()
  const traffic = await routeIvs(context, { answer })
  const requests: string[] = []
  context.on('request', (request) => requests.push(request.url()))
  const page = await context.newPage()
  await page.addInitScript(() => {
    const seen: string[] = []
    ;(window as unknown as { violations: string[] }).violations = seen
    document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.effectiveDirective} ${e.blockedURI}`), true)
    // The SDK's Stage instances the page makes, in order (window.watchStages), for the test to reach.
    const stages: unknown[] = []
    let sdk: unknown
    Object.defineProperty(window, 'watchStages', { value: stages })
    Object.defineProperty(window, 'IVSBroadcastClient', {
      configurable: true,
      get: () => sdk,
      set: (real: { Stage: new (...args: unknown[]) => object }) => {
        class RecordedStage extends real.Stage {
          constructor(...args: unknown[]) {
            super(...args)
            stages.push(this)
          }
        }
        sdk = new Proxy(real, { get: (target, name) => (name === 'Stage' ? RecordedStage : Reflect.get(target, name)) })
      },
    })
  })
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`))
  await page.goto(`${server.url}/watch${fragment}`)
  const problems = async () => [...errors, ...(await page.evaluate(() => (window as unknown as { violations: string[] }).violations))]
  return { context, page, traffic, requests, problems }
}

/** The hosts (host:port) of network requests among `urls`: blob: and data: are not requests to anyone. */
const hostsOf = (urls: string[]) => [...new Set(urls.filter((url) => /^(https?|wss?):/.test(url)).map((url) => new URL(url).host))].sort()

const text = (page: Page, selector: string) => page.locator(selector).textContent()
const visible = (page: Page, selector: string) => page.locator(selector).isVisible()

/** The events sockets for one stage. */
const socketsOf = (traffic: IvsTraffic, stageArn: string) => traffic.sockets.filter((s) => stageTopicOf(s) === stageIdOf(stageArn))

/** Checks an events socket against the token it offers: the stage's topic, the token's events_url. */
function expectEventsSocket(socket: IvsSocket, stageArn: string) {
  const token = socket.protocols[0]!
  expect(socket.protocols).toEqual([token])
  const claims = claimsOf(token)
  expect(claims.resource).toBe(stageArn)
  expect(topicOf(socket)).toBe(`${stageIdOf(stageArn)}/publishers`)
  const url = new URL(socket.url)
  const events = new URL(String(claims.events_url))
  expect(`${url.protocol}//${url.host}${url.pathname}`).toBe(`${events.protocol}//${events.host}${events.pathname}`)
  return claims
}

describe('GET /watch in headless Chromium, with the IVS web SDK from its CDN address', () => {
  test('joins its stage with the SDK, leaves it and joins the next when it drains, says local stages carry no media, frees the seat on leaving', async () => {
    await using server = await freshServer(ONE_SEAT)
    // The master's one seat is taken: the page's viewer gets a stage of its own.
    await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'on-the-master' } })
    const { context, page, traffic, requests, problems } = await openWatch(server, `#key=${encodeURIComponent(server.apiKey)}&user=watch-viewer`)
    try {
      // The key left the address bar at once; the SDK came from the CDN address, once.
      expect(await page.evaluate(() => location.hash)).toBe('')
      const first = await until('the page takes a seat', () => server.store.findViewer('watch-viewer'), 10_000)
      expect(first.stageArn).not.toBe((await server.stages.master()).arn)
      const firstSocket = await until('the SDK opens the events socket of the page’s stage', () => socketsOf(traffic, first.stageArn)[0], 10_000)
      const claims = expectEventsSocket(firstSocket, first.stageArn)
      expect(claims.jti).toBe(first.participantId)
      expect(claims.user_id).toBe('watch-viewer')
      expect(traffic.sdkLoads).toBe(1)
      expect(await text(page, '#stage')).toBe(stageIdOf(first.stageArn))
      expect(await text(page, '#user')).toBe('watch-viewer')
      await page.waitForFunction(() => document.body.dataset.state === 'connected', null, { timeout: 10_000 })
      expect(await text(page, '#state')).toBe('connected')
      await page.waitForSelector('#notice', { state: 'visible', timeout: 5_000 })
      expect(await text(page, '#notice')).toContain('local stages carry no media')

      // Its stage drains: rejoin_required → a new token → the old Stage left, the new one joined.
      await server.stages.drain(first.stageArn)
      const second = await until(
        'the page moves to another stage',
        async () => {
          const seat = await server.store.findViewer('watch-viewer')
          return seat && seat.stageArn !== first.stageArn ? seat : null
        },
        10_000,
      )
      const secondSocket = await until('the SDK opens the new stage’s events socket', () => socketsOf(traffic, second.stageArn)[0], 10_000)
      expect(expectEventsSocket(secondSocket, second.stageArn).jti).toBe(second.participantId)
      await eventually('every socket of the old stage is closed', () => socketsOf(traffic, first.stageArn).every((s) => s.closed), 5_000)
      expect(socketsOf(traffic, second.stageArn).every((s) => !s.closed)).toBe(true)
      await page.waitForFunction((arn) => document.body.dataset.stage === arn, second.stageArn, { timeout: 5_000 })
      expect(await text(page, '#stage')).toBe(stageIdOf(second.stageArn))
      await page.waitForFunction(() => document.body.dataset.state === 'connected', null, { timeout: 10_000 })
      // Only the two stages' events sockets; every other request went to serve itself, the SDK's CDN
      // address, or the SDK's analytics and remote configuration (routed and refused, as offline).
      expect(traffic.sockets.every((s) => [first.stageArn, second.stageArn].map(stageIdOf).includes(stageTopicOf(s)!))).toBe(true)
      expect(hostsOf(traffic.sockets.map((s) => s.url))).toEqual([new URL(IVS_GLOBAL_EVENTS_URL).host])
      const refused = hostsOf(traffic.requests.map((r) => r.split(' ')[1]!))
      expect(refused.filter((host) => !['broadcast.stats.live-video.net', 'prod.ivs-device-config.live-video.net'].includes(host))).toEqual([])
      expect(hostsOf(requests)).toEqual([new URL(server.url).host, new URL(IVS_SDK_URL).host, ...refused].sort())
      expect(await visible(page, '#error')).toBe(false)
      expect(await problems()).toEqual([])

      // Leaving the page frees the seat (pagehide) and closes the events socket.
      await page.goto('about:blank')
      await eventually('the seat is freed', async () => !(await server.store.findViewer('watch-viewer')), 5_000, 50)
      await eventually('the events socket is closed', () => socketsOf(traffic, second.stageArn).every((s) => s.closed), 5_000)
    } finally {
      await context.close()
    }
  }, 60_000)

  test('a rejoin while the old join is still under way: the old Stage is left once that join completes (the SDK ignores leave() before)', async () => {
    await using server = await freshServer(ONE_SEAT)
    await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'on-the-master' } })
    const { context, page, traffic, problems } = await openWatch(server, `#key=${encodeURIComponent(server.apiKey)}&user=slow-join`, 'when-told')
    try {
      const first = await until('the page takes a seat', () => server.store.findViewer('slow-join'), 10_000)
      const old = await until('the SDK opens the first events socket', () => socketsOf(traffic, first.stageArn)[0], 10_000)
      expect(await text(page, '#state')).toBe('connecting to the stage…')
      await server.stages.drain(first.stageArn)
      const second = await until(
        'the page moves to another stage',
        async () => {
          const seat = await server.store.findViewer('slow-join')
          return seat && seat.stageArn !== first.stageArn ? seat : null
        },
        10_000,
      )
      const next = await until('the SDK opens the new stage’s events socket', () => socketsOf(traffic, second.stageArn)[0], 10_000)
      next.answer()
      await page.waitForFunction(() => document.body.dataset.state === 'connected', null, { timeout: 10_000 })
      // The old Stage is still joining: its leave() did nothing yet.
      expect(old.closed).toBe(false)
      // Its join completes now: the page leaves it then, and shows the new stage still.
      old.answer()
      await eventually('the old stage is left once its join completed', () => old.closed, 5_000)
      expect(next.closed).toBe(false)
      expect(await text(page, '#stage')).toBe(stageIdOf(second.stageArn))
      expect(await text(page, '#state')).toBe('connected')
      expect(await problems()).toEqual([])
    } finally {
      await context.close()
    }
  }, 40_000)

  test('the page, its files and its Content-Security-Policy: the SDK only by its CDN address, pinned to the devDependency', async () => {
    await using server = await freshServer()
    const res = await fetch(`${server.url}/watch`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(res.headers.get('content-security-policy')).toBe(
      [
        "default-src 'none'",
        // The SDK's exact address, not its host: no other file there (another version, another script) runs.
        `script-src 'self' ${SDK_CDN_URL}`,
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self' https://*.live-video.net wss://*.live-video.net",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        'worker-src blob:',
      ].join('; '),
    )
    expect(WATCH_CSP).toBe(res.headers.get('content-security-policy')!)
    const html = await res.text()
    // Its scripts: the SDK at AWS's address for the installed devDependency's version, and its own module.
    expect(IVS_SDK_URL).toBe(SDK_CDN_URL)
    expect([...html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1])).toEqual([SDK_CDN_URL, '/watch.js'])
    expect([...html.matchAll(/amazon-ivs-web-broadcast/g)].length).toBe(1)
    for (const [path, type] of [
      ['/watch.js', 'text/javascript; charset=utf-8'],
      ['/watch.css', 'text/css; charset=utf-8'],
    ] as const) {
      const file = await fetch(`${server.url}${path}`)
      expect([path, file.status, file.headers.get('content-type'), file.headers.get('content-security-policy')]).toEqual([path, 200, type, null])
      expect(await file.text()).not.toContain('amazon-ivs-web-broadcast')
    }
    // The dashboard keeps its own policy.
    expect((await fetch(`${server.url}/`)).headers.get('content-security-policy')).not.toContain('live-video.net')
  })

  test("the page's policy lets it reach IVS's endpoints and run the SDK's one file, and nothing else (probed in Chromium, through a dead proxy)", async () => {
    await using server = await freshServer()
    // Every connection leaves through a proxy that is not there: the probes reach no one.
    const context = await browser.newContext({ proxy: { server: 'http://127.0.0.1:9', bypass: '127.0.0.1' } })
    try {
      const page = await context.newPage()
      await page.addInitScript(() => {
        const seen: string[] = []
        ;(window as unknown as { violations: string[] }).violations = seen
        document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.effectiveDirective} ${e.blockedURI}`), true)
      })
      await page.goto(`${server.url}/watch`)
      const token = (await (await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'csp-probe' } })).json()).data.token
      const allowed = [
        String(claimsOf(token).events_url), // the events socket of serve's tokens
        IVS_GLOBAL_EVENTS_URL.replace('global.', 'eu-west-1.'),
        IVS_GLOBAL_WHIP_URL, // a stage's WHIP endpoint (AWS stages: https://<id>.global-bm.whip.live-video.net)
        'https://ab12cd34ef56.global-bm.whip.live-video.net/',
        'https://broadcast.stats.live-video.net/', // the SDK's analytics and remote configuration (seen in the tests above)
        'https://prod.ivs-device-config.live-video.net/broadcast-web-v1.json',
      ]
      const refused = ['wss://example.com/', 'https://example.com/', 'wss://live-video.net.example.com/']
      // Scripts: the SDK's address (the page's own tag asked for it too), and nothing else on its host.
      const scripts = [SDK_CDN_URL]
      const refusedScripts = [
        SDK_CDN_URL.replace(`/${SDK_VERSION}/`, '/1.40.0/'),
        SDK_CDN_URL.replace(/\.js$/, '.min.js'),
        new URL('/amazon-ivs-web-broadcast.js', SDK_CDN_URL).href,
        new URL('/', SDK_CDN_URL).href,
      ]
      const violations = await page.evaluate(
        async ({ targets, scriptTargets }) => {
          for (const target of targets) {
            if (target.startsWith('ws')) new WebSocket(target)
            else fetch(target).catch(() => {})
          }
          for (const target of scriptTargets) {
            const script = document.createElement('script')
            script.src = target
            document.head.append(script)
          }
          await new Promise((resolve) => setTimeout(resolve, 1_000))
          return (window as unknown as { violations: string[] }).violations
        },
        { targets: [...allowed, ...refused], scriptTargets: [...scripts, ...refusedScripts] },
      )
      expect(violations.sort()).toEqual([...refused.map((url) => `connect-src ${url}`), ...refusedScripts.map((url) => `script-src-elem ${url}`)].sort())
    } finally {
      await context.close()
    }
  })

  test('a wrong key and a missing key are said in words; the key typed in then works', async () => {
    await using server = await freshServer()
    const wrong = await openWatch(server, '#key=not-the-key')
    try {
      await wrong.page.waitForSelector('#error', { state: 'visible', timeout: 10_000 })
      expect(await text(wrong.page, '#error')).toBe('The API key was not accepted (401 Unauthorized): check it and enter it again.')
      expect(await visible(wrong.page, '#login')).toBe(true)
      expect(wrong.traffic.sockets).toEqual([])
      expect((await server.stats.read()).totalViewers).toBe(0)
    } finally {
      await wrong.context.close()
    }

    const missing = await openWatch(server, '#user=typed-in')
    try {
      await missing.page.waitForSelector('#error', { state: 'visible', timeout: 10_000 })
      expect(await text(missing.page, '#error')).toBe('No API key: type it in, or open this page as /watch#key=…')
      expect(await visible(missing.page, '#login')).toBe(true)
      await missing.page.fill('#key', server.apiKey)
      await missing.page.click('#keyform button')
      const seat = await until('the typed key gets a seat', () => server.store.findViewer('typed-in'), 10_000)
      expectEventsSocket(await until('the SDK joins', () => missing.traffic.sockets[0], 10_000), seat.stageArn)
      await missing.page.waitForSelector('#error', { state: 'hidden', timeout: 5_000 })
      expect(await visible(missing.page, '#login')).toBe(false)
      expect(await missing.problems()).toEqual([])
    } finally {
      await missing.context.close()
    }
  }, 40_000)

  test("on IVS (AWS mode, IVS's API tokens) there is no local-stage notice; what the SDK hands over plays muted, with an unmute button; its errors are said in words", async () => {
    await using server = await freshServer({ ...awsModeEnv(ivs), API_SECRET_KEY: 'watch-aws-api-key-0123456789' })
    const { context, page, traffic, problems } = await openWatch(server, `#key=${encodeURIComponent(server.apiKey)}&user=aws-viewer`)
    try {
      const seat = await until('the page takes a seat', () => server.store.findViewer('aws-viewer'), 10_000)
      expectEventsSocket(await until('the SDK joins', () => traffic.sockets[0], 10_000), seat.stageArn)
      // /health answered (the page asks it once, before or after the token).
      await page.waitForFunction(() => document.body.dataset.state !== undefined, null, { timeout: 5_000 })
      await page.waitForLoadState('networkidle')
      expect(await visible(page, '#notice')).toBe(false)
      expect(await visible(page, '#unmute')).toBe(false)

      // No IVS answers here, so no broadcaster's streams arrive: hand the page's Stage the SDK's own
      // "streams added" event with real tracks (Chromium's synthetic camera and microphone).
      await page.evaluate(async () => {
        const media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true })
        const stage = (window as unknown as { watchStages: { emit(event: string, ...args: unknown[]): void }[] }).watchStages.at(-1)!
        const streams = media.getTracks().map((track) => ({ mediaStreamTrack: track, streamType: track.kind }))
        stage.emit('stageParticipantStreamsAdded', { id: 'broadcaster', userId: 'broadcaster', isPublishing: true }, streams)
      })
      await page.waitForFunction(
        () => {
          const video = document.getElementById('video') as HTMLVideoElement
          return video.readyState >= 2 && !video.paused && video.currentTime > 0
        },
        null,
        { timeout: 10_000 },
      )
      expect(await page.evaluate(() => (document.getElementById('video') as HTMLVideoElement).muted)).toBe(true)
      expect(await visible(page, '#waiting')).toBe(false)
      expect(await visible(page, '#unmute')).toBe(true)
      await page.click('#unmute')
      expect(await page.evaluate(() => (document.getElementById('video') as HTMLVideoElement).muted)).toBe(false)
      expect(await visible(page, '#unmute')).toBe(false)

      // An error the SDK reports (its StageError: name, code, category, message) is said in words.
      expect(await visible(page, '#error')).toBe(false)
      await page.evaluate(() => {
        const stage = (window as unknown as { watchStages: { emit(event: string, ...args: unknown[]): void }[] }).watchStages.at(-1)!
        stage.emit('error', { name: 'StageError', code: 1002, category: 'SUBSCRIBE_ERROR', message: 'subscribe failed' })
      })
      expect(await text(page, '#error')).toBe('The IVS SDK reported a subscribe error (code 1002): subscribe failed')
      expect(await visible(page, '#error')).toBe(true)
      expect(await problems()).toEqual([])
    } finally {
      await context.close()
    }
  }, 40_000)
})
