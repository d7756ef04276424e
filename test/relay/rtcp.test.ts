import { describe, expect, test } from 'bun:test'
import { Pacer } from '../../relay/egress/pacing'
import { IngestStream } from '../../relay/ingest/ingest-stream'
import { PacketHistory } from '../../relay/rtp/packet-history'
import { buildNack, buildPli, buildReceiverReport, buildSenderReport, ntpFromMs, ntpMiddle, parseRtcp, roundTripMs } from '../../relay/rtp/rtcp'
import { newRtpHeader, parseRtp } from '../../relay/rtp/rtp'
import { unwrapRtx } from '../../relay/rtp/rtx'
import { ManualClock } from '../support/clock'

function rtp(fields: { pt: number; seq: number; ts: number; ssrc: number; payload: number[]; padding?: number }) {
  const pad = fields.padding ?? 0
  const packet = Buffer.alloc(12 + fields.payload.length + pad)
  packet[0] = 0x80 | (pad ? 0x20 : 0)
  packet[1] = 0x80 | fields.pt
  packet.writeUInt16BE(fields.seq, 2)
  packet.writeUInt32BE(fields.ts, 4)
  packet.writeUInt32BE(fields.ssrc, 8)
  packet.set(fields.payload, 12)
  if (pad) packet[packet.length - 1] = pad
  return packet
}

describe('RTCP on the wire', () => {
  test('generic NACK packs sequences as PID + bitmask (across the wrap) and parses back', () => {
    const sequences = [65534, 65535, 0, 5, 15, 40, 41]
    const nack = buildNack(7, 9, sequences)
    expect([nack[0], nack[1]]).toEqual([0x81, 205])
    // 65534 + 16 following covers up to 14; 15 needs a new PID; 40 with 41 in its mask.
    expect(nack.length).toBe(12 + 3 * 4)
    const parsed = parseRtcp(nack)
    expect(parsed.nacks).toEqual([{ mediaSsrc: 9, sequences: [65534, 65535, 0, 5, 15, 40, 41] }])
  })

  test('a compound packet: SR with a report block, RR, PLI', () => {
    const sr = buildSenderReport({ ssrc: 1, ntpMs: Date.UTC(2026, 0, 1, 0, 0, 1, 250), rtpTimestamp: 1234, packets: 10, octets: 999 })
    const rr = buildReceiverReport(2, [{ ssrc: 1, fractionLost: 0.25, cumulativeLost: -3, highestSeq: 70_000, jitter: 5, lsr: 0xabcd1234, dlsr: 65536 }])
    const parsed = parseRtcp(Buffer.concat([sr, rr, buildPli(2, 1)]))
    expect(parsed.senderReports).toHaveLength(1)
    expect(parsed.senderReports[0]).toMatchObject({ ssrc: 1, rtpTimestamp: 1234, packets: 10, octets: 999 })
    expect(parsed.senderReports[0]!.ntpMs).toBeCloseTo(Date.UTC(2026, 0, 1, 0, 0, 1, 250), 3)
    expect(parsed.reportBlocks).toEqual([{ ssrc: 1, fractionLost: 0.25, cumulativeLost: -3, highestSeq: 70_000, jitter: 5, lsr: 0xabcd1234, dlsr: 65536 }])
    expect(parsed.keyframeRequest).toBe('PLI')
  })

  test('truncated and garbage input never throws', () => {
    for (const bytes of [[], [0x81], [0x81, 200, 0, 50], [0x00, 0, 0, 0], [0x81, 205, 0, 1, 0, 0, 0, 1]])
      expect(() => parseRtcp(new Uint8Array(bytes))).not.toThrow()
  })

  test('RTT from a report block echoing our sender report', () => {
    const { msw, lsw } = ntpFromMs(1_000_000)
    const lsr = ntpMiddle(msw, lsw)
    const block = { ssrc: 1, fractionLost: 0, cumulativeLost: 0, highestSeq: 0, jitter: 0, lsr, dlsr: 65536 / 10 } // held 100 ms
    expect(roundTripMs(block, { lsr, atMs: 500 }, 640)).toBeCloseTo(40, 5)
    expect(roundTripMs({ ...block, lsr: lsr + 1 }, { lsr, atMs: 500 }, 640)).toBeNull()
  })
})

describe('RTX (RFC 4588)', () => {
  test('a retransmission becomes the original packet in place: OSN, payload type, SSRC; marker and payload kept', () => {
    const packet = rtp({ pt: 97, seq: 9, ts: 3000, ssrc: 0xbbbb, payload: [0x12, 0x34, 0x7c, 0x85, 1, 2, 3] })
    const header = parseRtp(packet)!
    const original = unwrapRtx(packet, header, { payloadType: 96, ssrc: 0xaaaa })!
    expect(parseRtp(original)).toEqual({ payloadType: 96, marker: true, sequence: 0x1234, timestamp: 3000, ssrc: 0xaaaa, payloadOffset: 12, payloadEnd: 17 })
    expect([...original.subarray(12)]).toEqual([0x7c, 0x85, 1, 2, 3])
    expect(header).toMatchObject({ sequence: 0x1234, payloadType: 96, ssrc: 0xaaaa, payloadEnd: 17 })
  })

  test('padding-only probes (no payload past the OSN) are dropped', () => {
    const probe = rtp({ pt: 97, seq: 10, ts: 0, ssrc: 1, payload: [], padding: 200 })
    expect(unwrapRtx(probe, parseRtp(probe)!, { payloadType: 96, ssrc: 2 })).toBeNull()
    const osnOnly = rtp({ pt: 97, seq: 11, ts: 0, ssrc: 1, payload: [0, 1], padding: 4 })
    expect(unwrapRtx(osnOnly, parseRtp(osnOnly)!, { payloadType: 96, ssrc: 2 })).toBeNull()
  })
})

