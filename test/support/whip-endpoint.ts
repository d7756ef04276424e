import { decodeJwt } from 'jose'
import nodeDataChannel from 'node-datachannel'
import { gatheredDescription, type PeerConnection, type Track } from '../../relay/peer'
import { h264NalTypes, isRtcp, parseRtp } from '../../relay/rtp'
import { parseMedia } from '../../relay/sdp'

/** What one stage received from the relay, checked packet by packet. */
export interface StageRecord {
  stageArn: string
  sessions: number
  deletes: number
  videoPackets: number
  audioPackets: number
  /** Packets that did not parse as RTP with the negotiated payload type and the offered SSRC. */
  badPackets: number
  /** NAL unit types of the first video packet of the current session. */
  firstVideoNals: number[] | null
  /** ms from the session's connection to its first IDR-carrying packet. */
  firstKeyframeAfterMs: number | null
  idrPackets: number
  expectedVideoSsrc: number | null
  expectedAudioSsrc: number | null
  /** Sequence numbers of video, to check continuity. */
  lastVideoSeq: number | null
  videoSeqJumps: number
  /** RTCP sender reports received, by SSRC. */
  senderReports: Map<number, number>
}

interface Session {
  id: string
  stageArn: string
  pc: PeerConnection
  video: Track | null
  connectedAt: number | null
}

export interface WhipEndpoint {
  url: string
  stages: Map<string, StageRecord>
  /** Every request's Authorization header, in order (redirect hops included). */
  authorizations: string[]
  /** Ask the relay for a keyframe on this stage (PLI from the stage's side). */
  sendPli(stageArn: string): boolean
  /** Drops a stage's connection, as if that endpoint died; `refuseMs` keeps refusing new ones meanwhile. */
  kill(stageArn: string, refuseMs?: number): void
  record(stageArn: string): StageRecord
  stop(): Promise<void>
}

export interface WhipEndpointOptions {
  /** Answer 307 this many times before accepting (IVS redirects to a regional endpoint). */
  redirects?: number
  /** IVS puts candidates only in the first m-section of its answer. */
  candidatesOnlyInFirstSection?: boolean
}

function offeredSsrcs(offer: string): { video: number | null; audio: number | null; videoPt: number | null; audioPt: number | null } {
  const out = { video: null as number | null, audio: null as number | null, videoPt: null as number | null, audioPt: null as number | null }
  let kind = ''
  for (const line of offer.split(/\r?\n/)) {
    if (line.startsWith('m=')) kind = line.slice(2).split(' ')[0]!
    const ssrc = line.match(/^a=ssrc:(\d+)/)
    if (ssrc && kind === 'video' && out.video === null) out.video = Number(ssrc[1])
    if (ssrc && kind === 'audio' && out.audio === null) out.audio = Number(ssrc[1])
  }
  const media = parseMedia(offer)
  out.videoPt = media.find((m) => m.kind === 'video')?.codecs.find((c) => c.name === 'H264')?.payloadType ?? null
  out.audioPt = media.find((m) => m.kind === 'audio')?.codecs.find((c) => c.name === 'OPUS')?.payloadType ?? null
  return out
}

function receiverReport(mediaSsrc: number | null): Buffer {
  const rr = Buffer.alloc(32)
  rr[0] = 0x81
  rr[1] = 201
  rr.writeUInt16BE(7, 2)
  rr.writeUInt32BE(0x5eed, 4)
  rr.writeUInt32BE((mediaSsrc ?? 0) >>> 0, 8)
  return rr
}

/** Keeps a=candidate lines only in the first m-section. */
function candidatesInFirstSectionOnly(sdp: string): string {
  let section = -1
  return sdp
    .split('\r\n')
    .filter((line) => {
      if (line.startsWith('m=')) section++
      return !(section > 0 && (line.startsWith('a=candidate') || line.startsWith('a=end-of-candidates')))
    })
    .join('\r\n')
}

/**
 * A stand-in for IVS's WHIP endpoint on loopback, built on node-datachannel: the stage is the
 * token's `resource` claim (as with IVS's global endpoint), it can redirect first, and it checks
 * every RTP packet it receives.
 */
