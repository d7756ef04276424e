import type { OutgoingReport } from '../rtp/rewriter'
import { parseRtcp, type RtcpSummary, roundTripMs } from '../rtp/rtcp'

export interface StageFeedbackCounts {
  /** Sequence numbers the stage asked for (generic NACK), the ones resent, the ones no longer held. */
  nacksReceived: number
  retransmitted: number
  nacksUnanswered: number
  keyframeRequests: number
  receiverReports: number
}

/**
 * What one stage tells the relay over RTCP: receiver reports (its loss and, against our last sender
 * report, the round trip), NACKs and keyframe requests. The session acts on the summary; this keeps the figures.
 */
export class StageFeedback {
  readonly counts: StageFeedbackCounts = { nacksReceived: 0, retransmitted: 0, nacksUnanswered: 0, keyframeRequests: 0, receiverReports: 0 }
  /** From the stage's last report on our video: the share lost in its last interval, and in all. */
  lossFraction: number | null = null
  cumulativeLost: number | null = null
  rttMs: number | null = null
  private readonly sent = new Map<number, OutgoingReport>()

  constructor(private readonly videoSsrc: number) {}

  /** Our sender report for `ssrc` went out (a report block echoing it gives the RTT). */
  sentReport(ssrc: number, report: OutgoingReport): void {
    this.sent.set(ssrc, report)
  }

  read(packet: Uint8Array, now: number): RtcpSummary {
    const summary = parseRtcp(packet)
    for (const block of summary.reportBlocks) {
      const sent = this.sent.get(block.ssrc)
      if (!sent) continue
      this.counts.receiverReports++
      const rtt = roundTripMs(block, { lsr: sent.lsr, atMs: sent.sentAt }, now)
      if (rtt !== null) this.rttMs = rtt
      if (block.ssrc === this.videoSsrc) {
        this.lossFraction = block.fractionLost
        this.cumulativeLost = block.cumulativeLost
      }
    }
    if (summary.keyframeRequest) this.counts.keyframeRequests++
    for (const nack of summary.nacks) this.counts.nacksReceived += nack.sequences.length
    return summary
  }
}
