import type { Fanout } from '../../relay/fanout'
import type { Arrival } from '../../relay/ingest/loss-repair'
import { h264NalTypes, type RtpHeader, startsH264Keyframe } from '../../relay/rtp/rtp'

/** What the relay received as the publisher's video, seen before the fan-out (read only). */
export interface IngressTap {
  packets: number
  /** RTP packets with the P bit whose payload is nothing but padding (a sender's bandwidth probes). */
  paddingOnly: number
  /** Of those, the ones after the first keyframe: what a stage live before the publisher gets forwarded. */
  paddingOnlyAfterKeyframe: number
  keyframeSeen: boolean
  /** The first SPS seen: profile_idc, constraint flags byte, level_idc (as in profile-level-id). */
  sps: { profileIdc: number; constraints: number; levelIdc: number } | null
  detach(): void
}

/** The first SPS NAL in an RTP payload (single NAL or STAP-A). */
function findSps(payload: Uint8Array): Uint8Array | null {
  const first = payload[0]! & 0x1f
  if (first === 7) return payload
  if (first !== 24) return null
  let offset = 1
  while (offset + 2 < payload.length) {
    const size = (payload[offset]! << 8) | payload[offset + 1]!
    if ((payload[offset + 2]! & 0x1f) === 7) return payload.subarray(offset + 2, offset + 2 + size)
    offset += 2 + size
  }
  return null
}

/**
 * Counts the publisher's video packets as the relay hands them to its stages: wraps
 * `fanout.onVideo` (and calls straight through), so the relay's behaviour is unchanged.
 */
export function tapIngressVideo(fanout: Fanout): IngressTap {
  const original = fanout.onVideo
  const tap: IngressTap = {
    packets: 0,
    paddingOnly: 0,
    paddingOnlyAfterKeyframe: 0,
    keyframeSeen: false,
    sps: null,
    detach: () => {
      fanout.onVideo = original
    },
  }
  fanout.onVideo = function (packet: Buffer, header: RtpHeader, receivedAt: number, arrival: Arrival, keyframe: boolean) {
    tap.packets++
    const padding = packet[0]! & 0x20 ? packet[packet.length - 1]! : 0
    const payload = packet.subarray(header.payloadOffset, packet.length - padding)
    if (payload.length === 0) {
      tap.paddingOnly++
      if (tap.keyframeSeen) tap.paddingOnlyAfterKeyframe++
    } else {
      if (!tap.keyframeSeen && startsH264Keyframe(payload)) tap.keyframeSeen = true
      const sps = tap.sps === null && h264NalTypes(payload).includes(7) ? findSps(payload) : null
      if (sps && sps.length >= 4) tap.sps = { profileIdc: sps[1]!, constraints: sps[2]!, levelIdc: sps[3]! }
    }
    return original.call(this, packet, header, receivedAt, arrival, keyframe)
  }
  return tap
}
