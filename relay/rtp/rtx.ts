import { type RtpHeader, rewriteRtp } from './rtp'

/**
 * An RTX retransmission (RFC 4588) turned back into the packet it carries, in place: the payload
 * starts with the original sequence number (OSN), so the header moves two bytes on over it and takes
 * the original payload type, sequence number and SSRC. Returns a view of the same buffer (and
 * updates `header` to match), or null for a packet with no media (padding-only probes).
 */
export function unwrapRtx(packet: Buffer, header: RtpHeader, original: { payloadType: number; ssrc: number }): Buffer | null {
  if (header.payloadEnd - header.payloadOffset < 3) return null
  const osn = (packet[header.payloadOffset]! << 8) | packet[header.payloadOffset + 1]!
  packet.copyWithin(2, 0, header.payloadOffset)
  const unwrapped = packet.subarray(2)
  rewriteRtp(unwrapped, original.payloadType, osn, header.timestamp, original.ssrc)
  header.sequence = osn
  header.payloadType = original.payloadType
  header.ssrc = original.ssrc
  header.payloadEnd -= 2
  return unwrapped
}
