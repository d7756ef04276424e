/**
 * The relay on lossy paths (DESIGN §10 Loss): ingest loss is repaired once at the relay, a stage's
 * own loss is repaired from the relay's buffer, and the stages' sender reports carry the publisher's
 * clock. Media really crosses a lossy UDP proxy (test/support/lossy-path.ts) between real
 * node-datachannel peers; each stage's video is judged as a decoder would (test/support/video-receiver.ts).
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { DEFAULT_REPAIR_POLICY } from '../../relay/ingest/loss-repair'
import { eventually } from '../support/eventually'
import { candidatesAt, hostCandidate, type LossyPath, type PathDirection, startLossyPath, withoutCandidates } from '../support/lossy-path'
import { TestPublisher, type TestPublisherOptions } from '../support/publisher'
import { PUBLISH_SECRET, type RelayStack, startRelayStack } from '../support/relay-stack'
import type { WhipEndpointOptions } from '../support/whip-endpoint'

const MEDIA_SECONDS = 8
const MIN_DECODED = 0.95
const MAX_FREEZE_MS = 500

let stack: RelayStack | null = null
let publisher: TestPublisher | null = null
const paths: LossyPath[] = []

afterEach(async () => {
  await publisher?.stop()
  publisher = null
  await stack?.stop()
  stack = null
  for (const path of paths.splice(0)) path.close()
})

/** Publisher options that route its media through a new lossy path (publisher = client, relay = target). */
function throughLossyPath(forward: PathDirection, backward: PathDirection, seed: number): Pick<TestPublisherOptions, 'transformOffer' | 'transformAnswer'> {
  return {
    transformOffer: withoutCandidates,
    transformAnswer: async (answer) => {
      const path = await startLossyPath({ target: hostCandidate(answer), forward, backward, seed })
      paths.push(path)
      return candidatesAt(answer, path.port)
    },
  }
}

async function stackWithStages(count: number, options: { repair?: boolean; whip?: WhipEndpointOptions } = {}) {
  stack = await startRelayStack({ repair: options.repair, whip: options.whip })
  const s = stack
  const arns = [(await s.serve.stages.master()).arn]
  while (arns.length < count) arns.push((await (await s.serve.api('/api/stage', { method: 'POST', json: {} })).json()).data.stageArn)
  await eventually('every stage live', () => arns.every((arn) => s.relay.fanout.liveStages().includes(arn)), 10_000)
  return arns
}

/** Lets media flow, stops the publisher, waits for repairs in flight, and judges each stage. */
async function judge(arns: string[]) {
  const s = stack!
  await eventually('video on every stage', () => arns.every((arn) => (s.whip.record(arn).receiver?.analyze().framesDecodable ?? 0) > 0), 10_000)
  await Bun.sleep(MEDIA_SECONDS * 1000)
  const ingest = s.relay.fanout.publisherSession!.stats().ingest
  const stoppedAt = performance.now()
  await publisher!.stop()
  await Bun.sleep(300)
  const stages = arns.map((arn) => ({ arn, record: s.whip.record(arn), result: s.whip.record(arn).receiver!.analyze(stoppedAt) }))
  return { ingest, stages }
}

const show = (label: string, results: Awaited<ReturnType<typeof judge>>['stages']) => {
  for (const { arn, result } of results)
    console.log(
      `${label} stage …${arn.slice(-6)}: ${result.framesDecodable}/${result.framesSeen + result.framesMissing} frames decodable (${(result.decodedShare * 100).toFixed(1)} %), ${result.missingPackets} packets missing, worst freeze ${result.worstFreezeMs.toFixed(0)} ms`,
    )
}

