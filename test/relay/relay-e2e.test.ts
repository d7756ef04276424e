import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eventually } from '../support/eventually'
import { TestPublisher } from '../support/publisher'
import { PUBLISH_SECRET, type RelayStack, startRelayStack } from '../support/relay-stack'

// The fixture: three live stages and a publisher, from beforeAll. Tests only look at it, or put back
// what they change (a stage they add is deleted again; a republish leaves a publisher publishing).
let stack: RelayStack
let publisher: TestPublisher
const stageArns: string[] = []
const live = (arn: string) => stack.relay.fanout.liveStages().includes(arn)
const rec = (arn: string) => stack.whip.record(arn)
const createStage = async () => (await (await stack.serve.api('/api/stage', { method: 'POST', json: {}, headers: {} })).json()).data.stageArn as string
const deleteStage = (arn: string) => stack.serve.api(`/api/stage/${encodeURIComponent(arn)}`, { method: 'DELETE' })
const known = (arn: string) => stack.relay.fanout.stageSnapshots().some((s) => s.stageArn === arn)

beforeAll(async () => {
  // IVS-like endpoint: redirects once and puts candidates only in the first m-section of its answer.
  stack = await startRelayStack({ whip: { redirects: 1, candidatesOnlyInFirstSection: true } })
  stageArns.push((await stack.serve.stages.master()).arn, await createStage(), await createStage())
  await eventually('every stage live', () => stageArns.every(live), 10_000)
  publisher = new TestPublisher(stack.relay.url, PUBLISH_SECRET, { honourPli: true })
  await publisher.start()
}, 30_000)
afterAll(async () => {
  await publisher?.stop()
  await stack?.stop()
})

