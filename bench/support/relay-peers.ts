import nodeDataChannel from 'node-datachannel'
import { isRtcp } from '../../relay/rtp/rtp'
import { startTestServer } from '../../test/support/serve'
import { startWhipEndpoint } from '../../test/support/whip-endpoint'
import { serveCalls } from './child'

export type PeersCall =
  | { op: 'info' }
  /** Creates or deletes stages through the API until `n` exist (the master included); answers with them. */
  | { op: 'setStages'; n: number }
  | { op: 'snapshot'; arns: string[] }
  /** The stages the relay publishes into, as `GET /api/media/stages` lists them (every stage; hybrid: the origins). */
  | { op: 'relayStages' }
  /** New VideoReceivers for these (full) stages' current sessions: judge only what comes next. */
  | { op: 'resetReceivers'; arns: string[] }
  /** Notes the end of a loss run (now, in this process's clock); `analyze` judges up to it. */
  | { op: 'mark' }
  | { op: 'analyze'; arns: string[] }
  /** A full garbage collection (before the loss runs, once the load's stages are deleted). */
  | { op: 'gc' }

export interface PeersInfo {
  pid: number
  /** serve's FANOUT_MODE (the peers process's env FANOUT_MODE; relay by default). */
  fanoutMode: string
  serveUrl: string
  apiKey: string
  whipUrl: string
  masterArn: string
  mediaServerSecret: string
  /** Stages created after the master whose endpoints are full (FULL_EXTRAS). */
  fullExtras: number
  /** A UDP socket of this process that reads and drops datagrams (the relay's send floor). */
  floorPort: number
}

/** The stages that exist, the master first, in creation order; `sink[i]`: whether stage i's endpoint is a sink. */
export interface PeersStages {
  arns: string[]
  sink: boolean[]
}

export interface EndpointStage {
  arn: string
  /** Whether the stage's current session is a sink (media dropped in C++, not counted: the counters below stay 0). */
  sink: boolean
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
  /** process.cpuUsage() of this process, µs (every thread: libdatachannel's ICE, DTLS and SRTP work too). */
  cpuUs: number
  stages: EndpointStage[]
}

/** A stage's video as a decoder would take it (test/support/video-receiver.ts), up to the last `mark`. */
export interface StageVideo {
  arn: string
  framesSeen: number
  framesMissing: number
  framesDecodable: number
  decodedShare: number
  worstFreezeMs: number
  missingPackets: number
  /** Sequence numbers the endpoint NACKed over the stage's lifetime. */
  nacksSent: number
}

/**
 * Stage endpoints that are full: the master and the first FULL_EXTRAS stages created (and still
 * there: the bench deletes the newest first). Every later stage's endpoint is a sink.
 */
const FULL_EXTRAS = 4
/** Stages created or deleted through the API at once. */
const API_BATCH = 20

const MEDIA_SERVER_SECRET = 'bench-media-secret-0123456789'
/** The bench's hybrid phase starts this process with FANOUT_MODE=hybrid (serve then lists only the origins to the relay). */
const FANOUT_MODE = process.env.FANOUT_MODE ?? 'relay'

/**
 * The relay's counterparts except the publisher, in one process: `serve` (local provider, every
 * stage's WHIP URL = the test endpoint) and the test WHIP endpoints of test/support/whip-endpoint.ts.
 *
 * Full endpoints (the master and the first FULL_EXTRAS stages) check every packet and judge the
 * video; the rest are sinks: real PeerConnections (ICE, DTLS, SRTP in libdatachannel) whose media
 * never reaches JS, so 200 stages fit on two cores next to the relay.
 *
 * The endpoint counts packets, not bytes. To measure the received bitrate, every PeerConnection it
 * creates is a subclass whose tracks count the RTP bytes they deliver, keyed by SSRC; a stage's
 * bytes are those of the SSRCs its offer announced (each StageSession keeps its SSRCs for life).
 * A sink registers no message handler, so this adds nothing to it.
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

/** Stages created through the API and not deleted, oldest first. */
const extras: string[] = []
/**
 * What is being created right now. A stage's first WHIP offer (from the relay, on the API's
 * stage_created event) can arrive before its creation's answer has been read here: an unknown stage
 * then is the one being created. Full stages are created one at a time and never alongside sinks;
 * outside creation, an unknown stage is not one of the API's (the loss phase's direct publisher): full.
 */
let creating: 'full' | 'sink' | null = null
let masterArn = ''
const isSink = (arn: string): boolean => {
  if (arn === masterArn) return false
  const index = extras.indexOf(arn)
  return index >= 0 ? index >= FULL_EXTRAS : creating === 'sink'
}

