import { describe, expect, test } from 'bun:test'
import { parseRtp } from '../../relay/rtp/rtp'
import { decodedShareOfSent, VideoReceiver } from '../support/video-receiver'

/** A synthetic stream: `frames` frames of `perFrame` packets, 3000 ticks apart, a keyframe every `gop`. */
function stream(frames: number, perFrame: number, gop: number) {
  const out: { packet: Buffer; seq: number; frame: number }[] = []
  let seq = 65_000 // wraps inside the stream
  for (let f = 0; f < frames; f++) {
    for (let p = 0; p < perFrame; p++) {
      const packet = Buffer.alloc(14)
      packet[0] = 0x80
      packet[1] = (p === perFrame - 1 ? 0x80 : 0) | 96
      packet.writeUInt16BE(seq & 0xffff, 2)
      packet.writeUInt32BE(1_000 + f * 3000, 4)
      packet.writeUInt32BE(7, 8)
      // FU-A: start bit on the first packet, IDR (5) on keyframes, non-IDR (1) otherwise.
      packet[12] = 0x7c
      packet[13] = (p === 0 ? 0x80 : 0) | (f % gop === 0 ? 5 : 1)
      out.push({ packet, seq: seq & 0xffff, frame: f })
      seq++
    }
  }
  return out
}

const feed = (receiver: VideoReceiver, packets: ReturnType<typeof stream>, skip: (i: number) => boolean = () => false) =>
  packets.forEach((p, i) => {
    if (!skip(i)) receiver.onPacket(p.packet, parseRtp(p.packet)!, p.frame * 33)
  })

describe('the test receiver judges decodability', () => {
  test('a whole stream: every frame decodable, no freeze beyond a frame interval', () => {
    const r = new VideoReceiver()
    feed(r, stream(90, 3, 30))
    expect(r.analyze()).toMatchObject({ framesSeen: 90, framesMissing: 0, framesDecodable: 90, decodedShare: 1, missingPackets: 0 })
    expect(r.analyze().worstFreezeMs).toBe(33)
  })

  test('one lost packet breaks its frame and the rest of the GOP; a wholly lost frame is counted as sent', () => {
    const packets = stream(90, 3, 30)
    const r = new VideoReceiver()
    // Frame 10's middle packet, and all of frame 70.
    feed(r, packets, (i) => i === 31 || packets[i]!.frame === 70)
    const result = r.analyze()
    expect(result.framesSeen).toBe(89)
    expect(result.framesMissing).toBe(1)
    expect(result.framesDecodable).toBe(90 - 20 - 20) // frames 10–29 and 70–89 lost
    expect(result.worstFreezeMs).toBe(21 * 33) // frame 9 until keyframe 30
  })

  test('a lost head or tail packet makes the frame incomplete', () => {
    const packets = stream(6, 3, 3)
    const head = new VideoReceiver()
    feed(head, packets, (i) => i === 3) // frame 1's first packet
    expect(head.analyze().framesDecodable).toBe(4)
    const tail = new VideoReceiver()
    feed(tail, packets, (i) => i === 5) // frame 1's marker packet
    expect(tail.analyze().framesDecodable).toBe(4)
  })

  test('NACKs are sent for what is missing, and a repair makes the frame whole again', () => {
    const packets = stream(30, 3, 30)
    const asked: number[] = []
    const r = new VideoReceiver((sequences) => asked.push(...sequences))
    feed(r, packets, (i) => i === 40)
    r.tick(500)
    expect(asked).toEqual([packets[40]!.seq])
    r.onPacket(packets[40]!.packet, parseRtp(packets[40]!.packet)!, 600)
    expect(r.analyze(2_000).framesDecodable).toBe(30)
  })
})

test('decoded share of what was sent: the offset between sender and receiver timestamps is found, the window respected', () => {
  const sent = new Map<number, number>()
  for (let f = 0; f < 100; f++) sent.set((0xffff_f000 + f * 3000) >>> 0, f * 33) // wraps
  const offset = 123_456_789
  const decodable = new Set<number>()
  for (let f = 0; f < 100; f++) if (f % 10 !== 3) decodable.add((0xffff_f000 + f * 3000 + offset) >>> 0)
  expect(decodedShareOfSent(sent, decodable, 0, 99 * 33)).toEqual({ sent: 100, decoded: 90, share: 0.9 })
  expect(decodedShareOfSent(sent, decodable, 0, 9 * 33).sent).toBe(10)
})