describe('relay end to end: serve + relay + a real H.264/Opus publisher + node-datachannel stage endpoints', () => {
  test('every stage receives H.264 and Opus RTP with its own SSRC, starting with a keyframe', async () => {
    await eventually('media on every stage', () => stageArns.every((arn) => rec(arn).videoPackets > 30 && rec(arn).audioPackets > 20), 15_000)
    for (const arn of stageArns) {
      const r = rec(arn)
      expect(r.badPackets).toBe(0)
      expect(r.firstVideoNals!.some((n) => n === 7 || n === 5)).toBe(true)
      expect(r.videoSeqJumps).toBe(0)
    }
    // Each stage has its own SSRC.
    expect(new Set(stageArns.map((arn) => rec(arn).expectedVideoSsrc)).size).toBe(3)
    // The WHIP POST was redirected and Authorization survived each hop.
    expect(stack.whip.authorizations.every((a) => a.startsWith('Bearer ey'))).toBe(true)
  }, 20_000)

  test('stages get RTCP sender reports for their streams (lip sync), about once a second', async () => {
    await eventually('sender reports', () => stageArns.every((arn) => [...rec(arn).senderReports.values()].reduce((a, b) => a + b, 0) >= 4), 5_000)
    for (const arn of stageArns) {
      const r = rec(arn)
      console.log(
        `stage …${arn.slice(-6)} sender reports by SSRC: ${JSON.stringify([...r.senderReports])} (video ${r.expectedVideoSsrc}, audio ${r.expectedAudioSsrc})`,
      )
      for (const ssrc of r.senderReports.keys()) expect([r.expectedVideoSsrc, r.expectedAudioSsrc]).toContain(ssrc)
      expect(r.senderReports.get(r.expectedAudioSsrc!) ?? 0).toBeGreaterThan(0)
      expect(r.senderReports.get(r.expectedVideoSsrc!) ?? 0).toBeGreaterThan(0)
    }
    for (const s of stack.relay.fanout.stageSnapshots()) expect(s.senderReports).toBeGreaterThanOrEqual(4)
  }, 20_000)

  test('audio keeps flowing after a garbage collection (every publisher Track stays referenced)', async () => {
    Bun.gc(true)
    const before = stageArns.map((arn) => rec(arn).audioPackets)
    // Opus every 20 ms: ~50 packets a second per stage. Waited for (a loaded machine runs the
    // publisher's timer late); audio that stopped after the collection never gets there.
    await eventually('25 more audio packets on every stage', () => stageArns.every((arn, i) => rec(arn).audioPackets - before[i]! > 25), 5_000)
  }, 20_000)

  test('a stage created mid-stream gets a keyframe first, within 1 s (publisher honours PLI)', async () => {
    const arn = await createStage()
    try {
      await eventually('new stage has video', () => rec(arn).videoPackets > 0, 5_000)
      const r = rec(arn)
      expect(r.firstVideoNals!.some((n) => n === 7 || n === 5)).toBe(true)
      expect(r.firstKeyframeAfterMs!).toBeLessThan(1_000)
      console.log(`mid-stream stage: first keyframe ${r.firstKeyframeAfterMs!.toFixed(0)} ms after its connection opened`)
      expect(publisher.pliReceived).toBeGreaterThan(0)
    } finally {
      // Put the fixture back: the relay drops the stage again.
      await deleteStage(arn)
      await eventually('the added stage dropped', () => !known(arn), 5_000)
    }
  }, 20_000)

  test('a PLI from a stage reaches the publisher; a burst is rate-limited to one per 500 ms', async () => {
    await Bun.sleep(600)
    const before = publisher.pliReceived
    const t0 = performance.now()
    expect(stack.whip.sendPli(stageArns[1]!)).toBe(true)
    await eventually('PLI forwarded', () => publisher.pliReceived > before, 2_000)
    console.log(`stage PLI → publisher PLI in ${(performance.now() - t0).toFixed(0)} ms (loopback, includes both peers' RTCP paths)`)
    const afterFirst = publisher.pliReceived
    for (let i = 0; i < 10; i++) stack.whip.sendPli(stageArns[i % stageArns.length]!)
    await Bun.sleep(300)
    expect(publisher.pliReceived - afterFirst).toBeLessThanOrEqual(1)
    const snapshot = stack.relay.fanout.stageSnapshots().find((s) => s.stageArn === stageArns[1])!
    expect(snapshot.keyframeRequests).toBeGreaterThan(0)
  }, 20_000)

  test('a stage endpoint killed and restarted is reconnected while the others keep flowing', async () => {
    const victim = stageArns[1]!
    const others = stageArns.filter((a) => a !== victim)
    const sessionsBefore = rec(victim).sessions
    const othersBefore = others.map((a) => rec(a).videoPackets)
    stack.whip.kill(victim, 500)
    await eventually('victim reconnected', () => rec(victim).sessions > sessionsBefore && live(victim), 10_000)
    const packetsAtReconnect = rec(victim).videoPackets
    await eventually('victim flowing again', () => rec(victim).videoPackets > packetsAtReconnect + 10, 5_000)
    others.forEach((a, i) => expect(rec(a).videoPackets).toBeGreaterThan(othersBefore[i]! + 20))
    expect(rec(victim).badPackets).toBe(0)
  }, 20_000)

  test('a deleted stage gets its WHIP DELETE and no more media', async () => {
    // A stage of its own, receiving media, is deleted.
    const arn = await createStage()
    await eventually('the stage has video', () => live(arn) && rec(arn).videoPackets > 0, 10_000)
    expect(rec(arn).deletes).toBe(0)
    await deleteStage(arn)
    await eventually('WHIP DELETE', () => rec(arn).deletes === 1, 5_000)
    expect(known(arn)).toBe(false)
  }, 20_000)

  test('a publisher that drops and republishes is forwarded again, sequence numbers continuous per stage', async () => {
    const sessions = stack.relay.fanout.publisherSessions
    await publisher.stop(false) // vanishes without DELETE
    await eventually('relay notices the publisher is gone', () => !stack.relay.fanout.publisherActive, 15_000)
    const counts = stageArns.map((a) => rec(a).videoPackets)
    publisher = new TestPublisher(stack.relay.url, PUBLISH_SECRET, { honourPli: true })
    await publisher.start()
    await eventually('media again on every stage', () => stageArns.every((a, i) => rec(a).videoPackets > counts[i]! + 30), 5_000)
    for (const arn of stageArns) {
      expect(rec(arn).videoSeqJumps).toBe(0)
      expect(rec(arn).badPackets).toBe(0)
    }
    expect(stack.relay.fanout.publisherSessions).toBe(sessions + 1)
  }, 20_000)

  test('/health reports the publisher and, per stage, state, packets, bytes and keyframe requests', async () => {
    const body = await (await fetch(`${stack.relay.url}/health`)).json()
    // The original media server's fields at the top level, and this project's envelope around the same report.
    expect(body).toMatchObject({
      success: true,
      status: 'healthy',
      service: 'ivs-fanout-relay',
      serverId: 'relay-test',
      stats: { publisherActive: true, connectedStages: stageArns.length, activeConnections: stageArns.length + 1 },
    })
    expect(body.data).toMatchObject({ status: body.status, stats: body.stats, registered: true, followingEvents: true })
    const health = body.data
    expect(health.mode).toBe('relay')
    expect(health.publisher.active).toBe(true)
    expect(health.stages.length).toBe(stageArns.length)
    for (const stage of health.stages) {
      expect(stage.state).toBe('live')
      expect(stage.packetsForwarded).toBeGreaterThan(0)
      expect(stage.bytesForwarded).toBeGreaterThan(stage.packetsForwarded)
      expect(typeof stage.keyframeRequests).toBe('number')
      // Feedback from the stage: its receiver reports (loss, and the RTT against our sender reports), NACKs.
      expect(stage.lossFraction).toBe(0)
      expect(stage.rttMs).toBeGreaterThanOrEqual(0)
      // Loopback: a few ms, plus any event-loop stall on either side; a unit mistake would be 1000×.
      expect(stage.rttMs).toBeLessThan(500)
      expect(stage).toMatchObject({ nacksReceived: 0, retransmitted: 0, sendErrors: 0 })
    }
    // One pacer in front of every stage (its behaviour: test/relay/rtcp.test.ts; under load: bench:relay).
    const { pacing } = health
    expect([pacing.bitsPerSecond, pacing.overflowPackets, typeof pacing.queuedBytes, typeof pacing.pacedPackets]).toEqual([20_000_000, 0, 'number', 'number'])
    // Far below its 20 Mbit/s, so nothing queues: the wait is only timer lateness.
    expect(pacing.maxWaitMs).toBeLessThan(500)
    expect(health.publisher.ingest).toMatchObject({ gaps: 0, unrepaired: 0 })
    expect((await fetch(`${stack.relay.url}/health/ready`)).status).toBe(200)
    expect((await fetch(`${stack.relay.url}/health/live`)).status).toBe(200)
    // The API server learns the relay's state from its heartbeats.
    await eventually('publisher state at the API', async () => (await (await stack.serve.api('/api/stats/publisher')).json()).data.active === true, 5_000)
  }, 20_000)
})
