import { type Clock, monotonicClock } from '../src/clock'
import { randomAlphanumeric } from '../src/ids'
import type { Logger } from '../src/log'
import { gatheredDescription, newPeer, type PeerConnection, rtc, type Track } from './peer'
import { isRtcp, parseRtp, type RtpHeader } from './rtp'
import { chooseIngestCodecs, type IngestCodecs, parseMedia, restrictOffer } from './sdp'

export interface MediaSink {
  onVideo(packet: Uint8Array, header: RtpHeader, receivedAt: number): void
  onAudio(packet: Uint8Array, header: RtpHeader, receivedAt: number): void
  onEnded(session: PublisherSession): void
}

/**
 * The broadcaster's WHIP session: one PeerConnection receiving H.264 (and Opus), handing every
 * RTP packet to the sink as it arrives. Its video track carries an RtcpReceivingSession so
 * keyframe requests (PLI) can be sent back to the publisher.
 */
export class PublisherSession {
  readonly id = randomAlphanumeric(16)
  readonly etag = `"${randomAlphanumeric(12)}"`
  readonly codecs: IngestCodecs
  private readonly pc: PeerConnection
  private video: Track | null = null
  // Every track must stay referenced: node-datachannel stops delivering a collected track's packets.
  private readonly tracks: Track[] = []
  private ended = false
  private lastPacketAt = 0
  private watchdog: Timer | null = null
  private packets = 0
  private bytes = 0
  private connectedAt: number | null = null
  private readonly clock: Clock

  constructor(
    private readonly offer: string,
    private readonly sink: MediaSink,
    private readonly logger: Logger,
    options: { bindAddress?: string; mediaTimeoutMs?: number; clock?: Clock } = {},
  ) {
    this.clock = options.clock ?? monotonicClock
    this.codecs = chooseIngestCodecs(offer)
    this.pc = newPeer(`publisher-${this.id}`, options)
    // A publisher that vanishes (crash, network loss) leaves the connection up until ICE consent
    // expires; silence ends the session sooner so a new publisher can take over.
    const mediaTimeoutMs = options.mediaTimeoutMs ?? 5_000
    this.watchdog = setInterval(
      () => {
        if (this.connectedAt !== null && this.clock.now() - Math.max(this.lastPacketAt, this.connectedAt) > mediaTimeoutMs)
          this.end(`no media for ${mediaTimeoutMs} ms`)
      },
      Math.min(1_000, mediaTimeoutMs / 2),
    )
  }

  /** RTP packets received from the publisher. */
  get packetsIn(): number {
    return this.packets
  }

  get bytesIn(): number {
    return this.bytes
  }

  /** Applies the (restricted) offer and returns the answer with its candidates. */
  async answer(timeoutMs = 5_000): Promise<string> {
    const keep = [this.codecs.video.payloadType, ...(this.codecs.audio ? [this.codecs.audio.payloadType] : [])]
    const offer = restrictOffer(this.offer, keep)
    const kinds = new Map(parseMedia(offer).map((m) => [m.mid, m.kind]))
    this.pc.onTrack((track) => this.attach(track, kinds.get(track.mid()) ?? 'unknown'))
    this.pc.onStateChange((state) => {
      if (state === 'connected') this.connectedAt = this.clock.now()
      // 'disconnected' is often transient; the media watchdog ends a publisher that is really gone.
      if (state === 'failed' || state === 'closed') this.end(`peer connection ${state}`)
    })
    this.pc.setRemoteDescription(offer, 'offer')
    return gatheredDescription(this.pc, timeoutMs)
  }

  private attach(track: Track, kind: string): void {
    this.tracks.push(track)
    const isVideo = kind === 'video'
    if (isVideo) {
      // Needed for requestKeyframe(): the PLI goes to the SSRC learnt from incoming RTP.
      track.setMediaHandler(new rtc.RtcpReceivingSession())
      this.video = track
    }
    track.onMessage((message) => {
      const receivedAt = this.clock.now()
      const packet = new Uint8Array(message.buffer, message.byteOffset, message.byteLength)
      if (isRtcp(packet)) return
      const header = parseRtp(packet)
      if (!header) return
      this.lastPacketAt = receivedAt
      this.packets++
      this.bytes += packet.byteLength
      if (isVideo && header.payloadType === this.codecs.video.payloadType) this.sink.onVideo(packet, header, receivedAt)
      else if (!isVideo && header.payloadType === this.codecs.audio?.payloadType) this.sink.onAudio(packet, header, receivedAt)
    })
  }

  requestKeyframe(): boolean {
    // libdatachannel aborts the process on a keyframe request for a track that is not open.
    if (!this.video?.isOpen()) return false
    try {
      return this.video.requestKeyframe()
    } catch {
      return false
    }
  }

  get state(): string {
    return this.ended ? 'closed' : this.pc.state()
  }

  close(): void {
    this.end('closed by the relay')
  }

  private end(reason: string): void {
    if (this.ended) return
    this.ended = true
    if (this.watchdog) clearInterval(this.watchdog)
    this.logger.info('publisher session ended', { session: this.id, reason })
    try {
      this.pc.close()
    } catch {}
    this.sink.onEnded(this)
  }
}
