import type { SenderClock } from '../rtp/rewriter'
import type { ReportBlock, SenderReport } from '../rtp/rtcp'
import { type Arrival, type RepairPolicy, SequenceTracker } from './loss-repair'

/**
 * One of the publisher's streams (video or audio) as the relay receives it: its current SSRC, loss
 * tracking, and the publisher's last sender report (its NTP ↔ RTP mapping, and what our receiver
 * reports echo back so the publisher can measure its round trip).
 */
export class IngestStream {
  ssrc: number | null = null
  readonly tracker: SequenceTracker
  private clock: SenderClock | null = null
  private lastReport: { middle: number; receivedAt: number } | null = null
  senderReports = 0

  constructor(policy?: RepairPolicy) {
    this.tracker = new SequenceTracker(policy)
  }

  /** An RTP packet of this stream arrived. */
  receive(ssrc: number, sequence: number, now: number): Arrival {
    if (ssrc !== this.ssrc) {
      if (this.ssrc !== null) this.tracker.startOver()
      this.ssrc = ssrc
    }
    return this.tracker.receive(sequence, now)
  }

  /** The publisher's mapping for the stream it is sending now (null before its first SR for that SSRC). */
  get senderClock(): SenderClock | null {
    return this.clock && this.clock.ssrc === this.ssrc ? this.clock : null
  }

  onSenderReport(report: SenderReport, now: number): void {
    this.senderReports++
    this.clock = { ssrc: report.ssrc, ntpMs: report.ntpMs, rtpTimestamp: report.rtpTimestamp, receivedAt: now }
    this.lastReport = { middle: report.ntpMiddle, receivedAt: now }
  }

  /** This stream's block for our next receiver report; null before its first packet. */
  reportBlock(now: number): ReportBlock | null {
    if (this.ssrc === null) return null
    const reception = this.tracker.receptionReport()
    const last = this.lastReport
    return {
      ssrc: this.ssrc,
      ...reception,
      jitter: 0,
      lsr: last?.middle ?? 0,
      dlsr: last ? Math.min(0xffffffff, Math.round(((now - last.receivedAt) / 1000) * 65536)) : 0,
    }
  }
}
