/**
 * The official IVS web SDK (amazon-ivs-web-broadcast, the devDependency) as a real client of every
 * token serve issues: viewer, publisher and relay (media server) tokens, from local stages (no AWS),
 * self-signed keys and IVS's API (the IVS test server). In headless Chromium, a blank page of this
 * test loads the SDK from AWS's CDN address (routed to the package's file), builds a subscribe-only
 * `Stage` with the token and joins: the SDK must take the token, open its events socket at the
 * token's events_url, naming the token's stage in `topic` and offering the token as the subprotocol,
 * and (told an empty stage's state on it) complete the join without an error.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { generateKeyPair } from '../../src/ivs/signer'
import { launchChromium } from '../support/chromium'
import { until } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { claimsOf, type IvsTraffic, routeIvs, SDK_CDN_URL, stageIdOf, stageTopicOf, topicOf } from '../support/ivs-sdk'
import { awsModeEnv, type IvsServer, startIvsServer } from '../support/ivs-server'
import { startTestServer, type TestServer } from '../support/serve'

const API_KEY = 'ivs-sdk-tokens-api-key-0123456789'
const KEY_ARN = 'arn:aws:ivs:eu-west-1:123456789012:public-key/SdkKey000001'

/** The test's own blank page: the SDK from the CDN address, nothing else. */
const BLANK_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>sdk</title><script src="${SDK_CDN_URL}"></script></head><body></body></html>`

/** In the page: a subscribe-only Stage with the token, joined; what it did lands on window.sdk. */
const JOIN = (token: string) => {
  type Sdk = { states: string[]; errors: string[]; thrown: string | null; join: string }
  const w = window as unknown as { sdk: Sdk; IVSBroadcastClient: Record<string, any> }
  const { Stage, StageEvents, SubscribeType } = w.IVSBroadcastClient
  const sdk: Sdk = { states: [], errors: [], thrown: null, join: 'pending' }
  w.sdk = sdk
  try {
    const stage = new Stage(token, {
      stageStreamsToPublish: () => [],
      shouldPublishParticipant: () => false,
      shouldSubscribeToParticipant: () => SubscribeType.AUDIO_VIDEO,
    })
    stage.on(StageEvents.STAGE_CONNECTION_STATE_CHANGED, (state: string) => sdk.states.push(state))
    stage.on(StageEvents.ERROR, (error: { message?: string; code?: number }) => sdk.errors.push(`${error?.code}: ${error?.message}`))
    stage.join().then(
      () => {
        sdk.join = 'joined'
      },
      (error: unknown) => {
        sdk.join = `rejected: ${error}`
      },
    )
  } catch (error) {
    sdk.thrown = String(error)
  }
}

let browser: Browser
let blank: ReturnType<typeof Bun.serve>
let ivs: IvsServer
/** The AWS SDK's credential chain reads the process's environment (the IVS test server takes any signature). */
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIDLOCALTEST', AWS_SECRET_ACCESS_KEY: 'local-test-secret' }
const saved = Object.fromEntries(Object.keys(CREDENTIALS).map((k) => [k, process.env[k]]))

beforeAllOrFail(async () => {
  Object.assign(process.env, CREDENTIALS)
  blank = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response(BLANK_PAGE, { headers: { 'content-type': 'text/html; charset=utf-8' } }) })
  ivs = await startIvsServer({ region: 'eu-west-1', whipUrl: 'https://ab12cd34ef56.global-bm.whip.live-video.net' })
  browser = await launchChromium()
}, 30_000)

afterAll(async () => {
  await browser?.close()
  await ivs?.stop()
  blank?.stop(true)
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
})

type Kind = 'viewer' | 'publisher' | 'mediaserver'

/** One token of each kind from `server`: the relay's for the publisher's (master) stage. */
async function tokensOf(server: TestServer): Promise<Record<Kind, string>> {
  const post = async (path: string, json: unknown) => {
    const res = await server.api(path, { method: 'POST', json })
    const body = await res.json()
    expect([path, res.status, body.error]).toEqual([path, 200, undefined])
    return body.data as { token: string; stageArn: string }
  }
  const viewer = await post('/api/token/viewer', { userId: 'sdk-viewer' })
  const publisher = await post('/api/token/publisher', { userId: 'sdk-publisher' })
  const mediaserver = await post('/api/token/mediaserver', { serverId: 'relay-sdk', stageArn: publisher.stageArn })
  for (const t of [viewer, publisher, mediaserver]) expect(claimsOf(t.token).resource).toBe(t.stageArn)
  return { viewer: viewer.token, publisher: publisher.token, mediaserver: mediaserver.token }
}

/** A fresh context (its own routes and recordings) with the blank page open and the SDK loaded. */
async function sdkPage(): Promise<{ context: BrowserContext; page: Page; traffic: IvsTraffic; pageErrors: string[]; otherSockets: string[] }> {
  const context = await browser.newContext()
  const traffic = await routeIvs(context)
  const page = await context.newPage()
  const pageErrors: string[] = []
  page.on('pageerror', (error) => pageErrors.push(error.message))
  // Sockets that really open (routed IVS sockets never do): e.g. 'undefined?…' on the page's host for a token without events_url.
  const otherSockets: string[] = []
  page.on('websocket', (socket) => otherSockets.push(socket.url()))
  await page.goto(`http://localhost:${blank.port}/`)
  await page.waitForFunction(() => typeof (window as unknown as { IVSBroadcastClient?: unknown }).IVSBroadcastClient === 'object', null, { timeout: 10_000 })
  expect(traffic.sdkLoads).toBe(1)
  return { context, page, traffic, pageErrors, otherSockets }
}

