import { type Clock, monotonicClock } from '../../src/clock'
import { randomAlphanumeric } from '../../src/ids'
import type { Logger } from '../../src/log'
import { gatheredDescription, newPeer, type PeerConnection, type PeerNetwork, type Track } from '../peer'
import { setOffer } from '../rtp/offer-check'
import type { SenderClock } from '../rtp/rewriter'
import { buildNack, buildPli, buildReceiverReport, parseRtcp, type ReportBlock } from '../rtp/rtcp'
import { isRtcp, newRtpHeader, parseRtp, type RtpHeader, startsH264KeyframeAt } from '../rtp/rtp'
import { unwrapRtx } from '../rtp/rtx'
import { chooseIngestCodecs, type IngestCodecs, parseMedia, restrictOffer } from '../rtp/sdp'
import { IngestStream } from './ingest-stream'
import { KeyframeIntervals } from './keyframes'
import type { Arrival, RepairPolicy } from './loss-repair'

export interface MediaSink {
  /** A video packet (a retransmission already unwrapped): `keyframe` when it starts one. Duplicates never come here. */
  onVideo(packet: Buffer, header: RtpHeader, receivedAt: number, arrival: Arrival, keyframe: boolean): void
  onAudio(packet: Buffer, header: RtpHeader, receivedAt: number, arrival: Arrival): void
  /** Video packets were given up on: only a keyframe repairs the picture now. */
  onIngestLoss(): void
  onConnected?(session: PublisherSession): void
  onEnded(session: PublisherSession): void
}

export interface PublisherOptions extends PeerNetwork {
  mediaTimeoutMs?: number
  /** A session not connected (ICE + DTLS) this long after its offer is closed, freeing the slot (default 10 s). */
  connectTimeoutMs?: number
  clock?: Clock
  /** NACK lost video packets (default on; off only to show in tests what loss does without it). */
  repair?: boolean
  repairPolicy?: RepairPolicy
}

const NACK_TICK_MS = 10
const RECEIVER_REPORT_EVERY_MS = 1_000

/**
 * The broadcaster's WHIP session: one PeerConnection receiving H.264 (and Opus). The relay is its
 * RTCP receiver: it NACKs lost video (RFC 4585; retransmissions in RTX, RFC 4588, are unwrapped),
 * sends receiver reports, PLI when asked, and keeps the publisher's sender reports for the stages'
 * lip sync. Every packet goes to the sink once, in arrival order, repaired ones as they come.
 */
export class PublisherSession {
  readonly id = randomAlphanumeric(16)
  readonly etag = `"${randomAlphanumeric(12)}"`
  readonly codecs: IngestCodecs
  readonly video: IngestStream
  readonly audio: IngestStream
  private readonly pc: PeerConnection
  private videoTrack: Track | null = null
  private audioTrack: Track | null = null
  // Every track must stay referenced: node-datachannel stops delivering a collected track's packets.
  private readonly tracks: Track[] = []
  private readonly rtcpSsrc = (crypto.getRandomValues(new Uint32Array(1))[0]! | 1) >>> 0
  private readonly header = newRtpHeader()
  private readonly nackList: number[] = []
  private ended = false
  private lastPacketAt = 0
  private readonly keyframeIntervals = new KeyframeIntervals()
  private timers: Timer[] = []
  /** Runs only while video packets are missing: an idle 10 ms timer would wake the event loop 100 times a second for nothing. */
  private nackTimer: Timer | null = null
  private connectTimer: Timer | null = null
  private packets = 0
  private bytes = 0
  private connectedAt: number | null = null
  private readonly clock: Clock
  readonly counts = { rtxPackets: 0, rtxPadding: 0, nackPackets: 0, keyframeRequests: 0 }

