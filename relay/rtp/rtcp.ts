/** RTCP on the wire (RFC 3550, RFC 4585): what the relay reads and writes, without allocation on the read side. */

/** Seconds from 1900 (NTP) to 1970 (Unix). */
const NTP_EPOCH_OFFSET_S = 2_208_988_800

export interface SenderReport {
  ssrc: number
  /** NTP timestamp, in ms since the Unix epoch (the publisher's wall clock). */
  ntpMs: number
  /** The middle 32 bits of the NTP timestamp (what a receiver echoes as LSR). */
  ntpMiddle: number
  rtpTimestamp: number
  packets: number
  octets: number
}

export interface ReportBlock {
  ssrc: number
  /** 0..1 of the packets expected since the previous report. */
  fractionLost: number
  cumulativeLost: number
  highestSeq: number
  jitter: number
  /** Middle 32 bits of the last SR's NTP timestamp (0: none yet) and the delay since, in 1/65536 s. */
  lsr: number
  dlsr: number
}

export interface Nack {
  mediaSsrc: number
  sequences: number[]
}

export interface RtcpSummary {
  senderReports: SenderReport[]
  reportBlocks: ReportBlock[]
  nacks: Nack[]
  keyframeRequest: KeyframeRequest | null
}

export const ntpFromMs = (ms: number): { msw: number; lsw: number } => {
  const seconds = Math.floor(ms / 1000)
  return { msw: (seconds + NTP_EPOCH_OFFSET_S) >>> 0, lsw: Math.floor(((ms - seconds * 1000) / 1000) * 0x1_0000_0000) >>> 0 }
}
const ntpToMs = (msw: number, lsw: number) => (msw - NTP_EPOCH_OFFSET_S) * 1000 + (lsw / 0x1_0000_0000) * 1000
/** The middle 32 bits of an NTP timestamp, as LSR carries them. */
export const ntpMiddle = (msw: number, lsw: number) => (((msw & 0xffff) << 16) | (lsw >>> 16)) >>> 0

/** Every SR, report block, generic NACK and keyframe request in a (compound) RTCP packet. */
export function parseRtcp(packet: Uint8Array): RtcpSummary {
  const out: RtcpSummary = { senderReports: [], reportBlocks: [], nacks: [], keyframeRequest: null }
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength)
  let offset = 0
  while (offset + 4 <= packet.length) {
    if (packet[offset]! >> 6 !== 2) break
    const count = packet[offset]! & 0x1f
    const type = packet[offset + 1]!
    const end = offset + (view.getUint16(offset + 2) + 1) * 4
    if (end > packet.length) break
    if (type === 200 && end - offset >= 28) {
      const msw = view.getUint32(offset + 8)
      const lsw = view.getUint32(offset + 12)
      out.senderReports.push({
        ssrc: view.getUint32(offset + 4),
        ntpMs: ntpToMs(msw, lsw),
        ntpMiddle: ntpMiddle(msw, lsw),
        rtpTimestamp: view.getUint32(offset + 16),
        packets: view.getUint32(offset + 20),
        octets: view.getUint32(offset + 24),
      })
      readBlocks(view, offset + 28, count, end, out.reportBlocks)
    } else if (type === 201) {
      readBlocks(view, offset + 8, count, end, out.reportBlocks)
    } else if (type === 205 && count === 1 && end - offset >= 12) {
      const sequences: number[] = []
      for (let at = offset + 12; at + 4 <= end; at += 4) {
        const pid = view.getUint16(at)
        const blp = view.getUint16(at + 2)
        sequences.push(pid)
        for (let bit = 0; bit < 16; bit++) if (blp & (1 << bit)) sequences.push((pid + bit + 1) & 0xffff)
      }
      out.nacks.push({ mediaSsrc: view.getUint32(offset + 8), sequences })
    } else if (type === 206 && (count === 1 || count === 4)) {
      out.keyframeRequest ??= count === 1 ? 'PLI' : 'FIR'
    }
    offset = end
  }
  return out
}

function readBlocks(view: DataView, from: number, count: number, end: number, into: ReportBlock[]): void {
  for (let i = 0, at = from; i < count && at + 24 <= end; i++, at += 24) {
    const lost = view.getUint32(at + 4)
    into.push({
      ssrc: view.getUint32(at),
      fractionLost: (lost >>> 24) / 256,
      // A signed 24-bit count (it can go negative with duplicates).
      cumulativeLost: (lost & 0x800000 ? (lost & 0xffffff) - 0x1000000 : lost & 0xffffff) | 0,
      highestSeq: view.getUint32(at + 8),
      jitter: view.getUint32(at + 12),
      lsr: view.getUint32(at + 16),
      dlsr: view.getUint32(at + 20),
    })
  }
}

