import type { Clock } from '../../src/clock'
import type { Track } from '../peer'
import type { PacketHistory } from '../rtp/packet-history'
import { type SenderClock, StreamRewriter } from '../rtp/rewriter'
import { newRtpHeader, type RtpHeader } from '../rtp/rtp'
import { StageFeedback } from './stage-feedback'

export interface StageEgressDeps {
  /** The publisher's recent video, shared by every stage: NACKs are answered from it. */
  history: PacketHistory
  /** The publisher's last sender report for its current video or audio stream, if any. */
  senderClock(kind: 'video' | 'audio'): SenderClock | null
  /** Ask the publisher for a keyframe (rate-limited by the caller). */
  requestKeyframe(): void
  /** Called per forwarded packet with the delay (ms) from its release by the pacer to handed to the stage's track (benchmarks). */
  onForwarded?(delayMs: number): void
  /** Monotonic time (delays, timeouts). */
  clock: Clock
  /** Wall-clock time: the NTP timestamps of the sender reports to the stages. */
  wallClock: Clock
}

/** What the relay offers every stage (DESIGN §12: H.264 baseline packetization-mode 1, Opus). */
export const STAGE_CODECS = { videoPt: 96, audioPt: 111, h264Fmtp: 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1' } as const

const randomSsrc = () => crypto.getRandomValues(new Uint32Array(1))[0]! || 1

/**
 * What goes out to one stage over its current connection: the publisher's packets patched into the
 * stage's streams (video held back until a keyframe), retransmissions for its NACKs from the shared
 * history, sender reports, and the figures of its RTCP feedback. Sequence and timestamp state
 * outlives a connection, so a reconnect continues the same streams.
 */
export class StageEgress {
  readonly videoSsrc = randomSsrc()
  readonly audioSsrc = randomSsrc()
  readonly counts = {
    packetsForwarded: 0,
    bytesForwarded: 0,
    senderReports: 0,
    /** Repaired or reordered packets from before this stage's first one: nothing to place them in. */
    packetsUnplaced: 0,
    /** sendMessageBinary threw (the track closed under us). */
    sendErrors: 0,
    /** Video held back while the stage waits for its first keyframe (so its first frame decodes). */
    packetsHeld: 0,
  }
  private readonly feedback: StageFeedback
  private readonly resendHeader = newRtpHeader()
  private readonly videoOut: StreamRewriter
  private readonly audioOut: StreamRewriter
  private video: Track | null = null
  private audio: Track | null = null
  private awaitingKeyframe = true

  constructor(private readonly deps: StageEgressDeps) {
    this.feedback = new StageFeedback(this.videoSsrc)
    this.videoOut = new StreamRewriter({ ssrc: this.videoSsrc, payloadType: STAGE_CODECS.videoPt, clockRate: 90_000 }, deps.clock)
    this.audioOut = new StreamRewriter({ ssrc: this.audioSsrc, payloadType: STAGE_CODECS.audioPt, clockRate: 48_000 }, deps.clock)
  }

  /** A connection went live with these tracks and payload types: video waits for a keyframe. */
  attach(video: Track, audio: Track, payloadTypes: { video: number | null; audio: number | null }): void {
    this.video = video
    this.audio = audio
    this.videoOut.payloadType = payloadTypes.video ?? STAGE_CODECS.videoPt
    this.audioOut.payloadType = payloadTypes.audio ?? STAGE_CODECS.audioPt
    this.awaitingKeyframe = true
  }

  detach(): void {
    this.video = null
    this.audio = null
  }

  /** `packet`'s header is rewritten in place for this stage: the caller hands the same buffer to every stage. */
  forwardVideo(packet: Buffer, header: RtpHeader, receivedAt: number, keyframe: boolean): void {
    const track = this.video
    if (!track) return
    if (this.awaitingKeyframe) {
      if (!keyframe) return void this.counts.packetsHeld++
      this.awaitingKeyframe = false
    }
    this.send(track, this.videoOut, packet, header, receivedAt)
  }

  forwardAudio(packet: Buffer, header: RtpHeader, receivedAt: number): void {
    if (this.audio) this.send(this.audio, this.audioOut, packet, header, receivedAt)
  }

  /** The publisher changed: hold video until its first keyframe. */
  resetKeyframeGate(): void {
    this.awaitingKeyframe = true
  }

  /** The publisher restarted a stream's sequence numbers on the same SSRC: continue after the last packet sent. */
  reanchor(kind: 'video' | 'audio'): void {
    ;(kind === 'video' ? this.videoOut : this.audioOut).reanchor()
  }

  /** The stage's RTCP on our video: NACKs answered from the shared history, PLI/FIR passed on, reports kept. */
  onVideoFeedback(packet: Buffer, now: number): void {
    const summary = this.feedback.read(packet, now)
    if (summary.keyframeRequest) this.deps.requestKeyframe()
    for (const nack of summary.nacks) {
      if (nack.mediaSsrc !== this.videoSsrc) continue
      for (const outgoing of nack.sequences) this.resend(outgoing)
    }
  }

  onAudioFeedback(packet: Buffer, now: number): void {
    this.feedback.read(packet, now)
  }

  /** RTCP SR for each stream (about once a second): the stage's NTP↔RTP mapping for lip sync. */
  sendSenderReports(): void {
    for (const [kind, track, rewriter, ssrc] of [
      ['video', this.video, this.videoOut, this.videoSsrc],
      ['audio', this.audio, this.audioOut, this.audioSsrc],
    ] as const) {
      const report = rewriter.senderReport(this.deps.senderClock(kind), this.deps.wallClock.now())
      if (!track || !report) continue
      try {
        track.sendMessageBinary(report.packet)
        this.counts.senderReports++
        this.feedback.sentReport(ssrc, report)
      } catch {}
    }
  }

  stats() {
    const { lossFraction, cumulativeLost, rttMs } = this.feedback
    return {
      ...this.counts,
      ...this.feedback.counts,
      lossFraction,
      cumulativeLost,
      rttMs: rttMs === null ? null : Math.round(rttMs * 10) / 10,
    }
  }

  private send(track: Track, rewriter: StreamRewriter, packet: Buffer, header: RtpHeader, receivedAt: number): void {
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
    if (this.deps.onForwarded) this.deps.onForwarded(this.deps.clock.now() - receivedAt)
  }

  private resend(outgoing: number): void {
    const incoming = this.videoOut.incomingSequence(outgoing)
    const header = this.resendHeader
    const packet = incoming ? this.deps.history.get(incoming.ssrc, incoming.sequence, header) : null
    const video = this.video
    if (!video || !packet || !this.videoOut.apply(packet, header)) {
      this.feedback.counts.nacksUnanswered++
      return
    }
    try {
      video.sendMessageBinary(packet)
      this.feedback.counts.retransmitted++
    } catch {
      this.counts.sendErrors++
    }
  }
}
