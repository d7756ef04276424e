import { decodeJwt, UnsecuredJWT } from 'jose'
import nodeDataChannel from 'node-datachannel'
import { gatheredDescription, type PeerConnection, type Track } from '../../relay/peer'
import { buildNack, buildPli, buildReceiverReport, parseRtcp, type ReportBlock, type SenderReport } from '../../relay/rtp/rtcp'
import { h264NalTypes, isRtcp, parseRtp } from '../../relay/rtp/rtp'
import { parseMedia } from '../../relay/rtp/sdp'
import { VideoReceiver } from './video-receiver'

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
  /** RTCP sender reports received, by SSRC, and the last one of each. */
  senderReports: Map<number, number>
  lastSenderReports: Map<number, SenderReport>
  /** The current session's view of its video: decodability, freezes, the NACKs it sent. */
  receiver: VideoReceiver | null
  /** The last large video packet (its payload's hash, for matching with the publisher's) and the last audio packet's stamp. */
  lastVideo: { payloadHash: bigint | number; timestamp: number } | null
  lastAudio: { stamp: number; timestamp: number } | null
  /** Sequence numbers this endpoint NACKed. */
  nacksSent: number
  /** The current session is a sink (options.sink): media is not read, only receiver reports are sent. */
  sink: boolean
}

interface Session {
  id: string
  stageArn: string
  /** The participant token it was set up with. */
  token: string
  /** Where its participant is: not joined yet, in the stage (onSession 'up' sent), or gone ('down' sent, or ended before joining). */
  phase: 'new' | 'up' | 'down'
  pc: PeerConnection
  video: Track | null
  /** Every track of the session: node-datachannel stops delivering (and sending on) a collected track. */
  tracks: Track[]
  connectedAt: number | null
  /** A full session: starts its stage's VideoReceiver afresh. */
  resetReceiver: (() => void) | null
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
  /** A new VideoReceiver for the stage's current session (to judge only what comes next); false for none or a sink. */
  resetReceiver(stageArn: string): boolean
  record(stageArn: string): StageRecord
  stop(): Promise<void>
}

export interface WhipEndpointOptions {
  /** Answer 307 this many times before accepting (IVS redirects to a regional endpoint). */
  redirects?: number
  /** IVS puts candidates only in the first m-section of its answer. */
  candidatesOnlyInFirstSection?: boolean
  /** NACK lost video, as IVS does (default true). */
  nack?: boolean
  /** Rewrite a stage's offer before it is applied, and its answer before it is returned (to route media through a lossy path). */
  transformOffer?(stageArn: string, offer: string): string
  transformAnswer?(stageArn: string, answer: string): string | Promise<string>
  /**
   * Stages whose sessions are sinks (default: none): a real PeerConnection that completes ICE/DTLS
   * and gets the media, but registers no message handler on its tracks, so libdatachannel drops the
   * media in C++ once a track's receive queue is full (no packet reaches JS), and has no
   * VideoReceiver and no NACKs. It only sends receiver reports (no loss figures, no LSR), which is
   * all the relay needs to keep the stage live. For many stages on few cores (benchmarks).
   */
  sink?(stageArn: string): boolean
  /**
   * A session came up (its peer connection connected: the token's participant joins the stage and
   * publishes) or ended (WHIP DELETE, `kill`, `stop`, or its connection closed or failed): link an IVS
   * test server with `onSession: ivs.control.whipSession`. Each session is 'up' at most once, and
   * 'down' only after 'up'.
   */
  onSession?(stageArn: string, token: string, state: 'up' | 'down'): void
}

/** A token the endpoint accepts for `stageArn` (it reads claims without checking signatures), for publishing to it directly. */
export function endpointToken(stageArn: string): string {
  return new UnsecuredJWT({ resource: stageArn, capabilities: { allow_publish: true } }).encode()
}

