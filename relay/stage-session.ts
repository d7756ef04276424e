import { type Clock, monotonicClock } from '../src/clock'
import { describeError } from '../src/errors'
import type { Logger } from '../src/log'
import { backoffDelay } from './backoff'
import { DEFAULT_PACING, type PacingConfig, PacingQueueModel } from './pacing'
import type { PacketHistory } from './packet-history'
import { gatheredDescription, newPeer, type PeerConnection, rtc, type Track } from './peer'
import { type SenderClock, StreamRewriter } from './rewriter'
import { newRtpHeader, type RtpHeader } from './rtp'
import { negotiatedPayloadTypes } from './sdp'
import { StageFeedback } from './stage-feedback'
import { WhipError, whipDelete, whipPublish } from './whip-client'

export type StageState = 'connecting' | 'live' | 'backoff' | 'failed' | 'stopped'

export interface PublishGrant {
  token: string
  whipUrl: string
}

export interface StageSessionDeps {
  /** A fresh publish token (and the stage's WHIP URL) from the API server. */
  grant(stageArn: string): Promise<PublishGrant>
  /** Ask the publisher for a keyframe (rate-limited by the caller). */
  requestKeyframe(): void
  /** The publisher's recent video, shared by every stage: NACKs are answered from it. */
  history: PacketHistory
  /** The publisher's last sender report for its current video or audio stream, if any. */
  senderClock(kind: 'video' | 'audio'): SenderClock | null
  /** Egress pacing of the stage's video (default DEFAULT_PACING). */
  pacing?: PacingConfig
  /** Called per forwarded packet with the delay (ms) from its arrival to handed to this stage's track (benchmarks). */
  onForwarded?(delayMs: number): void
  logger: Logger
  /** Monotonic time for timeouts and the forwarding delay. */
  clock?: Clock
  bindAddress?: string
  handshakeTimeoutMs?: number
  backoff?: { baseMs: number; capMs: number }
  /**
   * A live stage that sends no RTCP (receiver reports, feedback) for this long is treated as
   * gone: a peer that vanishes leaves the connection "connected" until ICE consent expires (~30 s).
   */
  feedbackTimeoutMs?: number
}

// What the relay offers every stage (DESIGN §12: H.264 baseline packetization-mode 1, Opus).
const VIDEO_PT = 96
const AUDIO_PT = 111
const H264_FMTP = 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1'

const randomSsrc = () => crypto.getRandomValues(new Uint32Array(1))[0]! || 1

/**
 * One stage's WHIP publish: offer, redirects, answer, then forwarding. Video is held back until a
 * keyframe so the stage's first frame decodes cleanly. A connection that fails is retried with
 * exponential backoff and full jitter; a failure here never touches other stages.
 */
export class StageSession {
  private current: StageState = 'connecting'
  private lastError: string | null = null
  private readonly counts = {
    packetsForwarded: 0,
    bytesForwarded: 0,
    connects: 0,
    senderReports: 0,
    /** Repaired or reordered packets from before this stage's first one: nothing to place them in. */
    packetsUnplaced: 0,
    /** sendMessageBinary threw (the track closed under us). */
    sendErrors: 0,
  }
  private readonly feedback: StageFeedback
  private readonly pacing: PacingConfig
  private readonly pacingQueue: PacingQueueModel
  private readonly resendHeader = newRtpHeader()
  private readonly clock: Clock
  readonly videoSsrc = randomSsrc()
  readonly audioSsrc = randomSsrc()

  private pc: PeerConnection | null = null
  private video: Track | null = null
  private audio: Track | null = null
  private resource: { url: string; token: string } | null = null
  private videoOut: StreamRewriter | null = null
  private audioOut: StreamRewriter | null = null
  private awaitingKeyframe = true
  private attempt = 0
  private retryTimer: Timer | null = null
  private watchdog: Timer | null = null
  private lastFeedbackAt = 0
  private stopped = false

  constructor(
    readonly stageArn: string,
    private readonly deps: StageSessionDeps,
  ) {
    this.clock = deps.clock ?? monotonicClock
    this.feedback = new StageFeedback(this.videoSsrc)
    this.pacing = deps.pacing ?? DEFAULT_PACING
    this.pacingQueue = new PacingQueueModel(this.pacing)
  }

  get state(): StageState {
    return this.current
  }

  start(): void {
    void this.connect()
  }

  /** `packet`'s header is rewritten in place for this stage: the caller hands the same buffer to every stage. */
  forwardVideo(packet: Buffer, header: RtpHeader, receivedAt: number, keyframe: boolean): void {
    if (this.current !== 'live' || !this.video || !this.videoOut) return
    if (this.awaitingKeyframe) {
      if (!keyframe) return
      this.awaitingKeyframe = false
    }
    this.send(this.video, this.videoOut, packet, header, receivedAt, true)
  }

