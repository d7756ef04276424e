/**
 * What a real receiver (IVS's SFU, a browser) would make of an H.264 RTP stream: which frames
 * arrive whole with their reference chain intact since a keyframe (decodable), how long the picture
 * would freeze, and the NACKs it would send for what is missing. Frames are told apart by RTP
 * timestamp and the marker bit; a frame is decodable when all its packets arrived, it starts right
 * after the previous frame's marker, and it is a keyframe or follows a decodable frame.
 */
import { SequenceTracker } from '../../relay/ingest/loss-repair'
import { type RtpHeader, startsH264KeyframeAt } from '../../relay/rtp/rtp'

interface Packet {
  timestamp: number
  marker: boolean
  keyframe: boolean
  arrivedAt: number
}

export interface Decodability {
  /** Frames with at least one packet here, and the ones wholly lost (from the timestamp gaps). */
  framesSeen: number
  framesMissing: number
  framesDecodable: number
  /** framesDecodable / (framesSeen + framesMissing), from the first keyframe on. */
  decodedShare: number
  /** The longest time without a new decodable frame after the first one (ms), the tail to `until` included. */
  worstFreezeMs: number
  /** Packets never received between the first keyframe and the last packet. */
  missingPackets: number
  /** RTP timestamps of the decodable frames. */
  decodable: Set<number>
}

export class VideoReceiver {
  private readonly packets = new Map<number, Packet>()
  private highest = -1
  readonly tracker = new SequenceTracker()
  private readonly nackList: number[] = []
  lastPacketAt = 0

  /** `sendNack` (optional) is how this receiver asks for what it misses; without it, it never does. */
  constructor(private readonly sendNack?: (sequences: number[]) => void) {}

  onPacket(packet: Uint8Array, header: RtpHeader, now = performance.now()): void {
    const seq = header.sequence
    const extended = this.highest < 0 ? 0x10000 + seq : this.highest + (((seq - (this.highest & 0xffff) + 0x8000) & 0xffff) - 0x8000)
    if (extended > this.highest) this.highest = extended
    this.tracker.receive(seq, now)
    this.lastPacketAt = now
    if (this.packets.has(extended)) return
    this.packets.set(extended, {
      timestamp: header.timestamp,
      marker: header.marker,
      keyframe: startsH264KeyframeAt(packet, header.payloadOffset, header.payloadEnd),
      arrivedAt: now,
    })
  }

  /** Call every ~10 ms: sends the NACKs that are due. */
  tick(now = performance.now()): void {
    this.nackList.length = 0
    this.tracker.collect(now, this.nackList, this.sendNack ? 256 : 0)
    if (this.nackList.length > 0) this.sendNack?.(this.nackList)
  }

  analyze(until = this.lastPacketAt): Decodability {
    const sequences = [...this.packets.keys()].sort((a, b) => a - b)
    const startIndex = sequences.findIndex((s) => this.packets.get(s)!.keyframe)
    const empty = {
      framesSeen: 0,
      framesMissing: 0,
      framesDecodable: 0,
      decodedShare: 0,
      worstFreezeMs: Number.POSITIVE_INFINITY,
      missingPackets: 0,
      decodable: new Set<number>(),
    }
    if (startIndex < 0) return empty
    const first = sequences[startIndex]!
    const last = sequences[sequences.length - 1]!
    // Frames in sequence order, each with the range of sequence numbers it spans.
    const frames: { timestamp: number; from: number; to: number; keyframe: boolean; complete: boolean; doneAt: number }[] = []
    for (let seq = first; seq <= last; seq++) {
      const packet = this.packets.get(seq)
      if (!packet) continue
      const current = frames[frames.length - 1]
      if (current && current.timestamp === packet.timestamp) {
        current.complete &&= current.to === seq - 1
        current.to = seq
        current.doneAt = Math.max(current.doneAt, packet.arrivedAt)
        continue
      }
      // A frame starts right after the previous frame's marker, or it lost its head.
      const before = this.packets.get(seq - 1)
      const cleanStart = packet.keyframe || before?.marker === true
      frames.push({ timestamp: packet.timestamp, from: seq, to: seq, keyframe: packet.keyframe, complete: cleanStart, doneAt: packet.arrivedAt })
    }
    // A frame is whole when it also ends on a marker.
    for (const frame of frames) frame.complete &&= this.packets.get(frame.to)!.marker
    // Wholly lost frames show as timestamp steps bigger than the usual one.
    const steps = frames
      .slice(1)
      .map((f, i) => (f.timestamp - frames[i]!.timestamp) >>> 0)
      .filter((d) => d > 0 && d < 0x8000_0000)
      .sort((a, b) => a - b)
    const step = steps.length ? steps[Math.floor(steps.length / 2)]! : 0
    let framesMissing = 0
    if (step > 0)
      for (let i = 1; i < frames.length; i++) framesMissing += Math.max(0, Math.round(((frames[i]!.timestamp - frames[i - 1]!.timestamp) >>> 0) / step) - 1)
    const decodable = new Set<number>()
    let chain = false
    let shownAt: number | null = null
    let worstFreezeMs = 0
    for (const frame of frames) {
      chain = frame.complete && (frame.keyframe || chain)
      if (!chain) continue
      decodable.add(frame.timestamp)
      // The decoder shows frames in order: one cannot appear before the frame ahead of it.
      const at = Math.max(frame.doneAt, shownAt ?? frame.doneAt)
      if (shownAt !== null) worstFreezeMs = Math.max(worstFreezeMs, at - shownAt)
      shownAt = at
    }
    if (shownAt !== null) worstFreezeMs = Math.max(worstFreezeMs, until - shownAt)
    let missingPackets = 0
    for (let seq = first; seq <= last; seq++) if (!this.packets.has(seq)) missingPackets++
    const total = frames.length + framesMissing
    return {
      framesSeen: frames.length,
      framesMissing,
      framesDecodable: decodable.size,
      decodedShare: total > 0 ? decodable.size / total : 0,
      worstFreezeMs: shownAt === null ? Number.POSITIVE_INFINITY : worstFreezeMs,
      missingPackets,
      decodable,
    }
  }
}

/**
 * The share of the frames a sender put on the path between `from` and `to` (performance.now()) that
 * a receiver could decode: `sent` maps the sender's RTP timestamps to when they passed (a lossy
 * path's `frames`), `decodable` holds the receiver's, which differ by an unknown constant offset
 * (the relay's per-stage rewrite). The offset is the one that lines up the most frames.
 */
export function decodedShareOfSent(
  sent: Map<number, number>,
  decodable: Set<number>,
  from: number,
  to: number,
): { sent: number; decoded: number; share: number } {
  const window = [...sent].filter(([, at]) => at >= from && at <= to).map(([ts]) => ts)
  let best = { offset: 0, matches: -1 }
  const candidates = [...decodable].slice(0, 10)
  for (const received of candidates)
    for (const ts of sent.keys()) {
      const offset = (received - ts) >>> 0
      let matches = 0
      for (const t of window) if (decodable.has((t + offset) >>> 0)) matches++
      if (matches > best.matches) best = { offset, matches }
    }
  return { sent: window.length, decoded: Math.max(0, best.matches), share: window.length ? Math.max(0, best.matches) / window.length : 0 }
}
