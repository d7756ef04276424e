import { readFileSync } from 'node:fs'
import nodeDataChannel from 'node-datachannel'
import { gatheredDescription, type PeerConnection, type Track } from '../../relay/peer'
import { buildSenderReport, findKeyframeRequest, parseRtcp } from '../../relay/rtp/rtcp'

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
  /** Answer NACKs from a buffer of sent video (libdatachannel's RtcpNackResponder, as OBS does; default true). */
  answerNacks?: boolean
  /**
   * Send RTCP sender reports once a second whose NTP clock is `ntpOffsetMs` away from this machine's
   * wall clock (the publisher's own clock): see `senderClock` for the mapping they carry.
   */
  senderReports?: { ntpOffsetMs: number }
  /** Publish somewhere else than `${relayUrl}/whip` with the publish secret (e.g. straight to a stage endpoint). */
  whip?: { url: string; token: string }
  /** Rewrite the offer before it is sent and the answer before it is applied (to route media through a lossy path). */
  transformOffer?(sdp: string): string
  transformAnswer?(sdp: string): string | Promise<string>
}

/** A publisher's NTP ↔ RTP mapping: RTP timestamp `rtp` of a stream is NTP time `ntpMs` (ms since 1970), at the stream's clock rate. */
export interface MediaClock {
  ntpMs: number
  rtp: number
  clockRate: number
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
  private resourceToken = ''
  private frames = readAccessUnits()
  private frameIndex = 0
  private restartClip = false
  pliReceived = 0
  packetsSent = 0
  bytesSent = 0
  framesSent = 0
  /** Sequence numbers asked for by NACK (each retry counts). */
  nackedSequences = 0
  senderReportsSent = 0
  /** Sent video payloads by hash (of packets over 200 bytes) → their RTP timestamp: a receiver's packet matched to what was sent. */
  readonly sentVideo = new Map<bigint | number, number>()
  /** The mapping this publisher's sender reports carry, per stream (set once streaming starts). */
  senderClock: { video: MediaClock; audio: MediaClock } | null = null

  constructor(
    private readonly relayUrl: string,
    private readonly secret: string,
    private readonly options: TestPublisherOptions = {},
  ) {}

  /** Publishes; resolves once media is flowing. */
  async start(): Promise<void> {
    try {
      await this.connect()
    } catch (error) {
      // libdatachannel now and then tears down this peer's ICE transport before the answer is applied
      // ("Got a remote candidate without ICE transport"), a race on our side of the test, not the
      // relay's: say so and try once more (the relay replaces a session that never connected).
      if (!String(error).includes('without ICE transport')) throw error
      console.warn(`test publisher: ${String(error)}; trying once more`)
      this.pc?.close()
      await this.connect()
    }
  }

  private async connect(): Promise<void> {
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
    if (this.options.answerNacks !== false) this.video.setMediaHandler(new nodeDataChannel.RtcpNackResponder(2048))
    this.video.onMessage((message) => {
      const packet = message as Buffer
      if (findKeyframeRequest(packet)) {
        this.pliReceived++
        if (this.options.honourPli) this.restartClip = true
      }
      for (const nack of parseRtcp(packet).nacks) this.nackedSequences += nack.sequences.length
    })
    this.audio.onMessage(() => {})
    const open = new Promise<void>((resolve) => this.video!.onOpen(() => resolve()))
    pc.setLocalDescription()
    let offer = await gatheredDescription(pc, 5_000)
    if (this.options.transformOffer) offer = this.options.transformOffer(offer)
    const whipUrl = this.options.whip?.url ?? `${this.relayUrl}/whip`
    const token = this.options.whip?.token ?? this.secret
    const response = await fetch(whipUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/sdp' },
      body: offer,
    })
    if (response.status !== 201) throw new Error(`WHIP endpoint answered ${response.status}: ${await response.text()}`)
    this.resource = new URL(response.headers.get('location')!, whipUrl).toString()
    this.resourceToken = token
    let answer = await response.text()
    if (this.options.transformAnswer) answer = await this.options.transformAnswer(answer)
    pc.setRemoteDescription(answer, 'answer')
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
    const reports = this.options.senderReports
    if (reports) {
      // The publisher's clock: its NTP time runs ntpOffsetMs from ours; RTP advances with it at the nominal rate.
      const t0 = performance.now()
      const ntp0 = Date.now() + reports.ntpOffsetMs
      this.senderClock = { video: { ntpMs: ntp0, rtp: ts, clockRate: 90_000 }, audio: { ntpMs: ntp0, rtp: audioTs, clockRate: 48_000 } }
      const report = (track: Track | null, ssrc: number, clock: MediaClock, elapsed: number) => {
        const rtpTimestamp = (clock.rtp + Math.round((elapsed * clock.clockRate) / 1000)) >>> 0
        if (!track?.isOpen()) return
        track.sendMessageBinary(buildSenderReport({ ssrc, ntpMs: clock.ntpMs + elapsed, rtpTimestamp, packets: this.packetsSent, octets: this.bytesSent }))
        this.senderReportsSent++
      }
      this.timers.push(
        setInterval(() => {
          const elapsed = performance.now() - t0
          report(this.video, this.videoSsrc, this.senderClock!.video, elapsed)
          report(this.audio, this.audioSsrc, this.senderClock!.audio, elapsed)
        }, 1_000),
      )
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
        for (const payload of payloads) if (payload.length > 200) this.sentVideo.set(Bun.hash(payload), ts >>> 0)
        this.framesSent++
        const rounds = this.options.padTo ?? 1
        for (let r = 0; r < rounds; r++) {
          payloads.forEach((payload, i) => send(this.video, rtp(96, seq++, ts, this.videoSsrc, i === payloads.length - 1, payload)))
        }
        ts += 90_000 / fps
      }, 1000 / fps),
      setInterval(() => {
        // A 20 ms CELT frame (TOC 0xfc), carrying this packet's own RTP timestamp so a receiver can tell its offset.
        const payload = Buffer.from([0xfc, 0, 0, 0, 0])
        payload.writeUInt32BE(audioTs >>> 0, 1)
        send(this.audio, rtp(111, audioSeq++, audioTs, this.audioSsrc, false, payload))
        audioTs += 960
      }, 20),
    )
  }

  /** Stops sending; `hangUp` also DELETEs the WHIP session (a clean stop) instead of just vanishing. */
  async stop(hangUp = true): Promise<void> {
    for (const timer of this.timers) clearInterval(timer)
    this.timers = []
    if (hangUp && this.resource) await fetch(this.resource, { method: 'DELETE', headers: { authorization: `Bearer ${this.resourceToken}` } }).catch(() => {})
    this.pc?.close()
    this.pc = null
  }
}
