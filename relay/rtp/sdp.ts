/** The little SDP handling WHIP needs: find codecs, keep only the ones we forward. */

export interface Codec {
  payloadType: number
  name: string
  clockRate: number
  fmtp: Record<string, string>
}

export interface MediaSection {
  kind: string
  mid: string | null
  codecs: Codec[]
}

const lines = (sdp: string) => sdp.split(/\r?\n/).filter((l) => l.length > 0)

function parseFmtp(value: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of value.split(';')) {
    const [k, v] = part.trim().split('=')
    if (k) out[k.toLowerCase()] = (v ?? '').trim()
  }
  return out
}

export function parseMedia(sdp: string): MediaSection[] {
  const sections: (MediaSection & { order: number[] })[] = []
  let current: (MediaSection & { order: number[] }) | null = null
  for (const line of lines(sdp)) {
    if (line.startsWith('m=')) {
      const [kind, , , ...pts] = line.slice(2).split(' ')
      current = { kind: kind ?? '', mid: null, codecs: [], order: pts.map(Number).filter((n) => Number.isInteger(n)) }
      sections.push(current)
      continue
    }
    if (!current) continue
    const mid = line.match(/^a=mid:(\S+)/)
    const rtpmap = mid ? null : line.match(/^a=rtpmap:(\d+) ([^/\s]+)\/(\d+)/)
    const fmtp = mid || rtpmap ? null : line.match(/^a=fmtp:(\d+) (.*)$/)
    if (mid) current.mid = mid[1]!
    else if (rtpmap) current.codecs.push({ payloadType: Number(rtpmap[1]), name: rtpmap[2]!.toUpperCase(), clockRate: Number(rtpmap[3]), fmtp: {} })
    else if (fmtp) {
      const codec = current.codecs.find((c) => c.payloadType === Number(fmtp[1]))
      if (codec) codec.fmtp = parseFmtp(fmtp[2]!)
    }
  }
  // Codecs in the m= line's order of preference.
  return sections.map(({ kind, mid, codecs, order }) => ({
    kind,
    mid,
    codecs: order.map((pt) => codecs.find((c) => c.payloadType === pt)).filter((c): c is Codec => !!c),
  }))
}

/** H.264 we can forward to IVS untouched: packetization-mode 1, (constrained) baseline profile. */
export function isForwardableH264(codec: Codec): boolean {
  if (codec.name !== 'H264' || codec.fmtp['packetization-mode'] !== '1') return false
  const profile = codec.fmtp['profile-level-id']
  // profile_idc 0x42 = baseline (constrained baseline sets constraint flags on top); 42e0.. is what IVS takes.
  return profile === undefined || /^42[0-9a-f]{4}$/i.test(profile)
}

export interface IngestCodecs {
  video: Codec
  /** The RTX (RFC 4588) format retransmitting `video` (apt = its payload type), when offered. */
  videoRtx: Codec | null
  audio: Codec | null
}

export class SdpError extends Error {}

export function chooseIngestCodecs(offer: string): IngestCodecs {
  const media = parseMedia(offer)
  if (!media.some((m) => m.kind === 'video' || m.kind === 'audio')) throw new SdpError('the body is not an SDP offer with audio or video')
  const video = media
    .filter((m) => m.kind === 'video')
    .flatMap((m) => m.codecs)
    .find(isForwardableH264)
  if (!video)
    throw new SdpError(
      'the offer has no H.264 video with packetization-mode=1 and a baseline profile (profile-level-id 42xxxx); set the encoder to H.264 baseline',
    )
  const audio =
    media
      .filter((m) => m.kind === 'audio')
      .flatMap((m) => m.codecs)
      .find((c) => c.name === 'OPUS') ?? null
  const videoRtx =
    media
      .filter((m) => m.kind === 'video')
      .flatMap((m) => m.codecs)
      .find((c) => c.name === 'RTX' && c.fmtp.apt === String(video.payloadType)) ?? null
  return { video, videoRtx, audio }
}

/**
 * The offer with every payload type but the chosen ones removed, so the answer libdatachannel
 * derives from it accepts exactly what we take (no VP8, no red/ulpfec; RTX only for our H.264). Header
 * extensions and transport-cc go too: the relay sends no transport-wide feedback, and a browser
 * that negotiated it would starve its bandwidth estimate and send padding-only probes.
 */