  forwardAudio(packet: Buffer, header: RtpHeader, receivedAt: number): void {
    if (this.current !== 'live' || !this.audio || !this.audioOut) return
    this.send(this.audio, this.audioOut, packet, header, receivedAt, false)
  }

  /** The publisher changed: hold video until its first keyframe. */
  resetKeyframeGate(): void {
    this.awaitingKeyframe = true
  }

  /** The publisher restarted a stream's sequence numbers on the same SSRC: continue after the last packet sent. */
  reanchor(kind: 'video' | 'audio'): void {
    ;(kind === 'video' ? this.videoOut : this.audioOut)?.reanchor()
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.current = 'stopped'
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = null
    const resource = this.resource
    this.closePeer()
    if (resource) {
      await whipDelete(resource.url, resource.token).catch((error: unknown) => {
        this.deps.logger.warn('WHIP DELETE failed', { stageArn: this.stageArn, error: describeError(error) })
      })
    }
  }

  snapshot() {
    const pacing = this.pacingQueue.depth(this.clock.now())
    return {
      stageArn: this.stageArn,
      state: this.current,
      lastError: this.lastError,
      ...this.counts,
      ...this.feedback.counts,
      lossFraction: this.feedback.lossFraction,
      cumulativeLost: this.feedback.cumulativeLost,
      rttMs: this.feedback.rttMs === null ? null : Math.round(this.feedback.rttMs * 10) / 10,
      pacingQueueBytes: pacing.bytes,
      pacingQueuePeakBytes: pacing.peakBytes,
    }
  }

  /** RTCP SR for each stream, about once a second: the stage's NTP↔RTP mapping for lip sync. */
  private sendSenderReports(): void {
    for (const [kind, track, rewriter, ssrc] of [
      ['video', this.video, this.videoOut, this.videoSsrc],
      ['audio', this.audio, this.audioOut, this.audioSsrc],
    ] as const) {
      const report = rewriter?.senderReport(this.deps.senderClock(kind))
      if (!track || !report) continue
      try {
        track.sendMessageBinary(report.packet)
        this.counts.senderReports++
        this.feedback.sentReport(ssrc, report)
      } catch {}
    }
  }

  private send(track: Track, rewriter: StreamRewriter, packet: Buffer, header: RtpHeader, receivedAt: number, video: boolean): void {
    if (!rewriter.apply(packet, header)) {
      this.counts.packetsUnplaced++
      return
    }
    try {
      track.sendMessageBinary(packet)
    } catch {
      this.counts.sendErrors++
      return
    }
    this.counts.packetsForwarded++
    this.counts.bytesForwarded += packet.byteLength
    if (video) this.pacingQueue.add(packet.byteLength, this.clock.now())
    if (this.deps.onForwarded) this.deps.onForwarded(this.clock.now() - receivedAt)
  }

  /** The stage's RTCP on our video: NACKs answered from the shared history, PLI/FIR passed on, reports kept. */
  private onVideoFeedback(packet: Uint8Array): void {
    const now = this.clock.now()
    this.lastFeedbackAt = now
    const summary = this.feedback.read(packet, now)
    if (summary.keyframeRequest) this.deps.requestKeyframe()
    for (const nack of summary.nacks) {
      if (nack.mediaSsrc !== this.videoSsrc) continue
      for (const outgoing of nack.sequences) this.resend(outgoing)
    }
  }