const whip = await startWhipEndpoint({ sink: isSink })
const serve = await startTestServer({
  LOCAL_WHIP_URL: whip.url,
  MEDIA_SERVER_SECRET,
  MAX_STAGES: '1000',
  // No viewers in this bench: keep the fleet loop from draining the "empty" stages mid-run.
  STAGE_WARMUP_MS: String(24 * 3600_000),
  RATE_LIMIT_MAX_REQUESTS: '1000000000',
  FANOUT_MODE,
})
masterArn = (await serve.stages.master()).arn
let markAt: number | null = null

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0))

async function createStage(): Promise<string> {
  const response = await serve.api('/api/stage', { method: 'POST', json: {} })
  const body = (await response.json()) as { data?: { stageArn?: string } }
  if (response.status !== 200 || !body.data?.stageArn) throw new Error(`POST /api/stage answered ${response.status}: ${JSON.stringify(body)}`)
  return body.data.stageArn
}

async function deleteStage(arn: string): Promise<void> {
  const response = await serve.api(`/api/stage/${encodeURIComponent(arn)}`, { method: 'DELETE' })
  if (response.status !== 200) throw new Error(`DELETE stage answered ${response.status}: ${await response.text()}`)
}

async function setStages(n: number): Promise<PeersStages> {
  while (extras.length > n - 1) {
    // The newest first, so the full ones (the oldest) go last.
    const batch = extras.splice(Math.max(n - 1, extras.length - API_BATCH))
    await Promise.all(batch.map(deleteStage))
  }
  try {
    creating = 'full'
    while (extras.length < Math.min(n - 1, FULL_EXTRAS)) extras.push(await createStage())
    creating = 'sink'
    while (extras.length < n - 1) {
      const count = Math.min(API_BATCH, n - 1 - extras.length)
      extras.push(...(await Promise.all(Array.from({ length: count }, createStage))))
    }
  } finally {
    creating = null
  }
  const arns = [masterArn, ...extras]
  return { arns, sink: arns.map(isSink) }
}

/** A plain UDP socket the relay process sends bare datagrams to: the kernel floor of one send (see relay-process.ts). */
const floorSink = await Bun.udpSocket({ hostname: '127.0.0.1', socket: { data() {} } })

serveCalls(async (call: PeersCall): Promise<unknown> => {
  switch (call.op) {
    case 'info':
      return {
        pid: process.pid,
        fanoutMode: FANOUT_MODE,
        serveUrl: serve.url,
        apiKey: serve.apiKey,
        whipUrl: whip.url,
        masterArn,
        mediaServerSecret: MEDIA_SERVER_SECRET,
        fullExtras: FULL_EXTRAS,
        floorPort: floorSink.port,
      } satisfies PeersInfo
    case 'setStages':
      return setStages(call.n)
    case 'relayStages': {
      const response = await serve.api('/api/media/stages')
      const body = (await response.json()) as { data?: { stages?: { stageArn: string }[] } }
      if (response.status !== 200 || !body.data?.stages) throw new Error(`GET /api/media/stages answered ${response.status}: ${JSON.stringify(body)}`)
      return body.data.stages.map((s) => s.stageArn)
    }
    case 'snapshot': {
      const cpu = process.cpuUsage()
      const stages = call.arns.map((arn): EndpointStage => {
        const r = whip.record(arn)
        const bytes = (ssrc: number | null) => (ssrc === null ? 0 : (rtpBytesBySsrc.get(ssrc) ?? 0))
        return {
          arn,
          sink: r.sink,
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
    case 'resetReceivers': {
      markAt = null
      const missing = call.arns.filter((arn) => !whip.resetReceiver(arn))
      if (missing.length > 0) throw new Error(`no full session to reset for ${missing.join(', ')}`)
      return true
    }
    case 'gc':
      Bun.gc(true)
      return true
    case 'mark':
      markAt = performance.now()
      return true
    case 'analyze':
      return call.arns.map((arn): StageVideo => {
        const r = whip.record(arn)
        const result = r.receiver?.analyze(markAt ?? undefined)
        return {
          arn,
          framesSeen: result?.framesSeen ?? 0,
          framesMissing: result?.framesMissing ?? 0,
          framesDecodable: result?.framesDecodable ?? 0,
          decodedShare: result?.decodedShare ?? 0,
          // Infinity does not survive JSON: -1 for "never a decodable frame".
          worstFreezeMs: result && Number.isFinite(result.worstFreezeMs) ? result.worstFreezeMs : -1,
          missingPackets: result?.missingPackets ?? 0,
          nacksSent: r.nacksSent,
        }
      })
  }
})