export function restrictOffer(offer: string, keep: number[]): string {
  const out: string[] = []
  for (const line of lines(offer)) {
    if (line.startsWith('m=')) {
      const [kind, port, proto, ...pts] = line.slice(2).split(' ')
      const kept = pts.filter((pt) => keep.includes(Number(pt)))
      out.push(`m=${kind} ${kept.length ? port : '0'} ${proto} ${kept.length ? kept.join(' ') : (pts[0] ?? '0')}`)
      continue
    }
    const pt = line.match(/^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)/)
    if (pt && !keep.includes(Number(pt[1]))) continue
    if (line.startsWith('a=extmap:') || /^a=rtcp-fb:\S+ transport-cc/.test(line)) continue
    out.push(line)
  }
  return `${out.join('\r\n')}\r\n`
}

/** The payload types the answer accepted for our H.264 and Opus. */
export function negotiatedPayloadTypes(answer: string): { video: number | null; audio: number | null } {
  const media = parseMedia(answer)
  const video = media
    .filter((m) => m.kind === 'video')
    .flatMap((m) => m.codecs)
    .find((c) => c.name === 'H264')
  const audio = media
    .filter((m) => m.kind === 'audio')
    .flatMap((m) => m.codecs)
    .find((c) => c.name === 'OPUS')
  return { video: video?.payloadType ?? null, audio: audio?.payloadType ?? null }
}

/**
 * Priority of a public candidate: host type (126), the highest local preference, component 1
 * (RFC 8445 §5.1.2.1), less one local-preference step per further address. Above the relay's own
 * host candidates, so a publisher on the internet tries the address that can work first.
 */
export const PUBLIC_CANDIDATE_PRIORITY = (126 << 24) + (65535 << 8) + 255

/** Each address as a UDP host candidate at `port`, with its own foundation (`pub1`, `pub2`, …). */
export function publicCandidateLines(addresses: string[], port: number): string[] {
  return addresses.map((address, i) => `a=candidate:pub${i + 1} 1 UDP ${PUBLIC_CANDIDATE_PRIORITY - i * 256} ${address} ${port} typ host`)
}

/**
 * The description with a host candidate at `port` for each address (a 1:1 NAT's public side), put
 * where the description keeps its own candidates: in every m-section that has some, before its
 * `a=end-of-candidates`; in the first accepted m-section when none has any. An address already a
 * candidate on that port is not added twice.
 */
export function withPublicCandidates(sdp: string, addresses: string[], port: number): string {
  const out = lines(sdp)
  const taken = new Set(out.flatMap((l) => l.match(/^a=candidate:\S+ \d+ udp \d+ (\S+ \d+) /i)?.slice(1) ?? []).map((a) => a.toLowerCase()))
  const fresh = [...new Set(addresses)].filter((a) => !taken.has(`${a.toLowerCase()} ${port}`))
  if (fresh.length === 0) return `${out.join('\r\n')}\r\n`
  const added = publicCandidateLines(fresh, port)
  const starts = out.flatMap((l, i) => (l.startsWith('m=') ? [i] : []))
  const sections = starts.map((start, k) => ({ start, end: starts[k + 1] ?? out.length }))
  const hasCandidates = (s: { start: number; end: number }) => out.slice(s.start, s.end).some((l) => /^a=(candidate|end-of-candidates)/.test(l))
  let targets = sections.filter(hasCandidates)
  if (targets.length === 0) targets = sections.filter((s) => !/^m=\S+ 0 /.test(out[s.start]!)).slice(0, 1)
  // From the last section back, so earlier indexes stay valid.
  for (const section of targets.reverse()) {
    const body = out.slice(section.start, section.end)
    const end = body.indexOf('a=end-of-candidates')
    const lastCandidate = body.findLastIndex((l) => l.startsWith('a=candidate:'))
    const at = end >= 0 ? end : lastCandidate >= 0 ? lastCandidate + 1 : body.length
    out.splice(section.start + at, 0, ...added)
  }
  return `${out.join('\r\n')}\r\n`
}