  constructor(
    private readonly offer: string,
    private readonly sink: MediaSink,
    private readonly logger: Logger,
    private readonly options: PublisherOptions = {},
  ) {
    this.clock = options.clock ?? monotonicClock
    this.codecs = chooseIngestCodecs(offer)
    this.video = new IngestStream(options.repairPolicy)
    this.audio = new IngestStream(options.repairPolicy)
    this.pc = newPeer(`publisher-${this.id}`, options)
    this.applyOffer()
    // A publisher that vanishes (crash, network loss) leaves the connection up until ICE consent
    // expires; silence ends the session sooner so a new publisher can take over.
    const mediaTimeoutMs = options.mediaTimeoutMs ?? 5_000
    this.timers.push(
      setInterval(
        () => {
          if (this.connectedAt !== null && this.clock.now() - Math.max(this.lastPacketAt, this.connectedAt) > mediaTimeoutMs)
            this.end(`no media for ${mediaTimeoutMs} ms`)
        },
        Math.min(1_000, mediaTimeoutMs / 2),
      ),
      setInterval(() => this.report(), RECEIVER_REPORT_EVERY_MS),
    )
    // An offer whose peer never completes ICE/DTLS would hold the single slot until libdatachannel gives up (~30 s): close it sooner.
    const connectTimeoutMs = options.connectTimeoutMs ?? 10_000
    this.connectTimer = setTimeout(() => {
      if (this.connectedAt === null) this.end(`not connected within ${connectTimeoutMs} ms`)
    }, connectTimeoutMs)
  }

  /** RTP packets received from the publisher. */
  get packetsIn(): number {
    return this.packets
  }

  get bytesIn(): number {
    return this.bytes
  }

  /** The publisher's keyframe interval: the median of the last few, from RTP timestamps (null before two keyframes). */
  get keyframeIntervalMs(): number | null {
    return this.keyframeIntervals.medianMs
  }

  senderClock(kind: 'video' | 'audio'): SenderClock | null {
    return (kind === 'video' ? this.video : this.audio).senderClock
  }

  /** The (restricted) offer, applied at construction: one libdatachannel refuses is a 400 before any session is replaced. */
  private applyOffer(): void {
    const { video, audio, videoRtx } = this.codecs
    const keep = [video.payloadType, ...(videoRtx ? [videoRtx.payloadType] : []), ...(audio ? [audio.payloadType] : [])]
    const offer = restrictOffer(this.offer, keep)
    const kinds = new Map(parseMedia(offer).map((m) => [m.mid, m.kind]))
    this.pc.onTrack((track) => this.attach(track, kinds.get(track.mid()) ?? 'unknown'))
    setOffer(this.pc, offer)
    this.pc.onStateChange((state) => {
      if (state === 'connected') {
        if (this.connectedAt === null) this.sink.onConnected?.(this)
        this.connectedAt = this.clock.now()
        if (this.connectTimer) clearTimeout(this.connectTimer)
      }
      // 'disconnected' is often transient; the media watchdog ends a publisher that is really gone.
      if (state === 'failed' || state === 'closed') this.end(`peer connection ${state}`)
    })
  }

  /** The answer to the offer, with its candidates. */
  answer(timeoutMs = 5_000): Promise<string> {
    return gatheredDescription(this.pc, timeoutMs)
  }

  private attach(track: Track, kind: string): void {
    this.tracks.push(track)
    // No media handler: with one, libdatachannel drops the RTCP this session sends on a receive-only track.
    if (kind === 'video') {
      this.videoTrack = track
      track.onMessage((message) => this.onVideoMessage(message as Buffer))
    } else {
      if (kind === 'audio') this.audioTrack = track
      track.onMessage((message) => this.onAudioMessage(message as Buffer))
    }
  }

  private onVideoMessage(message: Buffer): void {
    const receivedAt = this.clock.now()
    if (isRtcp(message)) return void this.onRtcp(message, receivedAt)
    const header = parseRtp(message, this.header)
    if (!header) return
    this.noteIn(message, receivedAt)
    let packet: Buffer | null = message
    const { video, videoRtx } = this.codecs
    if (videoRtx && header.payloadType === videoRtx.payloadType) {
      if (this.video.ssrc === null) return
      packet = unwrapRtx(message, header, { payloadType: video.payloadType, ssrc: this.video.ssrc })
      if (!packet) return void this.counts.rtxPadding++
      this.counts.rtxPackets++
    } else if (header.payloadType !== video.payloadType) return
    const arrival = this.video.receive(header.ssrc, header.sequence, receivedAt)
    if (this.nackTimer === null && this.video.tracker.outstanding > 0) this.nackTimer = setInterval(() => this.nack(), NACK_TICK_MS)
    if (arrival === 'duplicate') return
    const keyframe = startsH264KeyframeAt(packet, header.payloadOffset, header.payloadEnd)
    if (keyframe) this.keyframeIntervals.note(header.timestamp)
    this.sink.onVideo(packet, header, receivedAt, arrival, keyframe)
  }

