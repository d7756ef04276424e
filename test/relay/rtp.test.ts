import { describe, expect, test } from 'bun:test'
import { StreamRewriter } from '../../relay/rtp/rewriter'
import { buildPli, findKeyframeRequest } from '../../relay/rtp/rtcp'
import { h264NalTypes, isRtcp, parseRtp, startsH264Keyframe, startsH264KeyframeAt } from '../../relay/rtp/rtp'

/** The rewriter patches in place: a copy to patch, parsed back. */
const through = (rw: StreamRewriter, packet: Uint8Array) => {
  const copy = Buffer.from(packet)
  return rw.apply(copy, parseRtp(copy)!) ? parseRtp(copy)! : null
}

function rtp(fields: { pt?: number; seq: number; ts: number; ssrc: number; payload?: number[]; csrc?: number; extensionWords?: number }) {
  const csrc = fields.csrc ?? 0
  const ext = fields.extensionWords === undefined ? [] : [0xbe, 0xde, 0, fields.extensionWords, ...new Array(fields.extensionWords * 4).fill(0)]
  const packet = new Uint8Array(12 + csrc * 4 + ext.length + (fields.payload?.length ?? 1))
  const view = new DataView(packet.buffer)
  packet[0] = 0x80 | csrc | (ext.length ? 0x10 : 0)
  packet[1] = fields.pt ?? 96
  view.setUint16(2, fields.seq)
  view.setUint32(4, fields.ts)
  view.setUint32(8, fields.ssrc)
  packet.set(ext, 12 + csrc * 4)
  packet.set(fields.payload ?? [0x41], 12 + csrc * 4 + ext.length)
  return packet
}

describe('RTP parsing and rewriting', () => {
  test('header fields, CSRCs and header extensions are skipped to the payload', () => {
    const h = parseRtp(rtp({ seq: 65535, ts: 4_000_000_000, ssrc: 0xdeadbeef, csrc: 2, extensionWords: 1, payload: [0x65, 1] }))!
    expect(h).toEqual({
      payloadType: 96,
      marker: false,
      sequence: 65535,
      timestamp: 4_000_000_000,
      ssrc: 0xdeadbeef,
      payloadOffset: 12 + 8 + 8,
      payloadEnd: 30,
    })
    expect(parseRtp(new Uint8Array([0x80, 96]))).toBeNull()
    expect(parseRtp(buildPli(1, 2))).toBeNull()
    expect(isRtcp(buildPli(1, 2))).toBe(true)
  })

  test('the rewriter sets the stage SSRC and payload type and keeps seq/timestamps continuous across a publisher change', () => {
    let now = 1000
    const rw = new StreamRewriter({ ssrc: 42, payloadType: 102, clockRate: 90_000 }, { now: () => now }, () => 0.25)
    const a1 = through(rw, rtp({ pt: 96, seq: 100, ts: 5000, ssrc: 7 }))!
    const a2 = through(rw, rtp({ pt: 96, seq: 101, ts: 8000, ssrc: 7 }))!
    expect([a1.ssrc, a1.payloadType, a2.sequence - a1.sequence, a2.timestamp - a1.timestamp]).toEqual([42, 102, 1, 3000])
    now += 500 // the publisher reconnects half a second later with a new SSRC, sequence and clock
    const b1 = through(rw, rtp({ pt: 96, seq: 9, ts: 123, ssrc: 8 }))!
    expect(b1.ssrc).toBe(42)
    expect((b1.sequence - a2.sequence) & 0xffff).toBe(1)
    expect(b1.timestamp - a2.timestamp).toBe(45_000)
    const b2 = through(rw, rtp({ pt: 96, seq: 10, ts: 3123, ssrc: 8 }))!
    expect([(b2.sequence - b1.sequence) & 0xffff, b2.timestamp - b1.timestamp]).toEqual([1, 3000])
  })

  test('sequence numbers wrap, and a reordered packet keeps its place without moving the base', () => {
    const rw = new StreamRewriter({ ssrc: 1, payloadType: 96, clockRate: 90_000 }, { now: () => 0 }, () => 0)
    const s = (seq: number) => through(rw, rtp({ seq, ts: seq, ssrc: 5 }))!.sequence
    const first = s(65534)
    expect([s(65535), s(0), s(1)].map((x) => (x - first) & 0xffff)).toEqual([1, 2, 3])
    expect((s(65535) - first) & 0xffff).toBe(1)
  })

  test('the packet is patched in place (the same buffer goes to every stage) and only its header changes', () => {
    const packet = Buffer.from(rtp({ seq: 1, ts: 1, ssrc: 9, payload: [0x41, 7, 7] }))
    const payload = Buffer.from(packet.subarray(12))
    const rw = new StreamRewriter({ ssrc: 2, payloadType: 100, clockRate: 90_000 })
    expect(rw.apply(packet, parseRtp(packet)!)).toBe(true)
    expect([parseRtp(packet)!.ssrc, parseRtp(packet)!.payloadType]).toEqual([2, 100])
    expect(packet.subarray(12).equals(payload)).toBe(true)
  })

  test('a repaired packet lands at its offset; one from before the stage started has no place', () => {
    const rw = new StreamRewriter({ ssrc: 1, payloadType: 96, clockRate: 90_000 }, { now: () => 0 }, () => 0)
    const first = through(rw, rtp({ seq: 500, ts: 0, ssrc: 5 }))!
    through(rw, rtp({ seq: 502, ts: 6000, ssrc: 5 }))
    const late = through(rw, rtp({ seq: 501, ts: 3000, ssrc: 5 }))!
    expect([(late.sequence - first.sequence) & 0xffff, late.timestamp - first.timestamp]).toEqual([1, 3000])
    expect(through(rw, rtp({ seq: 499, ts: 0, ssrc: 5 }))).toBeNull()
    // The stage's NACK for its own sequence number maps back to the publisher's.
    expect(rw.incomingSequence((first.sequence + 2) & 0xffff)).toEqual({ ssrc: 5, sequence: 502 })
    expect(rw.incomingSequence((first.sequence - 1) & 0xffff)).toBeNull()
  })

  test('a long stream keeps being placed across many sequence wraps', () => {
    const rw = new StreamRewriter({ ssrc: 1, payloadType: 96, clockRate: 90_000 }, { now: () => 0 }, () => 0)
    let placed = 0
    for (let i = 0; i < 200_000; i++) if (through(rw, rtp({ seq: i & 0xffff, ts: i, ssrc: 5 }))) placed++
    expect(placed).toBe(200_000)
  })
})