  private resend(outgoing: number): void {
    const video = this.video
    const rewriter = this.videoOut
    const incoming = rewriter?.incomingSequence(outgoing)
    const header = this.resendHeader
    const packet = incoming ? this.deps.history.get(incoming.ssrc, incoming.sequence, header) : null
    if (!video || !rewriter || !packet) {
      this.feedback.counts.nacksUnanswered++
      return
    }
    if (!rewriter.apply(packet, header)) return void this.feedback.counts.nacksUnanswered++
    try {
      video.sendMessageBinary(packet)
      this.feedback.counts.retransmitted++
      this.pacingQueue.add(packet.byteLength, this.clock.now())
    } catch {
      this.counts.sendErrors++
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return
    this.current = 'connecting'
    const timeoutMs = this.deps.handshakeTimeoutMs ?? 10_000
    try {
      const grant = await this.deps.grant(this.stageArn)
      if (this.stopped) return
      const pc = newPeer(`stage-${this.stageArn.slice(-12)}`, { bindAddress: this.deps.bindAddress })
      this.pc = pc
      const video = new rtc.Video('video', 'SendOnly')
      video.addH264Codec(VIDEO_PT, H264_FMTP)
      video.addSSRC(this.videoSsrc, 'ivs-fanout', 'ivs-fanout', 'video')
      const audio = new rtc.Audio('audio', 'SendOnly')
      audio.addOpusCodec(AUDIO_PT)
      audio.addSSRC(this.audioSsrc, 'ivs-fanout', 'ivs-fanout', 'audio')
      const videoTrack = pc.addTrack(video)
      const audioTrack = pc.addTrack(audio)
      // The pacer sends from libdatachannel's thread pool, at most an interval's worth of bytes at a
      // time; NACKs are answered here from the shared history, not by a per-stage copy in C++.
      videoTrack.setMediaHandler(new rtc.PacingHandler(this.pacing.bitsPerSecond, this.pacing.intervalMs))
      // A send-only track still queues the stage's RTCP (capped): always read it.
      videoTrack.onMessage((message) => this.onVideoFeedback(message as Buffer))
      audioTrack.onMessage((message) => {
        this.lastFeedbackAt = this.clock.now()
        this.feedback.read(message as Buffer, this.lastFeedbackAt)
      })
      const opened = new Promise<void>((resolve, reject) => {
        videoTrack.onOpen(() => resolve())
        pc.onStateChange((state) => {
          if (this.pc === pc && (state === 'failed' || state === 'closed')) reject(new Error(`peer connection ${state}`))
        })
      })
      opened.catch(() => {}) // observed below; a failure before that is handled by the catch
      pc.setLocalDescription()
      const offer = await gatheredDescription(pc, timeoutMs)
      const whip = await whipPublish(grant.whipUrl, grant.token, offer, { timeoutMs })
      this.resource = { url: whip.resourceUrl, token: grant.token }
      if (this.stopped) return void (await this.stop())
      const negotiated = negotiatedPayloadTypes(whip.answer)
      pc.setRemoteDescription(whip.answer, 'answer')
      await withTimeout(opened, timeoutMs, 'the stage connection did not open')
      if (this.stopped) return
      this.video = videoTrack
      this.audio = audioTrack
      // Sequence and timestamp state carries over reconnects; the payload types are this connection's.
      this.videoOut ??= new StreamRewriter({ ssrc: this.videoSsrc, payloadType: VIDEO_PT, clockRate: 90_000 }, this.clock)
      this.audioOut ??= new StreamRewriter({ ssrc: this.audioSsrc, payloadType: AUDIO_PT, clockRate: 48_000 }, this.clock)
      this.videoOut.payloadType = negotiated.video ?? VIDEO_PT
      this.audioOut.payloadType = negotiated.audio ?? AUDIO_PT
      this.awaitingKeyframe = true
      this.current = 'live'
      this.lastError = null
      this.attempt = 0
      this.counts.connects++
      // A closed connection reports 'closed' later on: only the current one may fail the session.
      // 'disconnected' is often transient; the RTCP watchdog catches a peer that is really gone.
      pc.onStateChange((state) => {
        if (this.pc === pc && (state === 'failed' || state === 'closed')) this.fail(new Error(`peer connection ${state}`))
      })
      this.lastFeedbackAt = this.clock.now()
      const feedbackTimeoutMs = this.deps.feedbackTimeoutMs ?? 15_000
      this.watchdog = setInterval(
        () => {
          if (this.current === 'live' && this.clock.now() - this.lastFeedbackAt > feedbackTimeoutMs)
            this.fail(new Error(`no RTCP from the stage for ${feedbackTimeoutMs} ms`))
          else this.sendSenderReports()
        },
        Math.min(1_000, feedbackTimeoutMs / 2),
      )
      this.deps.logger.info('stage live', { stageArn: this.stageArn })
      this.deps.requestKeyframe()
    } catch (error) {
      this.fail(error)
    }
  }

  private fail(error: unknown): void {
    if (this.stopped) {
      this.closePeer()
      return
    }
    if (this.retryTimer) return
    const message = describeError(error)
    this.lastError = message
    const permanent =
      error instanceof WhipError && error.status !== null && error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429
    this.current = permanent ? 'failed' : 'backoff'
    this.closePeer()
    // The old WHIP resource is gone with the connection; delete it best-effort.
    const resource = this.resource
    this.resource = null
    if (resource) void whipDelete(resource.url, resource.token).catch(() => {})
    const delay = backoffDelay(this.attempt++, this.deps.backoff ?? { baseMs: 500, capMs: 30_000 })
    this.deps.logger.warn('stage connection failed', { stageArn: this.stageArn, error: message, retryInMs: delay })
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null
      void this.connect()
    }, delay)
  }

  private closePeer(): void {
    if (this.watchdog) clearInterval(this.watchdog)
    this.watchdog = null
    this.video = null
    this.audio = null
    const pc = this.pc
    this.pc = null
    try {
      pc?.close()
    } catch {}
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: Timer | undefined
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms)
    }),
  ])
}
