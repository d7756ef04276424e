import { type Clock, monotonicClock } from '../src/clock'
import { parseRtp, type RtpHeader, rewriteRtp } from './rtp'

/** Seconds from 1900 (NTP) to 1970 (Unix). */
const NTP_EPOCH_OFFSET_S = 2_208_988_800

export interface OutgoingStream {
  ssrc: number
  payloadType: number
  clockRate: number
}

/**
 * Maps one incoming RTP stream onto one stage's negotiated stream: SSRC and payload type become
 * the stage's, sequence numbers and timestamps continue without a jump when the publisher's
 * stream changes (a reconnect brings a new SSRC, sequence and timestamp base).
 */
export class StreamRewriter {
  private inSsrc: number | null = null
  private seqOffset = 0
  private tsOffset = 0
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

  /**
   * An RTCP sender report mapping wall-clock time to this stream's RTP clock, so the stage can
   * line audio up with video; null before the first packet.
   */
  senderReport(wallClockMs: number = Date.now()): Buffer | null {
    if (this.lastOutAt === null) return null
    const rtpNow = (this.lastOutTs + Math.round(((this.clock.now() - this.lastOutAt) * this.out.clockRate) / 1000)) >>> 0
    const ntpSeconds = Math.floor(wallClockMs / 1000) + NTP_EPOCH_OFFSET_S
    const ntpFraction = Math.floor(((wallClockMs % 1000) / 1000) * 0x1_0000_0000)
    const sr = Buffer.alloc(28)
    sr[0] = 0x80
    sr[1] = 200
    sr.writeUInt16BE(6, 2)
    sr.writeUInt32BE(this.out.ssrc >>> 0, 4)
    sr.writeUInt32BE(ntpSeconds >>> 0, 8)
    sr.writeUInt32BE(ntpFraction >>> 0, 12)
    sr.writeUInt32BE(rtpNow, 16)
    sr.writeUInt32BE(this.packetCount >>> 0, 20)
    sr.writeUInt32BE(this.octetCount >>> 0, 24)
    return sr
  }

  /** A rewritten copy of `packet`, or null when it is not RTP. */
  rewrite(packet: Uint8Array, header: RtpHeader | null = parseRtp(packet)): Buffer | null {
    if (!header) return null
    const now = this.clock.now()
    if (header.ssrc !== this.inSsrc) {
      // New source: continue right after the last packet sent, advancing time by what elapsed.
      const elapsedTicks = this.lastOutAt === null ? 0 : Math.max(1, Math.round(((now - this.lastOutAt) * this.out.clockRate) / 1000))
      this.seqOffset = (this.lastOutSeq + 1 - header.sequence) & 0xffff
      this.tsOffset = (this.lastOutTs + elapsedTicks - header.timestamp) >>> 0
      this.inSsrc = header.ssrc
    }
    const sequence = (header.sequence + this.seqOffset) & 0xffff
    const timestamp = (header.timestamp + this.tsOffset) >>> 0
    // Keep the newest position (a reordered older packet must not pull it back).
    if (((sequence - this.lastOutSeq) & 0xffff) < 0x8000) {
      this.lastOutSeq = sequence
      this.lastOutTs = timestamp
    }
    this.lastOutAt = now
    const copy = Buffer.from(packet)
    rewriteRtp(copy, { payloadType: this.payloadType, sequence, timestamp, ssrc: this.out.ssrc })
    this.packetCount++
    this.octetCount += packet.byteLength - header.payloadOffset
    return copy
  }
}
