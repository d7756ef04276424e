/**
 * Loss detection and NACK scheduling for one incoming RTP stream (RFC 4585 generic NACK): which
 * sequence numbers are missing, when to ask for them (again), when to give up, and the RFC 3550
 * reception statistics a receiver report carries. Pure logic: time comes in as `now` (ms).
 */

export interface RepairPolicy {
  /** The first NACK for a gap waits this long (a packet slightly out of order needs none). */
  reorderMs: number
  /** Ask again after 1.5 × the measured repair delay, at least this long... */
  minRetryMs: number
  /** ...and this long before any repair has been measured. */
  initialRetryMs: number
  /** A packet missing this long is given up on (by then the next keyframe is near). */
  giveUpMs: number
  /** NACKs per missing packet before giving up. */
  maxNacks: number
  /** A sequence jump larger than this is a restarted stream, not loss. */
  maxGap: number
  /** Missing packets tracked at once; the oldest are given up first. */
  maxMissing: number
}

export const DEFAULT_REPAIR_POLICY: RepairPolicy = {
  reorderMs: 5,
  minRetryMs: 15,
  initialRetryMs: 50,
  giveUpMs: 1_000,
  maxNacks: 10,
  maxGap: 3_000,
  maxMissing: 2_048,
}

/**
 * `next`: in order or ahead (a gap opened behind it); `repaired`: a packet that was missing;
 * `late`: one given up on that came after all; `duplicate`: seen before (drop it);
 * `reset`: a jump too large to be loss, taken as the stream's new start.
 */
export type Arrival = 'next' | 'repaired' | 'late' | 'duplicate' | 'reset'

export interface RepairCounts {
  /** Unique packets received. */
  received: number
  /** Gaps opened (one per jump over missing packets) and the packets in them. */
  gaps: number
  missing: number
  /** NACKed sequence numbers (each retry counts) and RTCP NACK packets built. */
  nacked: number
  /** Missing packets that arrived while still wanted, after being given up on, or never. */
  repaired: number
  late: number
  unrepaired: number
  duplicates: number
  resets: number
}

interface Missing {
  seenAt: number
  nextAt: number
  nacks: number
  firstNackAt: number
}

const GIVEN_UP_MEMORY = 4_096

export class SequenceTracker {
  private base = -1
  private highest = -1
  /** Packets expected before the last restart (RFC 3550's "expected" spans them). */
  private priorExpected = 0
  private readonly missingPackets = new Map<number, Missing>()
  private readonly givenUp = new Set<number>()
  private repairDelayMs: number | null = null
  private lastReport = { expected: 0, received: 0 }
  readonly counts: RepairCounts = { received: 0, gaps: 0, missing: 0, nacked: 0, repaired: 0, late: 0, unrepaired: 0, duplicates: 0, resets: 0 }

  constructor(readonly policy: RepairPolicy = DEFAULT_REPAIR_POLICY) {}

  /** Missing packets currently wanted. */
  get outstanding(): number {
    return this.missingPackets.size
  }

  /** Smoothed delay from a first NACK to its repair (ms), once measured. */
  get repairDelay(): number | null {
    return this.repairDelayMs
  }

  /** The extended highest sequence number received (RFC 3550 A.1), -1 before the first packet. */
  get highestExtended(): number {
    return this.highest
  }

  /** A new stream (new SSRC): what is still missing from the old one is lost; the next packet starts afresh. */
  startOver(): void {
    if (this.highest >= 0) this.priorExpected += this.highest - this.base + 1
    this.highest = -1
    this.counts.unrepaired += this.missingPackets.size
    this.missingPackets.clear()
    this.givenUp.clear()
  }