describe('RTCP keyframe requests', () => {
  test('PLI and FIR are found, also inside a compound packet after a receiver report', () => {
    const rr = [0x80, 201, 0, 1, 0, 0, 0, 1]
    const fir = [0x84, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0]
    expect(findKeyframeRequest(buildPli(1, 2))).toBe('PLI')
    expect(findKeyframeRequest(new Uint8Array([...rr, ...buildPli(1, 2)]))).toBe('PLI')
    expect(findKeyframeRequest(new Uint8Array([...rr, ...fir]))).toBe('FIR')
    expect(findKeyframeRequest(new Uint8Array(rr))).toBeNull()
    // Generic NACK (RTPFB, PT 205) is not a keyframe request.
    expect(findKeyframeRequest(new Uint8Array([0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 0]))).toBeNull()
  })
})

describe('H.264 keyframe detection', () => {
  test('single NAL, STAP-A and FU-A', () => {
    expect(startsH264Keyframe(new Uint8Array([0x67, 1, 2]))).toBe(true) // SPS
    expect(startsH264Keyframe(new Uint8Array([0x65, 1]))).toBe(true) // IDR
    expect(startsH264Keyframe(new Uint8Array([0x41, 1]))).toBe(false) // non-IDR
    const stap = new Uint8Array([0x78, 0, 2, 0x67, 1, 0, 2, 0x68, 1])
    expect(h264NalTypes(stap)).toEqual([7, 8])
    expect(startsH264Keyframe(stap)).toBe(true)
    expect(startsH264Keyframe(new Uint8Array([0x7c, 0x85, 9]))).toBe(true) // FU-A start of IDR
    expect(startsH264Keyframe(new Uint8Array([0x7c, 0x05, 9]))).toBe(false) // FU-A middle of IDR
    expect(startsH264Keyframe(new Uint8Array([0x7c, 0x81, 9]))).toBe(false) // FU-A start of non-IDR
    // The same, read at an offset inside a packet without a view.
    const packet = new Uint8Array([9, 9, 0x78, 0, 2, 0x41, 1, 0, 2, 0x65, 1, 9])
    expect(startsH264KeyframeAt(packet, 2, 11)).toBe(true)
    expect(startsH264KeyframeAt(packet, 2, 8)).toBe(false)
  })
})

