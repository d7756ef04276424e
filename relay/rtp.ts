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
}

/** RTCP packet types 192-223 share the RTP byte 1 layout (RFC 5761 demultiplexing). */
export function isRtcp(packet: Uint8Array): boolean {
  return packet.length >= 2 && packet[1]! >= 192 && packet[1]! <= 223
}

export function parseRtp(packet: Uint8Array): RtpHeader | null {
  if (packet.length < RTP_HEADER_MIN || packet[0]! >> 6 !== 2 || isRtcp(packet)) return null
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength)
  const csrcCount = packet[0]! & 0x0f
  let offset = RTP_HEADER_MIN + csrcCount * 4
  if (packet[0]! & 0x10) {
    if (packet.length < offset + 4) return null
    offset += 4 + view.getUint16(offset + 2) * 4
  }
  let end = packet.length
  if (packet[0]! & 0x20) end -= packet[packet.length - 1]!
  if (offset > end) return null
  return {
    payloadType: packet[1]! & 0x7f,
    marker: (packet[1]! & 0x80) !== 0,
    sequence: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    payloadOffset: offset,
  }
}

/** Writes the fields a forwarded packet changes, in place. */
export function rewriteRtp(packet: Uint8Array, fields: { payloadType: number; sequence: number; timestamp: number; ssrc: number }): void {
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength)
  packet[1] = (packet[1]! & 0x80) | (fields.payloadType & 0x7f)
  view.setUint16(2, fields.sequence & 0xffff)
  view.setUint32(4, fields.timestamp >>> 0)
  view.setUint32(8, fields.ssrc >>> 0)
}

export type KeyframeRequest = 'PLI' | 'FIR'

/** PLI (PT 206, FMT 1) or FIR (PT 206, FMT 4) anywhere in a compound RTCP packet. */
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

/** An RTCP PLI (RFC 4585) from `senderSsrc` about `mediaSsrc`. */
export function buildPli(senderSsrc: number, mediaSsrc: number): Uint8Array {
  const packet = new Uint8Array(12)
  const view = new DataView(packet.buffer)
  packet[0] = 0x81
  packet[1] = 206
  view.setUint16(2, 2)
  view.setUint32(4, senderSsrc >>> 0)
  view.setUint32(8, mediaSsrc >>> 0)
  return packet
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

/** Whether the packet starts a keyframe: SPS (which precedes an IDR) or the start of an IDR slice. */
export function startsH264Keyframe(payload: Uint8Array): boolean {
  if (payload.length === 0) return false
  const type = payload[0]! & 0x1f
  if (type === H264_NAL.FU_A) return payload.length > 1 && (payload[1]! & 0x80) !== 0 && (payload[1]! & 0x1f) === H264_NAL.IDR
  const types = h264NalTypes(payload)
  return types.includes(H264_NAL.SPS) || types.includes(H264_NAL.IDR)
}
