import { candidatesAt, hostCandidate, type LossyPath, startLossyPath, withoutCandidates } from '../../test/support/lossy-path'
import { TestPublisher } from '../../test/support/publisher'
import { endpointToken } from '../../test/support/whip-endpoint'
import { serveCalls } from './child'

/** Where a lossy run publishes: to the relay (its publish secret), or straight to the test WHIP endpoint as stage `stageArn`. */
export type LossyTarget = { to: 'relay'; relayUrl: string; secret: string } | { to: 'endpoint'; whipUrl: string; stageArn: string }

export type PublisherCall =
  | { op: 'start'; relayUrl: string; secret: string; padTo: number }
  | {
      op: 'startLossy'
      target: LossyTarget
      padTo: number
      /** Share (0..1) of the publisher's RTP dropped on its way out (retransmissions included); RTCP always passes. */
      loss: number
      /** Added each way. */
      delayMs: number
      seed: number
      /** Answer NACKs (libdatachannel's RtcpNackResponder, as OBS does); false: nothing repairs the loss. */
      answerNacks: boolean
    }
  | { op: 'stop' }
  | { op: 'snapshot' }

export interface PublisherSnapshot {
  at: number
  cpuUs: number
  packetsSent: number
  /** RTP bytes (header + payload) handed to the tracks. */
  bytesSent: number
  pliReceived: number
}

/** What the publisher that `stop` ended did, and what its lossy path (if any) did to it. */
export interface PublisherStopped {
  packetsSent: number
  framesSent: number
  pliReceived: number
  /** Sequence numbers it was asked for by NACK (each retry counts). */
  nackedSequences: number
  /** Its lossy path, publisher → receiver: RTP packets and the ones dropped. */
  path: { rtp: number; dropped: number } | null
}

/**
 * The broadcaster, alone in its process so its frame timer is not delayed by the endpoints' work:
 * the test publisher (test/support/publisher.ts) sending the x264 baseline clip (~250 kbit/s at 30 fps,
 * an IDR every second) `padTo` times over, plus 20 ms Opus frames, over WHIP.
 *
 * `start` (the load phase): to the relay, honouring PLI, so a new stage gets its keyframe quickly
 * instead of waiting for the clip's next IDR. `startLossy` (the loss phase): through a lossy UDP
 * path (test/support/lossy-path.ts, seeded) to the relay or straight to a stage endpoint, and not
 * honouring PLI (OBS does not either; a keyframe on demand would hide the loss). `stop` hangs up
 * (WHIP DELETE), so the relay takes the next publisher at once.
 */
let publisher: TestPublisher | null = null
let path: LossyPath | null = null

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0))

async function stop(): Promise<PublisherStopped | null> {
  const p = publisher
  if (!p) return null
  publisher = null
  await p.stop()
  const stopped: PublisherStopped = {
    packetsSent: p.packetsSent,
    framesSent: p.framesSent,
    pliReceived: p.pliReceived,
    nackedSequences: p.nackedSequences,
    path: path ? { rtp: path.forward.rtp, dropped: path.forward.dropped } : null,
  }
  path?.close()
  path = null
  return stopped
}

serveCalls(async (call: PublisherCall): Promise<unknown> => {
  switch (call.op) {
    case 'start': {
      await stop()
      publisher = new TestPublisher(call.relayUrl, call.secret, { honourPli: true, padTo: call.padTo })
      await publisher.start()
      return true
    }
    case 'startLossy': {
      await stop()
      const { target } = call
      publisher = new TestPublisher(target.to === 'relay' ? target.relayUrl : '', target.to === 'relay' ? target.secret : '', {
        padTo: call.padTo,
        honourPli: false,
        answerNacks: call.answerNacks,
        ...(target.to === 'endpoint' ? { whip: { url: target.whipUrl, token: endpointToken(target.stageArn) } } : {}),
        // The publisher is the path's client, the relay (or endpoint) its target: candidates by SDP, as in test/relay/loss.test.ts.
        transformOffer: withoutCandidates,
        transformAnswer: async (answer) => {
          path = await startLossyPath({
            target: hostCandidate(answer),
            forward: { loss: call.loss, delayMs: call.delayMs },
            backward: { delayMs: call.delayMs },
            seed: call.seed,
          })
          return candidatesAt(answer, path.port)
        },
      })
      await publisher.start()
      return true
    }
    case 'stop':
      return stop()
    case 'snapshot': {
      const cpu = process.cpuUsage()
      return {
        at: performance.now(),
        cpuUs: cpu.user + cpu.system,
        packetsSent: publisher?.packetsSent ?? 0,
        bytesSent: publisher?.bytesSent ?? 0,
        pliReceived: publisher?.pliReceived ?? 0,
      } satisfies PublisherSnapshot
    }
  }
})