describe('shared packet history', () => {
  test('holds the last `capacity` packets by SSRC and sequence, with their original header fields', () => {
    const history = new PacketHistory(1000)
    expect(history.capacity).toBe(1024)
    for (let seq = 0; seq < 1500; seq++) {
      const packet = rtp({ pt: 96, seq, ts: seq * 10, ssrc: 5, payload: [1] })
      history.put(packet, parseRtp(packet)!)
      packet.writeUInt32BE(0xdead, 8) // a stage patched the header afterwards
    }
    const into = newRtpHeader()
    expect(history.get(5, 1499, into)).not.toBeNull()
    expect(into).toMatchObject({ sequence: 1499, timestamp: 14_990, ssrc: 5 })
    expect(history.get(5, 1499 - 1024, into)).toBeNull() // overwritten
    expect(history.get(6, 1499, into)).toBeNull() // another stream
  })
})

describe('the fan-out pacer', () => {
  /** A pacer at 8 Mbit/s (1,000 bytes/ms), 5 ms bursts, on a manual clock and a manual timer. */
  function pacer(maxQueueMs = 500) {
    const clock = new ManualClock(0)
    const released: { item: number; waited: number }[] = []
    let timer: { fn: () => void; at: number } | null = null
    const p = new Pacer<number>(
      { bitsPerSecond: 8_000_000, burstMs: 5, maxQueueMs },
      clock,
      (item, waited) => released.push({ item, waited }),
      (fn, ms) => {
        timer = { fn, at: clock.now() + ms }
        return () => {
          timer = null
        }
      },
    )
    const runTimer = () => {
      const t = timer!
      timer = null
      clock.set(t.at)
      t.fn()
    }
    return { p, clock, released, runTimer, pending: () => timer !== null }
  }

  test('a stream under the pace passes at once; a burst is spread at the pace, in order', () => {
    const { p, released, runTimer, pending } = pacer()
    expect(p.admit(1_200)).toBe(true) // 5,000 bytes of bucket
    // A 20 KB keyframe arriving at once: ~3 packets fit, the rest wait.
    let admitted = 0
    for (let i = 0; i < 16; i++) {
      if (p.admit(1_200)) admitted++
      else p.enqueue(i, 1_200)
    }
    expect(admitted).toBe(3)
    expect(p.stats()).toMatchObject({ queuedPackets: 13, queuedBytes: 13 * 1_200 })
    while (pending()) runTimer()
    expect(released.map((r) => r.item)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
    // 15,600 bytes at 1,000 bytes/ms: the last one waited ~16 ms.
    expect(released.at(-1)!.waited).toBeGreaterThanOrEqual(15)
    expect(released.at(-1)!.waited).toBeLessThanOrEqual(17)
    expect(p.stats()).toMatchObject({ queuedPackets: 0, queuedBytes: 0, pacedPackets: 13, overflowPackets: 0 })
    // Nothing waits ahead: while something is queued, a new packet queues behind it even with room.
    expect(p.admit(100)).toBe(true)
  })

  test('a repair spends bucket without waiting; a queue over maxQueueMs stops pacing (counted)', () => {
    const { p } = pacer(2)
    p.spend(5_000)
    expect(p.admit(1_200)).toBe(false)
    p.enqueue(1, 1_200)
    p.enqueue(2, 1_200)
    expect(p.admit(1_200)).toBe(true) // 2,400 queued bytes = 2.4 ms > 2 ms
    expect(p.stats().overflowPackets).toBe(1)
    p.clear()
    expect(p.stats().queuedPackets).toBe(0)
  })
})

describe('ingest stream', () => {
  test("receiver-report blocks echo the publisher's last SR (LSR, DLSR) and carry loss", () => {
    const stream = new IngestStream()
    expect(stream.reportBlock(0)).toBeNull()
    for (const seq of [1, 2, 4]) stream.receive(0xcafe, seq, 0)
    const { msw, lsw } = ntpFromMs(Date.UTC(2026, 0, 1))
    stream.onSenderReport({ ssrc: 0xcafe, ntpMs: Date.UTC(2026, 0, 1), ntpMiddle: ntpMiddle(msw, lsw), rtpTimestamp: 90_000, packets: 3, octets: 300 }, 1_000)
    const block = stream.reportBlock(1_500)!
    expect(block).toMatchObject({ ssrc: 0xcafe, cumulativeLost: 1, lsr: ntpMiddle(msw, lsw), dlsr: 65536 / 2 })
    expect(block.fractionLost).toBeCloseTo(0.25, 5)
    expect(stream.senderClock).toMatchObject({ ssrc: 0xcafe, rtpTimestamp: 90_000, receivedAt: 1_000 })
    stream.receive(0xbeef, 7, 2_000) // a new publisher stream: the old mapping no longer applies
    expect(stream.senderClock).toBeNull()
  })
})
