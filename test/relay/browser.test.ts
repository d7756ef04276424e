import { afterAll, describe, expect, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import type { Browser, Page } from 'playwright-core'
import { launchChromium } from '../support/chromium'
import { eventually } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { type IngressTap, tapIngressVideo } from '../support/ingress-tap'
import { candidatesAt, hostCandidate, type LossyPath, startLossyPath, withoutCandidates } from '../support/lossy-path'
import { PUBLISH_SECRET, startRelayStack } from '../support/relay-stack'
import { decodedShareOfSent } from '../support/video-receiver'

// A real browser publishes: headless Debian Chromium opens the relay's GET /publish page, takes its
// fake camera and microphone, and publishes over WHIP; every stage must receive its H.264 and Opus.

const RESULTS = new URL('../../test-results/', import.meta.url).pathname

let browser: Browser
beforeAllOrFail(async () => {
  // The browser first: a missing Chromium fails here with how to install it.
  browser = await launchChromium()
  mkdirSync(RESULTS, { recursive: true })
}, 25_000)
afterAll(async () => {
  await browser?.close()
})

/** A relay stack of its own with two live stages (the master and one more), and a fresh publish page. */
async function publishSetup() {
  const stack = await startRelayStack()
  const stageArns = [(await stack.serve.stages.master()).arn]
  stageArns.push((await (await stack.serve.api('/api/stage', { method: 'POST', json: {}, headers: {} })).json()).data.stageArn as string)
  await eventually('both stages live', () => stageArns.every((arn) => stack.relay.fanout.liveStages().includes(arn)), 10_000)
  const page = await browser.newPage({ viewport: { width: 900, height: 760 } })
  page.setDefaultTimeout(5_000)
  page.on('pageerror', (error) => console.error('publish page error:', error.message))
  return { stack, stageArns, page, rec: (arn: string) => stack.whip.record(arn) }
}

/** Opens GET /publish, enters `secret` and presses Start. */
async function start(page: Page, relayUrl: string, secret: string): Promise<void> {
  await page.goto(`${relayUrl}/publish`)
  expect(await page.title()).toContain('publish')
  await page.fill('#secret', secret)
  await page.click('#start')
}

/** The page's state (document.body.dataset.state) and the detail text beside it. */
const pageState = (p: Page) =>
  p.evaluate(() => ({ state: document.body.dataset.state ?? 'idle', detail: document.getElementById('detail')?.textContent ?? '' }))

/** Waits until the page's state is one of `states`, or fails with where it got stuck. */
async function waitForState(p: Page, states: string[], timeoutMs: number): Promise<{ state: string; detail: string }> {
  try {
    await p.waitForFunction((wanted) => wanted.includes(document.body.dataset.state ?? ''), states, { timeout: timeoutMs, polling: 50 })
  } catch {
    const now = await pageState(p)
    throw new Error(`the publish page did not reach ${states.join('/')} within ${timeoutMs} ms: state ${now.state} ${now.detail}`)
  }
  return pageState(p)
}

/** What the page's RTCPeerConnection (`pc`, a global of the page's script) says it sends. */
interface SenderStats {
  offer: string
  answer: string
  video: {
    mimeType: string
    sdpFmtpLine: string
    encoder: string
    framesEncoded: number
    keyFramesEncoded: number
    width: number
    height: number
    targetBitrate: number
    qualityLimitationReason: string
  } | null
  audio: { mimeType: string; packetsSent: number } | null
  /** Chrome's bandwidth estimate for the selected candidate pair (bits/s). */
  availableOutgoingBitrate: number | null
}
const senderStats = (p: Page): Promise<SenderStats> =>
  p.evaluate(`(async () => {
    const report = [...(await pc.getStats()).values()]
    const byId = new Map(report.map((s) => [s.id, s]))
    const out = (kind) => report.find((s) => s.type === 'outbound-rtp' && s.kind === kind)
    const video = out('video'), audio = out('audio')
    const transport = report.find((s) => s.type === 'transport')
    const pair = byId.get(transport?.selectedCandidatePairId)
    return {
      availableOutgoingBitrate: pair?.availableOutgoingBitrate ?? null,
      offer: pc.localDescription.sdp,
      answer: pc.remoteDescription.sdp,
      video: video && { mimeType: byId.get(video.codecId)?.mimeType, sdpFmtpLine: byId.get(video.codecId)?.sdpFmtpLine ?? '', encoder: video.encoderImplementation, framesEncoded: video.framesEncoded, keyFramesEncoded: video.keyFramesEncoded, width: video.frameWidth, height: video.frameHeight, targetBitrate: video.targetBitrate, qualityLimitationReason: video.qualityLimitationReason },
      audio: audio && { mimeType: byId.get(audio.codecId)?.mimeType, packetsSent: audio.packetsSent },
    }
  })()`)

/** The codec names (rtpmap) of the first m-section of `kind` in an SDP, in order. */
const sectionCodecs = (sdp: string, kind: string) => {
  const section = sdp.split(/\r\n(?=m=)/).find((s) => s.startsWith(`m=${kind}`)) ?? ''
  return [...section.matchAll(/^a=rtpmap:\d+ ([^/\s]+)/gm)].map((m) => m[1]!.toUpperCase())
}

describe('a real browser publishes from GET /publish (headless Debian Chromium, fake camera and mic)', () => {
  // The fixture every test here only looks at: a page that pressed Start with the right secret and
  // keeps publishing until the end of this block.
  let setup: Awaited<ReturnType<typeof publishSetup>>
  let tap: IngressTap
  let started: { state: string; detail: string; t0: number; connectedAt: number }
  beforeAllOrFail(async () => {
    setup = await publishSetup()
    tap = tapIngressVideo(setup.stack.relay.fanout)
    const t0 = performance.now()
    await start(setup.page, setup.stack.relay.url, PUBLISH_SECRET)
    const { state, detail } = await waitForState(setup.page, ['connected', 'error', 'failed', 'closed', 'disconnected'], 10_000)
    started = { state, detail, t0, connectedAt: performance.now() }
  }, 30_000)
  afterAll(async () => {
    tap?.detach()
    await setup?.page.close()
    await setup?.stack.stop()
  })

  test('the page publishes over WHIP with H.264 (OpenH264) and Opus and reports connected', async () => {
    const { stack, page } = setup
    expect(`${started.state} ${started.detail}`.trim()).toBe('connected')
    console.log(`browser: Start → connected in ${(started.connectedAt - started.t0).toFixed(0)} ms`)
    expect(stack.relay.fanout.publisherActive).toBe(true)

    // The page offered only H.264 (and its RTX) for video (setCodecPreferences); the relay accepted
    // one H.264 format with its RTX, and Opus only.
    const stats = await senderStats(page)
    expect(sectionCodecs(stats.offer, 'video').length).toBeGreaterThan(0)
    expect(sectionCodecs(stats.offer, 'video').every((c) => c === 'H264' || c === 'RTX')).toBe(true)
    expect(sectionCodecs(stats.answer, 'video')).toEqual(['H264', 'RTX'])
    expect(sectionCodecs(stats.answer, 'audio')).toEqual(['OPUS'])
    const chosen = stack.relay.fanout.publisherSession!.codecs.video
    expect(chosen.fmtp['packetization-mode']).toBe('1')
    expect(chosen.fmtp['profile-level-id']).toMatch(/^42/)
    // And the browser really encodes H.264 (Debian's Chromium: OpenH264) and Opus.
    await eventually('the browser encodes video', async () => ((await senderStats(page)).video?.framesEncoded ?? 0) > 10, 5_000)
    const sending = await senderStats(page)
    expect(sending.video!.mimeType).toBe('video/H264')
    expect(sending.video!.keyFramesEncoded).toBeGreaterThan(0)
    expect(sending.audio!.mimeType).toBe('audio/opus')
    expect(sending.audio!.packetsSent).toBeGreaterThan(0)
    // The stream itself is baseline profile (profile_idc 66), as the relay's stages are told.
    await eventually('an SPS at the relay', () => tap.sps !== null, 3_000)
    expect(tap.sps!.profileIdc).toBe(66)
    const hex = (n: number) => n.toString(16).padStart(2, '0')
    console.log(
      `browser sends ${sending.video!.mimeType} (${sending.video!.sdpFmtpLine}) encoded by ${sending.video!.encoder}, ${sending.video!.width}x${sending.video!.height}; ` +
        `relay took payload type ${chosen.payloadType}, profile-level-id ${chosen.fmtp['profile-level-id']}; SPS says ${hex(tap.sps!.profileIdc)}${hex(tap.sps!.constraints)}${hex(tap.sps!.levelIdc)}`,
    )
  }, 20_000)

  test("every stage receives the browser's H.264 and Opus, starting with a keyframe", async () => {
    const { stageArns, rec, page } = setup
    const enough = () => stageArns.every((arn) => rec(arn).videoPackets > 80 && rec(arn).audioPackets > 5)
    await eventually('media on every stage', enough, 8_000).catch((error: Error) => {
      throw new Error(`${error.message}: ${stageArns.map((arn) => JSON.stringify(rec(arn))).join(', ')}`)
    })
    for (const arn of stageArns) {
      const r = rec(arn)
      // Every packet had the stage's SSRC and payload type and parsed as H.264 or Opus.
      expect(r.badPackets).toBe(0)
      expect(r.firstVideoNals!.some((n) => n === 7 || n === 5)).toBe(true)
      expect(r.idrPackets).toBeGreaterThan(0)
      expect(r.videoSeqJumps).toBe(0)
      console.log(
        `stage …${arn.slice(-12)}: ${r.videoPackets} video packets (${r.badPackets} padding-only), ${r.audioPackets} audio, first NALs [${r.firstVideoNals}]`,
      )
    }
    await page.screenshot({ path: `${RESULTS}publish-page.png` })
  }, 15_000)

  // Regression tests for bugs a real browser found.
  test('no padding-only bandwidth probes reach the stages (header extensions and transport-cc are not negotiated)', async () => {
    const { stageArns, rec } = setup
    // Not vacuous: the stages have had video (keyframes included) by now.
    await eventually('video on every stage', () => stageArns.every((arn) => rec(arn).idrPackets > 0 && rec(arn).videoPackets > 80), 8_000)
    expect(tap.paddingOnlyAfterKeyframe).toBe(0)
    for (const arn of stageArns) expect(rec(arn).badPackets).toBe(0)
  }, 15_000)

  test('Opus keeps flowing after a garbage collection (the publisher keeps every Track referenced)', async () => {
    const { stageArns, rec } = setup
    Bun.gc(true)
    const before = stageArns.map((arn) => rec(arn).audioPackets)
    await Bun.sleep(1_000)
    // The browser sends Opus every 20 ms: ~50 packets a second.
    stageArns.forEach((arn, i) => expect(rec(arn).audioPackets - before[i]!).toBeGreaterThan(25))
  }, 5_000)

  test("the browser's bandwidth estimate grows instead of collapsing (no transport-cc without its feedback)", async () => {
    const { page } = setup
    await Bun.sleep(Math.max(0, started.connectedAt + 6_000 - performance.now()))
    const stats = await senderStats(page)
    console.log(
      `browser after ${((performance.now() - started.connectedAt) / 1000).toFixed(1)} s: estimate ${stats.availableOutgoingBitrate} bit/s, video target ${stats.video!.targetBitrate} bit/s, ${stats.video!.width}x${stats.video!.height}, limited by ${stats.video!.qualityLimitationReason}`,
    )
    expect(stats.availableOutgoingBitrate!).toBeGreaterThan(300_000)
  }, 10_000)
})

describe('stopping and refusing (each with a relay stack and a page of its own)', () => {
  test("Stop sends the WHIP DELETE and frees the relay's publisher slot", async () => {
    const { stack, stageArns, page, rec } = await publishSetup()
    try {
      await start(page, stack.relay.url, PUBLISH_SECRET)
      const { state, detail } = await waitForState(page, ['connected', 'error', 'failed', 'closed', 'disconnected'], 10_000)
      expect(`${state} ${detail}`.trim()).toBe('connected')
      await eventually('media on every stage', () => stageArns.every((arn) => rec(arn).videoPackets > 0), 8_000)
      const sessions = stack.relay.fanout.publisherSessions
      await page.click('#stop')
      expect((await waitForState(page, ['stopped'], 5_000)).state).toBe('stopped')
      // The page DELETEs its resource before closing its connection: the slot is free at once, not
      // after the relay's media watchdog notices the silence.
      expect(stack.relay.fanout.publisherActive).toBe(false)
      expect(stack.relay.fanout.publisherSessions).toBe(sessions)
      const health = (await (await fetch(`${stack.relay.url}/health`)).json()).data
      expect(health.publisher.active).toBe(false)
      // The stages get no more media.
      await Bun.sleep(200)
      const counts = stageArns.map((arn) => rec(arn).videoPackets)
      await Bun.sleep(400)
      expect(stageArns.map((arn) => rec(arn).videoPackets)).toEqual(counts)
    } finally {
      await page.close()
      await stack.stop()
    }
  }, 25_000)

  test('a wrong publish secret: the page shows the error and the relay takes no publisher', async () => {
    const { stack, page } = await publishSetup()
    try {
      const sessions = stack.relay.fanout.publisherSessions
      await start(page, stack.relay.url, 'not-the-publish-secret')
      const { state, detail } = await waitForState(page, ['error', 'connected'], 10_000)
      expect(state).toBe('error')
      expect(detail).toContain('publish secret')
      expect(stack.relay.fanout.publisherActive).toBe(false)
      expect(stack.relay.fanout.publisherSessions).toBe(sessions)
      await page.screenshot({ path: `${RESULTS}publish-page-wrong-secret.png` })
    } finally {
      await page.close()
      await stack.stop()
    }
  }, 25_000)
})

describe('the browser publishing through a lossy path', () => {
  test('3 % loss and 20 ms delay between Chromium and the relay, RTX negotiated: every stage decodes ≥ 95 % of the frames sent', async () => {
    const { stack, stageArns, page, rec } = await publishSetup()
    let path: LossyPath | null = null
    try {
      // The page's WHIP POST goes through: its offer loses its candidates (the relay then learns the
      // path's far side from ICE checks) and the answer points the browser at the lossy path.
      await page.route('**/whip', async (route) => {
        const request = route.request()
        if (request.method() !== 'POST') return route.continue()
        const response = await route.fetch({ postData: withoutCandidates(request.postData() ?? '') })
        const answer = await response.text()
        if (response.status() !== 201) return route.fulfill({ response, body: answer })
        const videoPt = Number(answer.match(/^a=rtpmap:(\d+) H264\//m)?.[1])
        path = await startLossyPath({
          target: hostCandidate(answer),
          forward: { loss: 0.03, delayMs: 20 },
          backward: { delayMs: 20 },
          seed: 5,
          framesOfPayloadType: videoPt,
        })
        return route.fulfill({ response, body: candidatesAt(answer, path.port) })
      })
      await start(page, stack.relay.url, PUBLISH_SECRET)
      const { state, detail } = await waitForState(page, ['connected', 'error', 'failed', 'closed', 'disconnected'], 10_000)
      expect(`${state} ${detail}`.trim()).toBe('connected')
      expect(stack.relay.fanout.publisherSession!.codecs.videoRtx).not.toBeNull()
      await eventually('video on every stage', () => stageArns.every((arn) => (rec(arn).receiver?.analyze().framesDecodable ?? 0) > 5), 10_000)
      const from = performance.now()
      await Bun.sleep(8_000)
      const to = performance.now()
      const ingest = stack.relay.fanout.publisherSession!.stats().ingest
      await Bun.sleep(500) // repairs in flight
      const lossy = path!
      console.log(
        `browser → relay: ${lossy.forward.dropped} of ${lossy.forward.rtp} RTP packets dropped; relay NACKed ${ingest.nacked}, got ${ingest.rtxPackets} RTX (${ingest.repaired} repaired, ${ingest.unrepaired} given up)`,
      )
      expect(lossy.forward.dropped).toBeGreaterThan(10)
      expect(ingest.rtxPackets).toBeGreaterThan(0)
      // The page shows what the relay saw of its uplink (it polls GET on its WHIP resource every 2 s).
      await page.waitForFunction(() => !(document.getElementById('ingest') as HTMLElement).hidden, null, { timeout: 3_000 })
      const shown = await page.evaluate(() => document.getElementById('ingest')!.textContent ?? '')
      console.log(`publish page: ${shown.replace(/\s+/g, ' ').trim()}`)
      expect(shown).toMatch(/Keyframe interval: .*\d+ packets lost on the way, \d+ repaired by retransmission/)
      expect(Number(shown.match(/(\d+) repaired/)![1])).toBeGreaterThan(0)
      for (const arn of stageArns) {
        const result = rec(arn).receiver!.analyze(to)
        const share = decodedShareOfSent(lossy.frames, result.decodable, from, to - 100)
        console.log(
          `browser stage …${arn.slice(-6)}: ${share.decoded}/${share.sent} frames sent in the window decodable (${(share.share * 100).toFixed(1)} %), worst freeze ${result.worstFreezeMs.toFixed(0)} ms`,
        )
        expect(share.sent).toBeGreaterThan(100)
        expect(share.share).toBeGreaterThanOrEqual(0.95)
      }
    } finally {
      await page.close()
      await stack.stop()
      ;(path as LossyPath | null)?.close()
    }
  }, 40_000)
})