export async function startWhipEndpoint(options: WhipEndpointOptions = {}): Promise<WhipEndpoint> {
  const stages = new Map<string, StageRecord>()
  const sessions = new Map<string, Session>()
  const refusedUntil = new Map<string, number>()
  const authorizations: string[] = []
  const record = (stageArn: string): StageRecord => {
    let r = stages.get(stageArn)
    if (!r) {
      r = {
        stageArn,
        sessions: 0,
        deletes: 0,
        videoPackets: 0,
        audioPackets: 0,
        badPackets: 0,
        firstVideoNals: null,
        firstKeyframeAfterMs: null,
        idrPackets: 0,
        expectedVideoSsrc: null,
        expectedAudioSsrc: null,
        lastVideoSeq: null,
        videoSeqJumps: 0,
        senderReports: new Map(),
      }
      stages.set(stageArn, r)
    }
    return r
  }

  const accept = async (request: Request, url: URL): Promise<Response> => {
    const auth = request.headers.get('authorization') ?? ''
    authorizations.push(auth)
    const token = auth.replace(/^Bearer /, '')
    let stageArn: string
    try {
      const claims = decodeJwt(token)
      stageArn = String(claims.resource)
      if (!(claims.capabilities as { allow_publish?: boolean })?.allow_publish) return new Response('token cannot publish', { status: 403 })
    } catch {
      return new Response('bad token', { status: 401 })
    }
    const hop = Number(url.searchParams.get('hop') ?? 0)
    if (hop < (options.redirects ?? 0)) {
      // Relative Location, resolved by the client against this URL.
      return new Response(null, { status: 307, headers: { location: `whip?hop=${hop + 1}` } })
    }
    if ((refusedUntil.get(stageArn) ?? 0) > Date.now()) return new Response('stage endpoint unavailable', { status: 503 })
    const offer = await request.text()
    const expected = offeredSsrcs(offer)
    const stage = record(stageArn)
    stage.sessions++
    stage.expectedVideoSsrc = expected.video
    stage.expectedAudioSsrc = expected.audio
    stage.firstVideoNals = null
    stage.firstKeyframeAfterMs = null
    stage.lastVideoSeq = null // a new session starts its own sequence
    const pc = new nodeDataChannel.PeerConnection(`stage-endpoint-${stage.sessions}`, { iceServers: [], bindAddress: '127.0.0.1' })
    const session: Session = { id: crypto.randomUUID(), stageArn, pc, video: null, connectedAt: null }
    sessions.set(session.id, session)
    // Like any SFU, the stage sends receiver reports; the relay watches for them.
    const reports: Track[] = []
    const reporter = setInterval(() => {
      for (const track of reports) if (track.isOpen()) track.sendMessageBinary(receiverReport(track === session.video ? expected.video : expected.audio))
    }, 500)
    pc.onStateChange((state) => {
      if (state === 'connected') session.connectedAt = performance.now()
      if (state === 'closed' || state === 'failed') clearInterval(reporter)
    })
    pc.onTrack((track) => {
      reports.push(track)
      const kind = track.mid() === 'video' || parseMedia(offer).find((m) => m.mid === track.mid())?.kind === 'video' ? 'video' : 'audio'
      if (kind === 'video') {
        track.setMediaHandler(new nodeDataChannel.RtcpReceivingSession())
        session.video = track
      }
      track.onMessage((message) => {
        const packet = new Uint8Array(message.buffer, message.byteOffset, message.byteLength)
        if (isRtcp(packet)) {
          if (packet[1] === 200 && packet.length >= 28) {
            const ssrc = new DataView(packet.buffer, packet.byteOffset).getUint32(4)
            stage.senderReports.set(ssrc, (stage.senderReports.get(ssrc) ?? 0) + 1)
          }
          return
        }
        const header = parseRtp(packet)
        if (kind === 'video') {
          if (!header || header.ssrc !== expected.video || header.payloadType !== expected.videoPt) return void stage.badPackets++
          stage.videoPackets++
          const nals = h264NalTypes(packet.subarray(header.payloadOffset))
          if (nals.length === 0 || nals.some((n) => n === 0 || n > 28)) stage.badPackets++
          if (stage.firstVideoNals === null) stage.firstVideoNals = nals
          if (nals.includes(5)) {
            stage.idrPackets++
            if (stage.firstKeyframeAfterMs === null) stage.firstKeyframeAfterMs = performance.now() - (session.connectedAt ?? performance.now())
          }
          if (stage.lastVideoSeq !== null && ((header.sequence - stage.lastVideoSeq) & 0xffff) > 100) stage.videoSeqJumps++
          stage.lastVideoSeq = header.sequence
        } else {
          if (!header || header.ssrc !== expected.audio || header.payloadType !== expected.audioPt) return void stage.badPackets++
          // An Opus packet has at least its TOC byte.
          if (packet.length <= header.payloadOffset) stage.badPackets++
          stage.audioPackets++
        }
      })
    })
    pc.setRemoteDescription(offer, 'offer')
    let answer = await gatheredDescription(pc, 5_000)
    if (options.candidatesOnlyInFirstSection) answer = candidatesInFirstSectionOnly(answer)
    return new Response(answer, { status: 201, headers: { 'content-type': 'application/sdp', location: `/resource/${session.id}`, etag: `"${session.id}"` } })
  }

  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(request) {
      const url = new URL(request.url)
      if (request.method === 'POST' && url.pathname === '/whip') return accept(request, url)
      const resource = url.pathname.match(/^\/resource\/(.+)$/)
      if (request.method === 'DELETE' && resource) {
        const session = sessions.get(resource[1]!)
        if (!session) return new Response(null, { status: 404 })
        sessions.delete(session.id)
        record(session.stageArn).deletes++
        session.pc.close()
        return new Response(null, { status: 200 })
      }
      return new Response('not found', { status: 404 })
    },
  })

  return {
    url: `http://127.0.0.1:${server.port}/whip`,
    stages,
    authorizations,
    record,
    sendPli(stageArn) {
      const session = [...sessions.values()].reverse().find((s) => s.stageArn === stageArn)
      return session?.video?.isOpen() ? session.video.requestKeyframe() : false
    },
    kill(stageArn, refuseMs = 0) {
      refusedUntil.set(stageArn, Date.now() + refuseMs)
      for (const session of sessions.values()) {
        if (session.stageArn !== stageArn) continue
        sessions.delete(session.id)
        session.pc.close()
      }
    },
    async stop() {
      for (const session of sessions.values()) session.pc.close()
      sessions.clear()
      await server.stop(true)
    },
  }
}
