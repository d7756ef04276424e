/** RTP/RTCP on the wire (RFC 3550), just what forwarding needs: no decoding of media. */

export const RTP_HEADER_MIN = 12

export interface RtpHeader {
  payloadType: number
  marker: boolean
  sequence: number
  timestamp: number
  ssrc: number
  /** Offset of the payload (after CSRCs and header extension). */
  payloadOffset: number
  /** End of the payload (before any padding). */
  payloadEnd: number
}

/** RTCP packet types 192-223 share the RTP byte 1 layout (RFC 5761 demultiplexing). */
export function isRtcp(packet: Uint8Array): boolean {
  return packet.length >= 2 && packet[1]! >= 192 && packet[1]! <= 223
}

export const newRtpHeader = (): RtpHeader => ({ payloadType: 0, marker: false, sequence: 0, timestamp: 0, ssrc: 0, payloadOffset: 0, payloadEnd: 0 })

/**
 * The header of an RTP packet, or null when it is not one. Pass `into` to reuse a header object
 * (the hot path parses every packet).
 */
export function parseRtp(packet: Uint8Array, into: RtpHeader = newRtpHeader()): RtpHeader | null {
  const length = packet.length
  if (length < RTP_HEADER_MIN || packet[0]! >> 6 !== 2 || isRtcp(packet)) return null
  const first = packet[0]!
  let offset = RTP_HEADER_MIN + (first & 0x0f) * 4
  if (first & 0x10) {
    if (length < offset + 4) return null
    offset += 4 + ((packet[offset + 2]! << 8) | packet[offset + 3]!) * 4
  }
  const end = first & 0x20 ? length - packet[length - 1]! : length
  if (offset > end) return null
  into.payloadType = packet[1]! & 0x7f
  into.marker = (packet[1]! & 0x80) !== 0
  into.sequence = (packet[2]! << 8) | packet[3]!
  into.timestamp = readUint32(packet, 4)
  into.ssrc = readUint32(packet, 8)
  into.payloadOffset = offset
  into.payloadEnd = end
  return into
}

const readUint32 = (p: Uint8Array, at: number) => ((p[at]! << 24) | (p[at + 1]! << 16) | (p[at + 2]! << 8) | p[at + 3]!) >>> 0

/** Writes the fields a forwarded packet changes, in place (no allocation: this runs per packet and stage). */
export function rewriteRtp(packet: Uint8Array, payloadType: number, sequence: number, timestamp: number, ssrc: number): void {
  packet[1] = (packet[1]! & 0x80) | (payloadType & 0x7f)
  packet[2] = (sequence >>> 8) & 0xff
  packet[3] = sequence & 0xff
  packet[4] = timestamp >>> 24
  packet[5] = (timestamp >>> 16) & 0xff
  packet[6] = (timestamp >>> 8) & 0xff
  packet[7] = timestamp & 0xff
  packet[8] = ssrc >>> 24
  packet[9] = (ssrc >>> 16) & 0xff
  packet[10] = (ssrc >>> 8) & 0xff
  packet[11] = ssrc & 0xff
}

export const H264_NAL = { NON_IDR: 1, IDR: 5, SEI: 6, SPS: 7, PPS: 8, STAP_A: 24, FU_A: 28 } as const

/** The NAL unit types an H.264 RTP payload carries (RFC 6184: single NAL, STAP-A, FU-A start). */
export function h264NalTypes(payload: Uint8Array): number[] {
  if (payload.length === 0) return []
  const type = payload[0]! & 0x1f
  if (type === H264_NAL.STAP_A) {
    const types: number[] = []
    let offset = 1
    while (offset + 2 < payload.length) {
      const size = (payload[offset]! << 8) | payload[offset + 1]!
      if (size === 0 || offset + 2 + size > payload.length) break
      types.push(payload[offset + 2]! & 0x1f)
      offset += 2 + size
    }
    return types
  }
  if (type === H264_NAL.FU_A) {
    if (payload.length < 2) return []
    return [payload[1]! & 0x1f]
  }
  return [type]
}

/** Whether the payload starts a keyframe: SPS (which precedes an IDR) or the start of an IDR slice. */
export function startsH264Keyframe(payload: Uint8Array): boolean {
  return startsH264KeyframeAt(payload, 0, payload.length)
}

/** startsH264Keyframe on the payload at [from, to) of a packet, without a view (runs per packet). */
export function startsH264KeyframeAt(packet: Uint8Array, from: number, to: number): boolean {
  if (to <= from) return false
  const type = packet[from]! & 0x1f
  if (type === H264_NAL.FU_A) return to - from > 1 && (packet[from + 1]! & 0x80) !== 0 && (packet[from + 1]! & 0x1f) === H264_NAL.IDR
  if (type !== H264_NAL.STAP_A) return type === H264_NAL.SPS || type === H264_NAL.IDR
  for (let at = from + 1; at + 2 < to; ) {
    const size = (packet[at]! << 8) | packet[at + 1]!
    if (size === 0 || at + 2 + size > to) return false
    const inner = packet[at + 2]! & 0x1f
    if (inner === H264_NAL.SPS || inner === H264_NAL.IDR) return true
    at += 2 + size
  }
  return false
}