describe('ingest loss is repaired once, at the relay', () => {
  test('3 % RTP loss and 20 ms delay between publisher and relay: every stage decodes ≥ 95 % of the frames, no freeze over 500 ms', async () => {
    const arns = await stackWithStages(3)
    publisher = new TestPublisher(stack!.relay.url, PUBLISH_SECRET, { padTo: 4, ...throughLossyPath({ loss: 0.03, delayMs: 20 }, { delayMs: 20 }, 13) })
    await publisher.start()
    const { ingest, stages: results } = await judge(arns)
    show('repair on:', results)
    console.log(`relay ingest: ${JSON.stringify(ingest)}`)
    const path = paths[0]!
    console.log(
      `ingest path: ${path.forward.dropped} of ${path.forward.rtp} RTP packets dropped; the publisher was asked for ${publisher.nackedSequences} sequence numbers; the stages asked the relay for ${results.map((r) => r.record.nacksSent).join(', ')}`,
    )
    expect(path.forward.dropped / path.forward.rtp).toBeGreaterThan(0.02)
    for (const { result } of results) {
      expect(result.decodedShare).toBeGreaterThanOrEqual(MIN_DECODED)
      expect(result.worstFreezeMs).toBeLessThanOrEqual(MAX_FREEZE_MS)
    }
    // The relay asked and got the packets back. Repair is not multiplied by the stages: the publisher
    // was asked only by the relay (about once per lost packet); what the stages asked for (a repaired
    // packet comes late) the relay answered from its own buffer.
    expect(ingest.gaps).toBeGreaterThan(0)
    expect(ingest.repaired).toBeGreaterThan(0.9 * ingest.missing)
    expect(publisher.nackedSequences).toBeGreaterThan(0)
    expect(publisher.nackedSequences).toBeLessThanOrEqual(Math.max(ingest.nacked, 1.5 * ingest.missing))
    // Every gap was repaired, so no keyframe was asked for beyond the one when the publisher connected.
    expect(ingest.keyframeRequests).toBeLessThanOrEqual(1)
    const snapshots = stack!.relay.fanout.stageSnapshots()
    console.log(`relay stages: ${snapshots.map((s) => `${s.nacksReceived} NACKed, ${s.retransmitted} resent, ${s.nacksUnanswered} not held yet`).join('; ')}`)
    const stageNacks = results.reduce((sum, r) => sum + r.record.nacksSent, 0)
    expect(snapshots.reduce((sum, s) => sum + s.nacksReceived, 0)).toBe(stageNacks)
    if (stageNacks > 0) expect(publisher.nackedSequences).toBeLessThan(stageNacks)
  }, 40_000)

  test('the same path with repair turned off shows the damage (so the test above can fail)', async () => {
    const arns = await stackWithStages(3, { repair: false })
    publisher = new TestPublisher(stack!.relay.url, PUBLISH_SECRET, { padTo: 4, ...throughLossyPath({ loss: 0.03, delayMs: 20 }, { delayMs: 20 }, 13) })
    await publisher.start()
    const { ingest, stages: results } = await judge(arns)
    show('repair off:', results)
    expect(ingest.nacked).toBe(0)
    for (const { result } of results) expect(result.decodedShare < MIN_DECODED || result.worstFreezeMs > MAX_FREEZE_MS).toBe(true)
    // The stages' own NACKs cannot bring back what the relay never received.
    expect(results.some(({ result }) => result.missingPackets > 0)).toBe(true)
  }, 40_000)
})

describe('when repair fails', () => {
  test('a publisher that does not answer NACKs: gaps are given up after ~1 s and a PLI goes out, rate-limited', async () => {
    await stackWithStages(1)
    publisher = new TestPublisher(stack!.relay.url, PUBLISH_SECRET, { padTo: 4, answerNacks: false, ...throughLossyPath({ loss: 0.03 }, {}, 21) })
    await publisher.start()
    const p = publisher
    const session = stack!.relay.fanout.publisherSession!
    await eventually('a gap given up on', () => session.stats().ingest.unrepaired > 0, 5_000)
    const pliAtFirstGiveUp = p.pliReceived
    const t0 = performance.now()
    await Bun.sleep(3_000)
    const ingest = session.stats().ingest
    console.log(
      `unanswered NACKs: ${ingest.nacked} sent for ${ingest.missing} missing, ${ingest.unrepaired} given up; ${p.pliReceived} PLI received by the publisher`,
    )
    expect(ingest.repaired).toBe(0)
    expect(ingest.nacked).toBeLessThanOrEqual(ingest.missing * DEFAULT_REPAIR_POLICY.maxNacks)
    expect(p.pliReceived).toBeGreaterThan(pliAtFirstGiveUp)
    // At most one PLI per 500 ms.
    expect(p.pliReceived - pliAtFirstGiveUp).toBeLessThanOrEqual(1 + Math.ceil((performance.now() - t0) / 500))
  }, 30_000)
})

