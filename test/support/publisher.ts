import { readFileSync } from 'node:fs'
import nodeDataChannel from 'node-datachannel'
import { gatheredDescription, type PeerConnection, type Track } from '../../relay/peer'
import { findKeyframeRequest } from '../../relay/rtcp'

const CLIP = new URL('./fixtures/clip-baseline.h264', import.meta.url).pathname

/** Access units of an Annex B H.264 stream: each ends with one VCL NAL (single-slice baseline). */
export function readAccessUnits(path = CLIP): Uint8Array[][] {
  const data = new Uint8Array(readFileSync(path))
  const starts: { at: number; len: number }[] = []
  for (let i = 0; i + 3 <= data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      const long = i > 0 && data[i - 1] === 0
      starts.push({ at: i + 3, len: long ? 4 : 3 })
      i += 2
    }
  }
  const nals = starts.map((s, k) => data.subarray(s.at, k + 1 < starts.length ? starts[k + 1]!.at - starts[k + 1]!.len : data.length))
  const frames: Uint8Array[][] = []
  let current: Uint8Array[] = []
  for (const nal of nals) {
    current.push(nal)
    const type = nal[0]! & 0x1f
    if (type === 1 || type === 5) {
      frames.push(current)
      current = []
    }
  }
  return frames
}

/** RFC 6184 packetization: single NAL units, FU-A for the ones over `mtu`. */
export function packetizeH264(frame: Uint8Array[], mtu = 1200): Uint8Array[] {
  const payloads: Uint8Array[] = []
  for (const nal of frame) {
    if (nal.length <= mtu) {
      payloads.push(nal)
      continue
    }
    const indicator = (nal[0]! & 0xe0) | 28
    const type = nal[0]! & 0x1f
    for (let offset = 1; offset < nal.length; offset += mtu - 2) {
      const chunk = nal.subarray(offset, Math.min(nal.length, offset + mtu - 2))
      const header = type | (offset === 1 ? 0x80 : 0) | (offset + chunk.length >= nal.length ? 0x40 : 0)
      const fu = new Uint8Array(2 + chunk.length)
      fu[0] = indicator
      fu[1] = header
      fu.set(chunk, 2)
      payloads.push(fu)
    }
  }
  return payloads
}

function rtp(payloadType: number, seq: number, timestamp: number, ssrc: number, marker: boolean, payload: Uint8Array): Buffer {
  const packet = Buffer.alloc(12 + payload.length)
  packet[0] = 0x80
  packet[1] = (marker ? 0x80 : 0) | payloadType
  packet.writeUInt16BE(seq & 0xffff, 2)
  packet.writeUInt32BE(timestamp >>> 0, 4)
  packet.writeUInt32BE(ssrc >>> 0, 8)
  packet.set(payload, 12)
  return packet
}

export interface TestPublisherOptions {
  /** Restart the clip (an IDR) on the next frame when the relay sends PLI/FIR. */
  honourPli?: boolean
  fps?: number
  /** Multiply the clip's bitrate by sending each frame's packets this many times over (bench load). */
  padTo?: number
}

/**
 * A WHIP publisher on node-datachannel sending real H.264 (a baseline clip encoded by x264, keyframe
 * every second) and Opus frames as RTP, the way OBS does (payload types 96 and 111).
 */
export class TestPublisher {
  readonly videoSsrc = (crypto.getRandomValues(new Uint32Array(1))[0]! | 1) >>> 0
  readonly audioSsrc = (crypto.getRandomValues(new Uint32Array(1))[0]! | 1) >>> 0
  private pc: PeerConnection | null = null
  private video: Track | null = null
  private audio: Track | null = null
  private timers: Timer[] = []
  private resource: string | null = null
  private frames = readAccessUnits()
  private frameIndex = 0
  private restartClip = false
  pliReceived = 0
  packetsSent = 0
  bytesSent = 0

  constructor(
    private readonly relayUrl: string,
    private readonly secret: string,
    private readonly options: TestPublisherOptions = {},
  ) {}

  /** Publishes; resolves once media is flowing. */
  async start(): Promise<void> {
    const pc = new nodeDataChannel.PeerConnection('test-publisher', { iceServers: [], bindAddress: '127.0.0.1' })
    this.pc = pc
    const video = new nodeDataChannel.Video('0', 'SendOnly')
    video.addH264Codec(96, 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1')
    video.addSSRC(this.videoSsrc, 'publisher', 'publisher', 'video')
    const audio = new nodeDataChannel.Audio('1', 'SendOnly')
    audio.addOpusCodec(111)
    audio.addSSRC(this.audioSsrc, 'publisher', 'publisher', 'audio')
    this.video = pc.addTrack(video)
    this.audio = pc.addTrack(audio)
    this.video.onMessage((message) => {
      if (findKeyframeRequest(new Uint8Array(message.buffer, message.byteOffset, message.byteLength))) {
        this.pliReceived++
        if (this.options.honourPli) this.restartClip = true
      }
    })
    this.audio.onMessage(() => {})
    const open = new Promise<void>((resolve) => this.video!.onOpen(() => resolve()))
    pc.setLocalDescription()
    const offer = await gatheredDescription(pc, 5_000)
    const response = await fetch(`${this.relayUrl}/whip`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.secret}`, 'content-type': 'application/sdp' },
      body: offer,
    })
    if (response.status !== 201) throw new Error(`relay answered ${response.status}: ${await response.text()}`)
    this.resource = new URL(response.headers.get('location')!, this.relayUrl).toString()
    pc.setRemoteDescription(await response.text(), 'answer')
    await open
    this.stream()
  }

  private stream(): void {
    const fps = this.options.fps ?? 30
    let seq = Math.floor(Math.random() * 0x8000)
    let ts = Math.floor(Math.random() * 0x7fffffff)
    let audioSeq = Math.floor(Math.random() * 0x8000)
    let audioTs = Math.floor(Math.random() * 0x7fffffff)
    const send = (track: Track | null, packet: Buffer) => {
      if (!track?.isOpen()) return
      track.sendMessageBinary(packet)
      this.packetsSent++
      this.bytesSent += packet.length
    }
    this.timers.push(
      setInterval(() => {
        if (this.restartClip) {
          this.restartClip = false
          this.frameIndex = 0
        }
        const frame = this.frames[this.frameIndex]!
        this.frameIndex = (this.frameIndex + 1) % this.frames.length
        const payloads = packetizeH264(frame)
        const rounds = this.options.padTo ?? 1
        for (let r = 0; r < rounds; r++) {
          payloads.forEach((payload, i) => send(this.video, rtp(96, seq++, ts, this.videoSsrc, i === payloads.length - 1, payload)))
        }
        ts += 90_000 / fps
      }, 1000 / fps),
      setInterval(() => {
        // A 20 ms CELT silence frame: a valid Opus packet.
        send(this.audio, rtp(111, audioSeq++, audioTs, this.audioSsrc, false, new Uint8Array([0xfc, 0xff, 0xfe])))
        audioTs += 960
      }, 20),
    )
  }

  /** Stops sending; `hangUp` also DELETEs the WHIP session (a clean stop) instead of just vanishing. */
  async stop(hangUp = true): Promise<void> {
    for (const timer of this.timers) clearInterval(timer)
    this.timers = []
    if (hangUp && this.resource) await fetch(this.resource, { method: 'DELETE', headers: { authorization: `Bearer ${this.secret}` } }).catch(() => {})
    this.pc?.close()
    this.pc = null
  }
}