  receive(sequence: number, now: number): Arrival {
    const seq = sequence & 0xffff
    if (this.highest < 0) return this.restart(seq, false)
    // The signed 16-bit distance from the highest sequence seen.
    const delta = ((seq - (this.highest & 0xffff) + 0x8000) & 0xffff) - 0x8000
    const extended = this.highest + delta
    if (delta > 0) {
      if (delta > this.policy.maxGap) return this.restart(seq, true)
      if (delta > 1) this.openGap(this.highest + 1, extended, now)
      this.highest = extended
      this.counts.received++
      return 'next'
    }
    if (delta === 0) return this.duplicate()
    const wanted = this.missingPackets.get(extended)
    if (wanted) {
      this.missingPackets.delete(extended)
      this.counts.received++
      this.counts.repaired++
      if (wanted.nacks === 1) {
        const sample = now - wanted.firstNackAt
        this.repairDelayMs = this.repairDelayMs === null ? sample : this.repairDelayMs * 0.875 + sample * 0.125
      }
      return 'repaired'
    }
    if (this.givenUp.delete(extended)) {
      this.counts.received++
      this.counts.late++
      return 'late'
    }
    if (-delta > this.policy.maxGap) return this.restart(seq, true)
    return this.duplicate()
  }

  /**
   * Sequence numbers to NACK now (at most `max`), pushed onto `into`; packets past their budget are
   * given up on. Returns how many were given up in this call.
   */
  collect(now: number, into: number[], max = 256): number {
    let gaveUp = 0
    const retryMs = Math.max(this.policy.minRetryMs, this.repairDelayMs === null ? this.policy.initialRetryMs : this.repairDelayMs * 1.5)
    for (const [extended, entry] of this.missingPackets) {
      if (now < entry.nextAt) continue
      if (now - entry.seenAt >= this.policy.giveUpMs || entry.nacks >= this.policy.maxNacks) {
        this.giveUp(extended)
        gaveUp++
        continue
      }
      if (into.length >= max) continue
      into.push(extended & 0xffff)
      if (entry.nacks === 0) entry.firstNackAt = now
      entry.nacks++
      entry.nextAt = now + retryMs
      this.counts.nacked++
    }
    return gaveUp
  }

  /**
   * An RFC 3550 report block's loss figures: the share lost since the previous call (0..1), the
   * cumulative count (expected − received, which repairs bring back down), the extended highest sequence.
   */
  receptionReport(): { fractionLost: number; cumulativeLost: number; highestSeq: number } {
    const expected = this.highest < 0 ? 0 : this.priorExpected + this.highest - this.base + 1
    const received = this.counts.received
    const expectedInterval = expected - this.lastReport.expected
    const lostInterval = expectedInterval - (received - this.lastReport.received)
    this.lastReport = { expected, received }
    return {
      fractionLost: expectedInterval > 0 && lostInterval > 0 ? lostInterval / expectedInterval : 0,
      cumulativeLost: Math.max(-0x800000, Math.min(0x7fffff, expected - received)),
      highestSeq: Math.max(0, this.highest - 0x10000) >>> 0,
    }
  }

  private openGap(from: number, to: number, now: number): void {
    this.counts.gaps++
    for (let extended = from; extended < to; extended++) {
      this.counts.missing++
      this.missingPackets.set(extended, { seenAt: now, nextAt: now + this.policy.reorderMs, nacks: 0, firstNackAt: 0 })
    }
    // Map order is insertion order, which here is sequence order: the first entries are the oldest.
    for (const extended of this.missingPackets.keys()) {
      if (this.missingPackets.size <= this.policy.maxMissing) break
      this.giveUp(extended)
    }
  }

  private giveUp(extended: number): void {
    this.missingPackets.delete(extended)
    this.counts.unrepaired++
    this.givenUp.add(extended)
    if (this.givenUp.size > GIVEN_UP_MEMORY) this.givenUp.delete(this.givenUp.values().next().value!)
  }

  private duplicate(): Arrival {
    this.counts.duplicates++
    return 'duplicate'
  }

  private restart(seq: number, counted: boolean): Arrival {
    this.startOver()
    // Extended numbers start one cycle up so a reordered packet from just before the start stays positive.
    this.highest = 0x10000 + seq
    this.base = this.highest
    this.counts.received++
    if (!counted) return 'next'
    this.counts.resets++
    return 'reset'
  }
}