describe("a stage's own loss is repaired from the relay's buffer", () => {
  test("5 % loss on one stage's path only: that stage recovers, the others and the publisher see nothing of it", async () => {
    let lossyStage = ''
    const arns = await stackWithStages(3, {
      whip: {
        // The relay is the client here (it offers), the stage endpoint the target.
        transformOffer: (arn, offer) => (arn === lossyStage ? withoutCandidates(offer) : offer),
        transformAnswer: async (arn, answer) => {
          if (arn !== lossyStage) return answer
          const path = await startLossyPath({ target: hostCandidate(answer), forward: { loss: 0.05, delayMs: 10 }, backward: { delayMs: 10 }, seed: 7 })
          paths.push(path)
          return candidatesAt(answer, path.port)
        },
      },
    })
    // The stage that goes through the lossy path reconnects through it.
    lossyStage = arns[1]!
    const before = stack!.whip.record(lossyStage).sessions
    stack!.whip.kill(lossyStage)
    await eventually('the stage reconnected through the lossy path', () => stack!.whip.record(lossyStage).sessions > before && paths.length === 1, 10_000)
    await eventually('live again', () => stack!.relay.fanout.liveStages().includes(lossyStage), 10_000)
    publisher = new TestPublisher(stack!.relay.url, PUBLISH_SECRET, { padTo: 4 })
    await publisher.start()
    const { ingest, stages: results } = await judge(arns)
    show('one lossy stage:', results)
    const path = paths[0]!
    const snapshots = new Map(stack!.relay.fanout.stageSnapshots().map((s) => [s.stageArn, s]))
    console.log(`stage path: ${path.forward.dropped} of ${path.forward.rtp} RTP packets dropped; relay resent ${snapshots.get(lossyStage)!.retransmitted}`)
    expect(path.forward.dropped).toBeGreaterThan(20)
    for (const { arn, record, result } of results) {
      expect(result.decodedShare).toBeGreaterThanOrEqual(MIN_DECODED)
      expect(result.worstFreezeMs).toBeLessThanOrEqual(MAX_FREEZE_MS)
      if (arn === lossyStage) {
        expect(record.nacksSent).toBeGreaterThan(0)
        // Audio (a quarter of the packets here) is not retransmitted; nearly all dropped video is.
        expect(snapshots.get(arn)!.retransmitted).toBeGreaterThanOrEqual(path.forward.dropped * 0.5)
      } else {
        expect(record.nacksSent).toBe(0)
        expect(snapshots.get(arn)!.retransmitted).toBe(0)
      }
    }
    // The publisher was never asked: the relay answered from its own buffer.
    expect(ingest.nacked).toBe(0)
    expect(publisher.nackedSequences).toBe(0)
  }, 60_000)
})

describe('A/V sync', () => {
  test("the stages' sender reports carry the publisher's NTP ↔ RTP mapping, shifted by each stage's offset (within 1 ms)", async () => {
    const arns = await stackWithStages(2)
    // The publisher's clock runs 37 s behind this machine's: the relay's own wall clock would be far off.
    publisher = new TestPublisher(stack!.relay.url, PUBLISH_SECRET, { senderReports: { ntpOffsetMs: -37_000 } })
    await publisher.start()
    const p = publisher
    const s = stack!
    await eventually('the publisher reported', () => p.senderReportsSent >= 2, 5_000)
    const reportsNow = arns.map((arn) => [...s.whip.record(arn).senderReports.values()].reduce((a, b) => a + b, 0))
    // Two reports per stream after the publisher's first one reached the relay.
    await eventually(
      "stage reports after the publisher's",
      () => arns.every((arn, i) => [...s.whip.record(arn).senderReports.values()].reduce((a, b) => a + b, 0) >= reportsNow[i]! + 4),
      5_000,
    )
    for (const arn of arns) {
      const record = s.whip.record(arn)
      const video = record.lastVideo!
      const audio = record.lastAudio!
      const sentVideoTs = p.sentVideo.get(video.payloadHash)
      expect(sentVideoTs).toBeDefined()
      const offsets = { video: (video.timestamp - sentVideoTs!) >>> 0, audio: (audio.timestamp - audio.stamp) >>> 0 }
      for (const kind of ['video', 'audio'] as const) {
        const ssrc = kind === 'video' ? record.expectedVideoSsrc! : record.expectedAudioSsrc!
        const sr = record.lastSenderReports.get(ssrc)!
        const clock = p.senderClock![kind]
        // Where the publisher's own mapping puts the stage's RTP timestamp (less its offset), in NTP time.
        const publisherRtp = (sr.rtpTimestamp - offsets[kind]) >>> 0
        const expectedNtpMs = clock.ntpMs + (((publisherRtp - clock.rtp) | 0) * 1000) / clock.clockRate
        const errorMs = sr.ntpMs - expectedNtpMs
        console.log(`stage …${arn.slice(-6)} ${kind}: SR mapping is ${errorMs.toFixed(3)} ms from the publisher's`)
        expect(Math.abs(errorMs)).toBeLessThan(1)
      }
    }
  }, 30_000)
})
