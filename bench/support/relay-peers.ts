import nodeDataChannel from 'node-datachannel'
import { isRtcp } from '../../relay/rtp'
import { startTestServer } from '../../test/support/serve'
import { startWhipEndpoint } from '../../test/support/whip-endpoint'
import { serveCalls } from './child'

export type PeersCall = { op: 'info' } | { op: 'createStage' } | { op: 'deleteStage'; arn: string } | { op: 'snapshot'; arns: string[] }

export interface PeersInfo {
  serveUrl: string
  apiKey: string
  whipUrl: string
  masterArn: string
  mediaServerSecret: string
}

export interface EndpointStage {
  arn: string
  sessions: number
  videoPackets: number
  audioPackets: number
  badPackets: number
  idrPackets: number
  videoSeqJumps: number
  /** RTP bytes (header + payload, after SRTP) received with this stage's negotiated SSRCs. */
  rtpBytes: number
}

export interface PeersSnapshot {
  /** performance.now() of this process. */
  at: number
  /** process.cpuUsage() of this process, µs. */
  cpuUs: number
  stages: EndpointStage[]
}

const MEDIA_SERVER_SECRET = 'bench-media-secret-0123456789'

/**
 * The relay's counterparts except the publisher, in one process: `serve` (local provider, every
 * stage's WHIP URL = the test endpoint) and the test WHIP endpoints of test/support/whip-endpoint.ts.
 *
 * The endpoint counts packets, not bytes. To measure the received bitrate, every PeerConnection it
 * creates is a subclass whose tracks count the RTP bytes they deliver, keyed by SSRC; a stage's
 * bytes are those of the SSRCs its offer announced (each StageSession keeps its SSRCs for life).
 */
const rtpBytesBySsrc = new Map<number, number>()
const Base = nodeDataChannel.PeerConnection
class CountingPeerConnection extends Base {
  override onTrack(cb: Parameters<InstanceType<typeof Base>['onTrack']>[0]): void {
    super.onTrack((track) => {
      const onMessage = track.onMessage.bind(track)
      // The method is a read-only property of the native prototype: define an own one instead of assigning.
      Object.defineProperty(track, 'onMessage', {
        value: (handler: (message: Buffer) => void) =>
          onMessage((message) => {
            const packet = new Uint8Array(message.buffer, message.byteOffset, message.byteLength)
            if (packet.length >= 12 && !isRtcp(packet)) {
              const ssrc = ((packet[8]! << 24) | (packet[9]! << 16) | (packet[10]! << 8) | packet[11]!) >>> 0
              rtpBytesBySsrc.set(ssrc, (rtpBytesBySsrc.get(ssrc) ?? 0) + packet.length)
            }
            handler(message)
          }),
      })
      cb(track)
    })
  }
}
;(nodeDataChannel as unknown as { PeerConnection: typeof Base }).PeerConnection = CountingPeerConnection

const whip = await startWhipEndpoint()
const serve = await startTestServer({
  LOCAL_WHIP_URL: whip.url,
  MEDIA_SERVER_SECRET,
  MAX_STAGES: '1000',
  // No viewers in this bench: keep the fleet loop from draining the "empty" stages mid-run.
  STAGE_WARMUP_MS: String(24 * 3600_000),
  RATE_LIMIT_MAX_REQUESTS: '1000000000',
})
const masterArn = (await serve.stages.master()).arn

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0))

serveCalls(async (call: PeersCall): Promise<unknown> => {
  switch (call.op) {
    case 'info':
      return { serveUrl: serve.url, apiKey: serve.apiKey, whipUrl: whip.url, masterArn, mediaServerSecret: MEDIA_SERVER_SECRET } satisfies PeersInfo
    case 'createStage': {
      const response = await serve.api('/api/stage', { method: 'POST', json: {} })
      const body = (await response.json()) as { data?: { stageArn?: string } }
      if (response.status !== 200 || !body.data?.stageArn) throw new Error(`POST /api/stage answered ${response.status}: ${JSON.stringify(body)}`)
      return body.data.stageArn
    }
    case 'deleteStage': {
      const response = await serve.api(`/api/stage/${encodeURIComponent(call.arn)}`, { method: 'DELETE' })
      if (response.status !== 200) throw new Error(`DELETE stage answered ${response.status}: ${await response.text()}`)
      return true
    }
    case 'snapshot': {
      const cpu = process.cpuUsage()
      const stages = call.arns.map((arn): EndpointStage => {
        const r = whip.record(arn)
        const bytes = (ssrc: number | null) => (ssrc === null ? 0 : (rtpBytesBySsrc.get(ssrc) ?? 0))
        return {
          arn,
          sessions: r.sessions,
          videoPackets: r.videoPackets,
          audioPackets: r.audioPackets,
          badPackets: r.badPackets,
          idrPackets: r.idrPackets,
          videoSeqJumps: r.videoSeqJumps,
          rtpBytes: bytes(r.expectedVideoSsrc) + bytes(r.expectedAudioSsrc),
        }
      })
      return { at: performance.now(), cpuUs: cpu.user + cpu.system, stages } satisfies PeersSnapshot
    }
  }
})