const ENDPOINT_SSRC = 0x5eed

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
        lastSenderReports: new Map(),
        receiver: null,
        lastVideo: null,
        lastAudio: null,
        nacksSent: 0,
        sink: false,
      }
      stages.set(stageArn, r)
    }
    return r
  }

  const joined = (session: Session) => {
    if (session.phase !== 'new') return
    session.phase = 'up'
    options.onSession?.(session.stageArn, session.token, 'up')
  }
  /** The session is over: its participant leaves the stage (once, and only if it joined). */
  const left = (session: Session) => {
    const wasUp = session.phase === 'up'
    session.phase = 'down'
    if (wasUp) options.onSession?.(session.stageArn, session.token, 'down')
  }
  const sessionState = (session: Session, state: string) => {
    if (state === 'connected') joined(session)
    if (state === 'closed' || state === 'failed') left(session)
  }

  /** A full session: every packet checked, video judged by a VideoReceiver that NACKs, receiver reports with its figures. */
  const acceptFull = (session: Session, stage: StageRecord, expected: ReturnType<typeof offeredSsrcs>, offer: string) => {
    const newReceiver = () =>
      new VideoReceiver(
        options.nack === false
          ? undefined
          : (sequences) => {
              if (session.video?.isOpen() && expected.video !== null) {
                session.video.sendMessageBinary(buildNack(ENDPOINT_SSRC, expected.video, sequences))
                stage.nacksSent += sequences.length
              }
            },
      )
    let receiver = newReceiver()
    stage.receiver = receiver
    session.resetReceiver = () => {
      receiver = newReceiver()
      stage.receiver = receiver
    }
    // Like any SFU, the stage sends receiver reports (loss, and LSR/DLSR for the sender's RTT); the relay watches for them.
    const reports = session.tracks
    const srSeenAt = new Map<number, number>()
    const reportBlock = (ssrc: number | null, video: boolean): ReportBlock => {
      const sr = ssrc === null ? undefined : stage.lastSenderReports.get(ssrc)
      const seenAt = ssrc === null ? undefined : srSeenAt.get(ssrc)
      const reception = video ? receiver.tracker.receptionReport() : { fractionLost: 0, cumulativeLost: 0, highestSeq: 0 }
      return {
        ssrc: ssrc ?? 0,
        ...reception,
        jitter: 0,
        lsr: sr?.ntpMiddle ?? 0,
        dlsr: seenAt === undefined ? 0 : Math.round(((performance.now() - seenAt) / 1000) * 65536),
      }
    }
    const reporter = setInterval(() => {
      for (const track of reports) {
        const video = track === session.video
        if (track.isOpen()) track.sendMessageBinary(buildReceiverReport(ENDPOINT_SSRC, [reportBlock(video ? expected.video : expected.audio, video)]))
      }
    }, 500)
    const nacker = setInterval(() => receiver.tick(), 10)
    session.pc.onStateChange((state) => {
      if (state === 'connected') session.connectedAt = performance.now()
      if (state === 'closed' || state === 'failed') {
        clearInterval(reporter)
        clearInterval(nacker)
      }
      sessionState(session, state)
    })
    session.pc.onTrack((track) => {
      reports.push(track)
      const kind = track.mid() === 'video' || parseMedia(offer).find((m) => m.mid === track.mid())?.kind === 'video' ? 'video' : 'audio'
      // No media handler: with one, libdatachannel drops the RTCP (NACK, PLI, RR) this endpoint sends.
      if (kind === 'video') session.video = track
      track.onMessage((message) => {
        const packet = message as Buffer
        if (isRtcp(packet)) {
          for (const sr of parseRtcp(packet).senderReports) {
            stage.senderReports.set(sr.ssrc, (stage.senderReports.get(sr.ssrc) ?? 0) + 1)
            stage.lastSenderReports.set(sr.ssrc, sr)
            srSeenAt.set(sr.ssrc, performance.now())
          }
          return
        }
        const header = parseRtp(packet)
        if (kind === 'video') {
          if (!header || header.ssrc !== expected.video || header.payloadType !== expected.videoPt) return void stage.badPackets++
          stage.videoPackets++
          receiver.onPacket(packet, header)
          if (header.payloadEnd - header.payloadOffset > 200)
            stage.lastVideo = { payloadHash: Bun.hash(packet.subarray(header.payloadOffset, header.payloadEnd)), timestamp: header.timestamp }
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
          // The test publisher stamps its own RTP timestamp after the Opus TOC byte.
          if (header.payloadEnd - header.payloadOffset >= 5)
            stage.lastAudio = { stamp: packet.readUInt32BE(header.payloadOffset + 1), timestamp: header.timestamp }
        }
      })
    })
  }

  /** A sink session (options.sink): the tracks are kept but never read; a receiver report on each every 500 ms. */
  const acceptSink = (session: Session, expected: ReturnType<typeof offeredSsrcs>, offer: string) => {
    const reporter = setInterval(() => {
      for (const track of session.tracks) {
        const ssrc = track === session.video ? expected.video : expected.audio
        if (track.isOpen())
          track.sendMessageBinary(
            buildReceiverReport(ENDPOINT_SSRC, [{ ssrc: ssrc ?? 0, fractionLost: 0, cumulativeLost: 0, highestSeq: 0, jitter: 0, lsr: 0, dlsr: 0 }]),
          )
      }
    }, 500)
    session.pc.onStateChange((state) => {
      if (state === 'connected') session.connectedAt = performance.now()
      if (state === 'closed' || state === 'failed') clearInterval(reporter)
      sessionState(session, state)
    })
    session.pc.onTrack((track) => {
      session.tracks.push(track)
      if (track.mid() === 'video' || parseMedia(offer).find((m) => m.mid === track.mid())?.kind === 'video') session.video = track
    })
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
    let offer = await request.text()
    if (options.transformOffer) offer = options.transformOffer(stageArn, offer)
    const expected = offeredSsrcs(offer)
    const stage = record(stageArn)
    const sink = options.sink?.(stageArn) ?? false
    stage.sessions++
    stage.sink = sink
    stage.expectedVideoSsrc = expected.video
    stage.expectedAudioSsrc = expected.audio
    stage.firstVideoNals = null
    stage.firstKeyframeAfterMs = null
    stage.lastVideoSeq = null // a new session starts its own sequence
    const pc = new nodeDataChannel.PeerConnection(`stage-endpoint-${stage.sessions}`, { iceServers: [], bindAddress: '127.0.0.1' })
    const session: Session = { id: crypto.randomUUID(), stageArn, token, phase: 'new', pc, video: null, tracks: [], connectedAt: null, resetReceiver: null }
    sessions.set(session.id, session)
    if (sink) {
      stage.receiver = null
      acceptSink(session, expected, offer)
    } else acceptFull(session, stage, expected, offer)
    pc.setRemoteDescription(offer, 'offer')
    let answer = await gatheredDescription(pc, 5_000)
    if (options.candidatesOnlyInFirstSection) answer = candidatesInFirstSectionOnly(answer)
    if (options.transformAnswer) answer = await options.transformAnswer(stageArn, answer)
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
        left(session)
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
      const ssrc = session ? record(session.stageArn).expectedVideoSsrc : null
      if (!session?.video?.isOpen() || ssrc === null) return false
      return session.video.sendMessageBinary(buildPli(ENDPOINT_SSRC, ssrc))
    },
    resetReceiver(stageArn) {
      const session = [...sessions.values()].reverse().find((s) => s.stageArn === stageArn)
      if (!session?.resetReceiver) return false
      session.resetReceiver()
      return true
    },
    kill(stageArn, refuseMs = 0) {
      refusedUntil.set(stageArn, Date.now() + refuseMs)
      for (const session of sessions.values()) {
        if (session.stageArn !== stageArn) continue
        sessions.delete(session.id)
        left(session)
        session.pc.close()
      }
    },
    async stop() {
      for (const session of sessions.values()) {
        left(session)
        session.pc.close()
      }
      sessions.clear()
      await server.stop(true)
    },
  }
}