test('a reconnect that negotiates another payload type is honoured without a jump in sequence numbers', () => {
  const rw = new StreamRewriter({ ssrc: 3, payloadType: 96, clockRate: 90_000 }, { now: () => 0 }, () => 0)
  const a = through(rw, rtp({ seq: 10, ts: 0, ssrc: 1 }))!
  rw.payloadType = 102
  const b = through(rw, rtp({ seq: 11, ts: 3000, ssrc: 1 }))!
  expect([a.payloadType, b.payloadType]).toEqual([96, 102])
  expect((b.sequence - a.sequence) & 0xffff).toBe(1)
})

test("before the publisher's first sender report, reports map the relay's wall clock onto the stream RTP clock", () => {
  let now = 1_000
  const rw = new StreamRewriter({ ssrc: 77, payloadType: 96, clockRate: 90_000 }, { now: () => now }, () => 0)
  expect(rw.senderReport(null, Date.UTC(2026, 0, 1))).toBeNull()
  const out = through(rw, rtp({ seq: 1, ts: 0, ssrc: 5, payload: [1, 2, 3, 4] }))!
  now += 100 // 100 ms after the last packet: 9,000 ticks on a 90 kHz clock
  const sr = rw.senderReport(null, Date.UTC(2026, 0, 1, 0, 0, 0, 500))!.packet
  const view = new DataView(sr.buffer, sr.byteOffset, sr.byteLength)
  expect([sr[1], view.getUint16(2), view.getUint32(4)]).toEqual([200, 6, 77])
  expect(view.getUint32(8)).toBe(Date.UTC(2026, 0, 1) / 1000 + 2_208_988_800)
  expect(view.getUint32(12)).toBe(0x8000_0000) // half a second
  expect(view.getUint32(16)).toBe((out.timestamp + 9_000) >>> 0)
  expect([view.getUint32(20), view.getUint32(24)]).toEqual([1, 4])
})

test("with the publisher's sender report, the stage gets the publisher's NTP ↔ RTP mapping shifted by the stage's offset", () => {
  let now = 5_000
  const rw = new StreamRewriter({ ssrc: 77, payloadType: 96, clockRate: 90_000 }, { now: () => now }, () => 0.5)
  const inTs = 1_000_000
  const out = through(rw, rtp({ seq: 1, ts: inTs, ssrc: 5 }))!
  const offset = (out.timestamp - inTs) >>> 0
  const publisherNtpMs = Date.UTC(2026, 5, 1, 12, 0, 0, 250)
  // The publisher said: RTP 990,000 is NTP publisherNtpMs; that report arrived at now = 5,000.
  const clock = { ssrc: 5, ntpMs: publisherNtpMs, rtpTimestamp: 990_000, receivedAt: 5_000 }
  now += 1_234
  const sr = rw.senderReport(clock, 0)!
  const view = new DataView(sr.packet.buffer, sr.packet.byteOffset, sr.packet.byteLength)
  const ntpMs = (view.getUint32(8) - 2_208_988_800) * 1000 + (view.getUint32(12) / 2 ** 32) * 1000
  const rtp2 = view.getUint32(16)
  // On the publisher's line: the stage's RTP, less its offset, is where the publisher's clock says ntpMs is.
  const publisherRtpAtNtp = 990_000 + ((ntpMs - publisherNtpMs) * 90_000) / 1000
  expect(Math.abs(((rtp2 - offset) >>> 0) - publisherRtpAtNtp)).toBeLessThan(90) // < 1 ms of 90 kHz
  expect(Math.abs(ntpMs - (publisherNtpMs + 1_234))).toBeLessThan(1)
  // Another source (the publisher changed) falls back to the wall clock.
  expect(rw.senderReport({ ...clock, ssrc: 6 }, publisherNtpMs + 99_000)!.packet.readUInt32BE(8)).toBe(
    Math.floor((publisherNtpMs + 99_000) / 1000) + 2_208_988_800,
  )
})
