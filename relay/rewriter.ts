import { parseRtp, rewriteRtp, type RtpHeader } from './rtp'

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

  /** What the stage negotiated on its current connection. */
  payloadType: number

  constructor(
    private readonly out: OutgoingStream,
    private readonly now: () => number = () => performance.now(),
    random: () => number = Math.random,
  ) {
    this.payloadType = out.payloadType
    this.lastOutSeq = Math.floor(random() * 0x8000)
    this.lastOutTs = Math.floor(random() * 0x7fffffff)
  }

  /** A rewritten copy of `packet`, or null when it is not RTP. */
  rewrite(packet: Uint8Array, header: RtpHeader | null = parseRtp(packet)): Buffer | null {
    if (!header) return null
    const now = this.now()
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
    return copy
  }
}
