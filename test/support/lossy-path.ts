/**
 * A lossy UDP path for WebRTC tests (this kernel has no netem): a proxy between a client peer and a
 * target peer that drops a share of the RTP going one way or both, and can delay and reorder. The
 * test puts it in the media path by SDP: the client is told (in the target's description) that the
 * target is at the proxy's port, and the target is given no client candidates, so it learns the
 * proxy's far socket as a peer-reflexive candidate. STUN, DTLS and RTCP always pass.
 */
import type { udp } from 'bun'

export interface PathDirection {
  /** Share (0..1) of RTP packets dropped. */
  loss?: number
  /** Added to every packet. */
  delayMs?: number
  /** Share (0..1) of packets held back a further `reorderMs`, landing after later ones. */
  reorder?: number
  reorderMs?: number
}

export interface LossyPathOptions {
  target: { host: string; port: number }
  /** Client → target. */
  forward?: PathDirection
  /** Target → client. */
  backward?: PathDirection
  /** Seed for the drop/reorder decisions, so a failure can be replayed. */
  seed?: number
  /** Record when each RTP timestamp of this payload type first came from the client (the frames it sent), before any loss. */
  framesOfPayloadType?: number
}

export interface DirectionStats {
  packets: number
  rtp: number
  dropped: number
  reordered: number
}

export interface LossyPath {
  /** The port the client sends to. */
  port: number
  /** RTP timestamp → when it first passed (performance.now()), for `framesOfPayloadType`. */
  frames: Map<number, number>
  forward: DirectionStats
  backward: DirectionStats
  /** Changes a direction's behaviour from now on (e.g. loss only once media flows). */
  set(direction: 'forward' | 'backward', settings: PathDirection): void
  close(): void
}

/** mulberry32: small, seeded, good enough to pick packets. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** RTP, not RTCP, by RFC 7983's first-byte ranges and RFC 5761's payload types (both readable under SRTP). */
export function isRtpDatagram(data: Uint8Array): boolean {
  return data.length >= 12 && data[0]! >= 128 && data[0]! <= 191 && !(data[1]! >= 192 && data[1]! <= 223)
}

export async function startLossyPath(options: LossyPathOptions): Promise<LossyPath> {
  const random = seededRandom(options.seed ?? 1)
  const settings = { forward: { ...options.forward }, backward: { ...options.backward } }
  const stats = {
    forward: { packets: 0, rtp: 0, dropped: 0, reordered: 0 },
    backward: { packets: 0, rtp: 0, dropped: 0, reordered: 0 },
  }
  let client: { address: string; port: number } | null = null
  const frames = new Map<number, number>()
  let closed = false
  const timers = new Set<Timer>()

  const relay = (direction: 'forward' | 'backward', data: Buffer, sendNow: (data: Buffer) => void) => {
    // A peer that went away answers with ICMP, which Bun raises on the next send: a path just carries on.
    const send = (d: Buffer) => {
      try {
        sendNow(d)
      } catch {}
    }
    const s = settings[direction]
    const counts = stats[direction]
    counts.packets++
    if (isRtpDatagram(data)) {
      counts.rtp++
      if (direction === 'forward' && (data[1]! & 0x7f) === options.framesOfPayloadType) {
        const timestamp = data.readUInt32BE(4)
        if (!frames.has(timestamp)) frames.set(timestamp, performance.now())
      }
      if (s.loss && random() < s.loss) {
        counts.dropped++
        return
      }
    }
    let delay = s.delayMs ?? 0
    if (s.reorder && random() < s.reorder) {
      delay += s.reorderMs ?? 10
      counts.reordered++
    }
    if (delay <= 0) return send(data)
    // The datagram buffer is reused by the socket after the callback: keep a copy while it waits.
    const copy = Buffer.from(data)
    const timer = setTimeout(() => {
      timers.delete(timer)
      if (!closed) send(copy)
    }, delay)
    timers.add(timer)
  }

  let towardsTarget: udp.Socket<'buffer'> | null = null
  const facingClient = await Bun.udpSocket({
    hostname: '127.0.0.1',
    socket: {
      error() {
        // ICMP errors (a peer's port closed) reach UDP sockets as errors: a lossy path just carries on.
      },
      data(_socket, data, port, address) {
        client = { address, port }
        relay('forward', data, (d) => towardsTarget?.send(d, options.target.port, options.target.host))
      },
    },
  })
  towardsTarget = await Bun.udpSocket({
    hostname: '127.0.0.1',
    socket: {
      error() {},
      data(_socket, data) {
        const to = client
        if (to) relay('backward', data, (d) => facingClient.send(d, to.port, to.address))
      },
    },
  })

  return {
    port: facingClient.port,
    frames,
    forward: stats.forward,
    backward: stats.backward,
    set(direction, next) {
      settings[direction] = { ...next }
    },
    close() {
      closed = true
      for (const timer of timers) clearTimeout(timer)
      facingClient.close()
      towardsTarget?.close()
    },
  }
}

const CANDIDATE = /^a=(candidate|end-of-candidates)/

/** The description without ICE candidates: its peer can then only learn addresses from incoming checks. */
export function withoutCandidates(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((line) => !CANDIDATE.test(line))
    .join('\r\n')
}

/** The first UDP host candidate's address and port. */
export function hostCandidate(sdp: string): { host: string; port: number } {
  const match = sdp.match(/^a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host/im)
  if (!match) throw new Error('the description has no UDP host candidate')
  return { host: match[1]!, port: Number(match[2]) }
}

/** The description with its candidates replaced by one host candidate at 127.0.0.1:`port`, at the end of the first m-section (bundled). */
export function candidatesAt(sdp: string, port: number): string {
  const lines = sdp.split('\r\n').filter((line) => !CANDIDATE.test(line))
  const firstMedia = lines.findIndex((line) => line.startsWith('m='))
  if (firstMedia < 0) throw new Error('the description has no m-section')
  let end = lines.findIndex((line, i) => i > firstMedia && line.startsWith('m='))
  if (end < 0) end = lines[lines.length - 1] === '' ? lines.length - 1 : lines.length
  lines.splice(end, 0, `a=candidate:1 1 UDP 2122252543 127.0.0.1 ${port} typ host`, 'a=end-of-candidates')
  return lines.join('\r\n')
}