/** Joins with the token and checks the SDK's events socket against the token's claims. */
async function joinsWithToken(kind: Kind, token: string) {
  const { context, page, traffic, pageErrors, otherSockets } = await sdkPage()
  try {
    const claims = claimsOf(token)
    const stageId = stageIdOf(String(claims.resource))
    expect(claims.topic).toBe(stageId)
    await page.evaluate(JOIN, token)
    const socket = await until(`the SDK opens its events socket for the ${kind} token`, () => traffic.sockets[0], 10_000)
    // Answered with an empty stage's state, the join completes.
    await page.waitForFunction(() => (window as unknown as { sdk: { join: string } }).sdk.join !== 'pending', null, { timeout: 10_000 })
    const sdk = await page.evaluate(() => (window as unknown as { sdk: { states: string[]; errors: string[]; thrown: string | null; join: string } }).sdk)
    expect({ kind, thrown: sdk.thrown, join: sdk.join, errors: sdk.errors, pageErrors }).toEqual({
      kind,
      thrown: null,
      join: 'joined',
      errors: [],
      pageErrors: [],
    })
    expect(sdk.states).toEqual(['connecting', 'connected'])

    const url = new URL(socket.url)
    const eventsUrl = new URL(String(claims.events_url))
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe(`${eventsUrl.protocol}//${eventsUrl.host}${eventsUrl.pathname}`)
    expect(stageTopicOf(socket)).toBe(stageId)
    expect(topicOf(socket)).toBe(`${stageId}/publishers`)
    expect(socket.protocols).toEqual([token])
    // Only events sockets: every one of them for this stage, with this token.
    for (const s of traffic.sockets) expect([stageTopicOf(s), s.protocols]).toEqual([stageId, [token]])
    expect(otherSockets).toEqual([])
    return { traffic }
  } finally {
    await context.close()
  }
}

/** Every kind of token from `env`'s serve, through the SDK. */
async function everyKind(env: Record<string, string>, expectWhip: boolean) {
  const server = await startTestServer({ API_SECRET_KEY: API_KEY, ...env })
  try {
    const tokens = await tokensOf(server)
    const contacted: string[] = []
    for (const kind of ['viewer', 'publisher', 'mediaserver'] as const) {
      expect(typeof claimsOf(tokens[kind]).whip_url === 'string').toBe(expectWhip)
      const { traffic } = await joinsWithToken(kind, tokens[kind])
      contacted.push(...traffic.requests)
    }
    // Whatever else the SDK asked for went to IVS's hosts (and was refused here), never to serve.
    for (const request of contacted) expect(new URL(request.split(' ')[1]!).hostname).toEndWith('.live-video.net')
  } finally {
    await server.stop()
  }
}

describe('the IVS web SDK (1.41.0) takes every token serve issues and opens the events socket they name', () => {
  test('local stages (no AWS): viewer, publisher and relay tokens', async () => {
    await everyKind({}, false)
  }, 60_000)

  test('AWS mode, self-signed tokens (IVS_PUBLIC_KEY_ARN + IVS_PRIVATE_KEY): viewer, publisher and relay tokens', async () => {
    const { privateKeyPem } = await generateKeyPair()
    await everyKind({ ...awsModeEnv(ivs), IVS_PUBLIC_KEY_ARN: KEY_ARN, IVS_PRIVATE_KEY: privateKeyPem }, true)
  }, 60_000)

  test("AWS mode, IVS's API tokens (CreateParticipantToken): viewer, publisher and relay tokens", async () => {
    ivs.resetCounts()
    await everyKind(awsModeEnv(ivs), true)
    expect(ivs.calls.CreateParticipantToken).toBe(3)
  }, 60_000)
})