export type KeyframeRequest = 'PLI' | 'FIR'

/** PLI (PT 206, FMT 1) or FIR (PT 206, FMT 4) anywhere in a compound RTCP packet, without parsing the rest. */
export function findKeyframeRequest(packet: Uint8Array): KeyframeRequest | null {
  let offset = 0
  while (offset + 4 <= packet.length) {
    if (packet[offset]! >> 6 !== 2) return null
    const fmt = packet[offset]! & 0x1f
    const type = packet[offset + 1]!
    if (type === 206 && fmt === 1) return 'PLI'
    if (type === 206 && fmt === 4) return 'FIR'
    offset += (((packet[offset + 2]! << 8) | packet[offset + 3]!) + 1) * 4
  }
  return null
}

/** Round-trip time from a report block about one of our SRs, sent at `sentAtMs` (ours) with `lsr`; null when it is not about that SR. */
export function roundTripMs(block: ReportBlock, sent: { lsr: number; atMs: number }, nowMs: number): number | null {
  if (block.lsr === 0 || block.lsr !== sent.lsr) return null
  return Math.max(0, nowMs - sent.atMs - (block.dlsr / 65536) * 1000)
}

/**
 * A generic NACK (RFC 4585 §6.2.1): sequences packed as PID + bitmask of the 16 following. Give them
 * in sending order (oldest first, as across a wrap 65535 precedes 0).
 */
export function buildNack(senderSsrc: number, mediaSsrc: number, sequences: readonly number[]): Buffer {
  const fci: [number, number][] = []
  for (const raw of sequences) {
    const seq = raw & 0xffff
    const last = fci[fci.length - 1]
    const distance = last ? (seq - last[0]) & 0xffff : 0
    if (last && distance === 0) continue
    if (last && distance <= 16) last[1] |= 1 << (distance - 1)
    else fci.push([seq, 0])
  }
  const packet = Buffer.alloc(12 + fci.length * 4)
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength)
  packet[0] = 0x81
  packet[1] = 205
  view.setUint16(2, 2 + fci.length)
  view.setUint32(4, senderSsrc >>> 0)
  view.setUint32(8, mediaSsrc >>> 0)
  fci.forEach(([pid, blp], i) => {
    view.setUint16(12 + i * 4, pid)
    view.setUint16(14 + i * 4, blp)
  })
  return packet
}

/** An RTCP PLI (RFC 4585) from `senderSsrc` about `mediaSsrc`. */
export function buildPli(senderSsrc: number, mediaSsrc: number): Buffer {
  const packet = Buffer.alloc(12)
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength)
  packet[0] = 0x81
  packet[1] = 206
  view.setUint16(2, 2)
  view.setUint32(4, senderSsrc >>> 0)
  view.setUint32(8, mediaSsrc >>> 0)
  return packet
}

/** A receiver report from `senderSsrc` with one block per received stream. */
export function buildReceiverReport(senderSsrc: number, blocks: readonly ReportBlock[]): Buffer {
  const packet = Buffer.alloc(8 + blocks.length * 24)
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength)
  packet[0] = 0x80 | blocks.length
  packet[1] = 201
  view.setUint16(2, 1 + blocks.length * 6)
  view.setUint32(4, senderSsrc >>> 0)
  blocks.forEach((b, i) => {
    const at = 8 + i * 24
    view.setUint32(at, b.ssrc >>> 0)
    view.setUint32(at + 4, ((Math.min(255, Math.round(b.fractionLost * 256)) << 24) | (b.cumulativeLost & 0xffffff)) >>> 0)
    view.setUint32(at + 8, b.highestSeq >>> 0)
    view.setUint32(at + 12, b.jitter >>> 0)
    view.setUint32(at + 16, b.lsr >>> 0)
    view.setUint32(at + 20, b.dlsr >>> 0)
  })
  return packet
}

/** A sender report without report blocks. */
export function buildSenderReport(sr: { ssrc: number; ntpMs: number; rtpTimestamp: number; packets: number; octets: number }): Buffer {
  const { msw, lsw } = ntpFromMs(sr.ntpMs)
  const packet = Buffer.alloc(28)
  packet[0] = 0x80
  packet[1] = 200
  packet.writeUInt16BE(6, 2)
  packet.writeUInt32BE(sr.ssrc >>> 0, 4)
  packet.writeUInt32BE(msw, 8)
  packet.writeUInt32BE(lsw, 12)
  packet.writeUInt32BE(sr.rtpTimestamp >>> 0, 16)
  packet.writeUInt32BE(sr.packets >>> 0, 20)
  packet.writeUInt32BE(sr.octets >>> 0, 24)
  return packet
}