  private onAudioMessage(message: Buffer): void {
    const receivedAt = this.clock.now()
    if (isRtcp(message)) return void this.onRtcp(message, receivedAt)
    const header = parseRtp(message, this.header)
    if (!header) return
    this.noteIn(message, receivedAt)
    if (header.payloadType !== this.codecs.audio?.payloadType) return
    const arrival = this.audio.receive(header.ssrc, header.sequence, receivedAt)
    if (arrival === 'duplicate') return
    this.sink.onAudio(message, header, receivedAt, arrival)
  }

  private noteIn(message: Uint8Array, receivedAt: number): void {
    this.lastPacketAt = receivedAt
    this.packets++
    this.bytes += message.byteLength
  }

  private onRtcp(packet: Uint8Array, now: number): void {
    for (const report of parseRtcp(packet).senderReports) {
      if (report.ssrc === this.video.ssrc) this.video.onSenderReport(report, now)
      else if (report.ssrc === this.audio.ssrc) this.audio.onSenderReport(report, now)
    }
  }

  /**
   * Every NACK_TICK_MS from the packet that opened a gap until nothing is missing: NACK what is due,
   * give up what is past saving (the first NACK still comes 10 ms after the gap on average).
   */
  private nack(): void {
    const tracker = this.video.tracker
    if (this.ended || tracker.outstanding === 0) {
      if (this.nackTimer) clearInterval(this.nackTimer)
      this.nackTimer = null
      return
    }
    const list = this.nackList
    list.length = 0
    const gaveUp = tracker.collect(this.clock.now(), list, this.options.repair === false ? 0 : 256)
    if (list.length > 0 && this.video.ssrc !== null && this.sendRtcp(this.videoTrack, buildNack(this.rtcpSsrc, this.video.ssrc, list)))
      this.counts.nackPackets++
    if (gaveUp > 0) this.sink.onIngestLoss()
  }

  /** Once a second: a receiver report on both streams. */
  private report(): void {
    if (this.ended) return
    const now = this.clock.now()
    const blocks = [this.video.reportBlock(now), this.audio.reportBlock(now)].filter((b): b is ReportBlock => b !== null)
    if (blocks.length > 0) this.sendRtcp(this.videoTrack ?? this.audioTrack, buildReceiverReport(this.rtcpSsrc, blocks))
  }

  private sendRtcp(track: Track | null, packet: Buffer): boolean {
    // libdatachannel aborts the process on a send to a track that is not open.
    if (!track?.isOpen()) return false
    try {
      track.sendMessageBinary(packet)
      return true
    } catch {
      return false
    }
  }

  /** A PLI for the video stream; false before its first packet (a request then is retried by the caller). */
  requestKeyframe(): boolean {
    if (this.video.ssrc === null || !this.sendRtcp(this.videoTrack, buildPli(this.rtcpSsrc, this.video.ssrc))) return false
    this.counts.keyframeRequests++
    return true
  }

  get state(): string {
    return this.ended ? 'closed' : this.pc.state()
  }

  /** Connected now (ICE + DTLS up): such a session keeps the slot; one that is not may be replaced. */
  get connected(): boolean {
    return this.state === 'connected'
  }

  /** What /health and the publish page show about this session. */
  stats() {
    const repair = this.video.tracker
    return {
      session: this.id,
      state: this.state,
      packetsIn: this.packets,
      bytesIn: this.bytes,
      keyframeIntervalMs: this.keyframeIntervalMs,
      ingest: {
        ...repair.counts,
        outstanding: repair.outstanding,
        repairDelayMs: repair.repairDelay === null ? null : Math.round(repair.repairDelay),
        ...this.counts,
        senderReports: this.video.senderReports + this.audio.senderReports,
        audioLost: this.audio.tracker.counts.missing,
      },
    }
  }

  close(reason = 'closed by the relay'): void {
    this.end(reason)
  }

  private end(reason: string): void {
    if (this.ended) return
    this.ended = true
    for (const timer of [...this.timers, this.nackTimer]) if (timer) clearInterval(timer)
    this.timers = []
    this.nackTimer = null
    if (this.connectTimer) clearTimeout(this.connectTimer)
    this.connectTimer = null
    this.logger.info('publisher session ended', { session: this.id, reason })
    try {
      this.pc.close()
    } catch {}
    this.sink.onEnded(this)
  }
}
