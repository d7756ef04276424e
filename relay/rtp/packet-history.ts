import type { RtpHeader } from './rtp'

/**
 * The publisher's recent video packets, kept once for every stage: a stage's NACK is answered from
 * here (its sequence number mapped back through that stage's offset), and a packet repaired on
 * ingest lands here like any other. Slots are indexed by sequence number; the header fields are
 * kept apart because the packet's own header bytes are rewritten for each stage it is sent to.
 */
export class PacketHistory {
  private readonly packets: (Buffer | null)[]
  private readonly sequences: Int32Array
  private readonly ssrcs: Uint32Array
  private readonly timestamps: Uint32Array
  private readonly markers: Uint8Array
  private readonly payloadOffsets: Uint16Array
  private readonly payloadEnds: Uint16Array
  private readonly mask: number

  /** `size` is rounded up to a power of two; 2048 slots hold 3 s of a 6 Mbit/s stream in 1200-byte packets. */
  constructor(size = 2048) {
    const slots = 2 ** Math.ceil(Math.log2(Math.max(2, size)))
    this.mask = slots - 1
    this.packets = new Array(slots).fill(null)
    this.sequences = new Int32Array(slots).fill(-1)
    this.ssrcs = new Uint32Array(slots)
    this.timestamps = new Uint32Array(slots)
    this.markers = new Uint8Array(slots)
    this.payloadOffsets = new Uint16Array(slots)
    this.payloadEnds = new Uint16Array(slots)
  }

  get capacity(): number {
    return this.mask + 1
  }

  put(packet: Buffer, header: RtpHeader): void {
    const slot = header.sequence & this.mask
    this.packets[slot] = packet
    this.sequences[slot] = header.sequence
    this.ssrcs[slot] = header.ssrc
    this.timestamps[slot] = header.timestamp
    this.markers[slot] = header.marker ? 1 : 0
    this.payloadOffsets[slot] = header.payloadOffset
    this.payloadEnds[slot] = header.payloadEnd
  }

  /** The packet with this SSRC and sequence number, its original header fields written into `into`; null when gone. */
  get(ssrc: number, sequence: number, into: RtpHeader): Buffer | null {
    const slot = sequence & this.mask
    const packet = this.packets[slot]
    if (!packet || this.sequences[slot] !== sequence || this.ssrcs[slot] !== ssrc) return null
    into.sequence = sequence
    into.ssrc = ssrc
    into.timestamp = this.timestamps[slot]!
    into.marker = this.markers[slot] === 1
    into.payloadOffset = this.payloadOffsets[slot]!
    into.payloadEnd = this.payloadEnds[slot]!
    return packet
  }

  clear(): void {
    this.packets.fill(null)
    this.sequences.fill(-1)
  }
}
