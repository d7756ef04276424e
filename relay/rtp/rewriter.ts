import { type Clock, monotonicClock } from '../../src/clock'
import { buildSenderReport, ntpFromMs, ntpMiddle } from './rtcp'
import { type RtpHeader, rewriteRtp } from './rtp'

export interface OutgoingStream {
  ssrc: number
  payloadType: number
  clockRate: number
}

/** The publisher's NTP ↔ RTP mapping from its last sender report, and when (monotonic ms) it arrived. */
export interface SenderClock {
  ssrc: number
  ntpMs: number
  rtpTimestamp: number
  receivedAt: number
}

/** A sender report ready to send, and what a receiver report will echo about it (for the RTT). */
export interface OutgoingReport {
  packet: Buffer
  lsr: number
  sentAt: number
}

/**
 * Maps one incoming RTP stream onto one stage's negotiated stream by offsets: SSRC and payload type
 * become the stage's; sequence numbers and timestamps are shifted, so a packet repaired late lands in
 * its place; a new publisher stream (new SSRC, sequence and timestamp base) continues right after
 * the last packet sent. Packets are patched in place: the caller sends the same buffer to every stage.
 */
export class StreamRewriter {
  private inSsrc: number | null = null
  private seqOffset = 0
  private tsOffset = 0
  /** The first incoming sequence number sent on this source (kept within 0x4000 of the newest). */
  private startSeq = 0
  private lastOutSeq: number
  private lastOutTs: number
  private lastOutAt: number | null = null
  /** RTCP sender-report counters (RFC 3550 §6.4.1). */
  private packetCount = 0
  private octetCount = 0

  /** What the stage negotiated on its current connection. */
  payloadType: number

  constructor(
    private readonly out: OutgoingStream,
    private readonly clock: Clock = monotonicClock,
    random: () => number = Math.random,
  ) {
    this.payloadType = out.payloadType
    this.lastOutSeq = Math.floor(random() * 0x8000)
    this.lastOutTs = Math.floor(random() * 0x7fffffff)
  }

  /** The next packet starts a new source (the publisher restarted its sequence on the same SSRC). */
  reanchor(): void {
    this.inSsrc = null
  }

  /**
   * Patches `packet` into this stage's stream. False when it cannot be placed: a packet from before
   * this stage's first one on the current source (a repair the stage never had a gap for).
   */
  apply(packet: Uint8Array, header: RtpHeader): boolean {
    const now = this.clock.now()
    if (header.ssrc !== this.inSsrc) {
      // New source: continue right after the last packet sent, advancing time by what elapsed.
      const elapsedTicks = this.lastOutAt === null ? 0 : Math.max(1, Math.round(((now - this.lastOutAt) * this.out.clockRate) / 1000))
      this.seqOffset = (this.lastOutSeq + 1 - header.sequence) & 0xffff
      this.tsOffset = (this.lastOutTs + elapsedTicks - header.timestamp) >>> 0
      this.inSsrc = header.ssrc
      this.startSeq = header.sequence
    }
    const sinceStart = (header.sequence - this.startSeq) & 0xffff
    if (sinceStart >= 0x8000) return false
    // Anything 0x4000 packets behind the newest is never wanted: keep the comparison away from wrap-around.
    if (sinceStart > 0x4000) this.startSeq = (header.sequence - 0x4000) & 0xffff
    const sequence = (header.sequence + this.seqOffset) & 0xffff
    const timestamp = (header.timestamp + this.tsOffset) >>> 0
    // Keep the newest position (a repaired or reordered older packet must not pull it back).
    if (((sequence - this.lastOutSeq) & 0xffff) < 0x8000) {
      this.lastOutSeq = sequence
      this.lastOutTs = timestamp
      this.lastOutAt = now
    }
    rewriteRtp(packet, this.payloadType, sequence, timestamp, this.out.ssrc)
    this.packetCount++
    this.octetCount += header.payloadEnd - header.payloadOffset
    return true
  }

  /** The incoming sequence number a stage asks for by its own (NACK), or null when it is not on the current source. */
  incomingSequence(outgoing: number): { ssrc: number; sequence: number } | null {
    if (this.inSsrc === null) return null
    const sequence = (outgoing - this.seqOffset) & 0xffff
    if (((sequence - this.startSeq) & 0xffff) >= 0x8000) return null
    return { ssrc: this.inSsrc, sequence }
  }

  /**
   * An RTCP sender report for this stream, null before the first packet. With the publisher's own
   * mapping for the current source it is that mapping moved to now and shifted by this stage's
   * timestamp offset, so the stage lines audio up with video exactly as the publisher timed them;
   * before the publisher's first report, the relay's wall clock against the last packet's timestamp.
   */
  senderReport(publisher: SenderClock | null, wallClockMs: number): OutgoingReport | null {
    if (this.lastOutAt === null) return null
    const now = this.clock.now()
    let ntpMs: number
    let rtpTimestamp: number
    if (publisher && publisher.ssrc === this.inSsrc) {
      const elapsed = now - publisher.receivedAt
      ntpMs = publisher.ntpMs + elapsed
      rtpTimestamp = (publisher.rtpTimestamp + Math.round((elapsed * this.out.clockRate) / 1000) + this.tsOffset) >>> 0
    } else {
      ntpMs = wallClockMs
      rtpTimestamp = (this.lastOutTs + Math.round(((now - this.lastOutAt) * this.out.clockRate) / 1000)) >>> 0
    }
    const packet = buildSenderReport({ ssrc: this.out.ssrc, ntpMs, rtpTimestamp, packets: this.packetCount, octets: this.octetCount })
    const { msw, lsw } = ntpFromMs(ntpMs)
    return { packet, lsr: ntpMiddle(msw, lsw), sentAt: now }
  }
}
