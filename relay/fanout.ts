import { type Clock, monotonicClock } from '../src/clock'
import type { Logger } from '../src/log'
import { DEFAULT_PACING, Pacer, type PacingConfig } from './egress/pacing'
import { type PublishGrant, StageSession } from './egress/stage-session'
import { KeyframeRequester } from './ingest/keyframes'
import type { Arrival } from './ingest/loss-repair'
import type { PublicAddresses } from './ingest/public-addresses'
import { type MediaSink, PublisherSession } from './ingest/publisher'
import { checkOfferTransport } from './rtp/offer-check'
import { PacketHistory } from './rtp/packet-history'
import type { RtpHeader } from './rtp/rtp'
import { chooseIngestCodecs, withPublicCandidates } from './rtp/sdp'

export class PublisherConflict extends Error {}

/** A video packet waiting in the pacer: it keeps its own copy of the header (the parser reuses its object). */
interface PacedPacket {
  packet: Buffer
  header: RtpHeader
  arrival: Arrival
  keyframe: boolean
}

export interface FanoutOptions {
  grant(stageArn: string): Promise<PublishGrant>
  logger: Logger
  bindAddress?: string
  /** WEBRTC_UDP_PORT: every publisher session on this one UDP port (stage sessions keep ephemeral ports: see README "Networks"). */
  muxPort?: number
  /** WEBRTC_PUBLIC_HOSTS: added to every publisher answer as candidates on `muxPort`. */
  publicAddresses?: Pick<PublicAddresses, 'addresses'>
  keyframeIntervalMs?: number
  handshakeTimeoutMs?: number
  backoff?: { baseMs: number; capMs: number }
  /** See StageSessionDeps.feedbackTimeoutMs. */
  feedbackTimeoutMs?: number
  /** A publisher silent this long is considered gone. */
  mediaTimeoutMs?: number
  /** A publisher session not connected this long after its offer is closed (default 10 s). */
  connectTimeoutMs?: number
  /** Per forwarded packet and stage: ms from its release by the pacer to handed to the stage's track (benchmarks). */
  onForwarded?(delayMs: number): void
  /** Per video packet: ms it waited in the pacer (benchmarks). */
  onPaced?(waitMs: number): void
  /** Monotonic time for the sessions' timeouts and delays. */
  clock?: Clock
  /** Wall-clock time (the stages' sender reports); default the system's. */
  wallClock?: Clock
  /** NACK the publisher's lost video (default on; tests turn it off to show the damage). */
  repair?: boolean
  /** Egress pacing (default DEFAULT_PACING), one pacer in front of every stage. */
  pacing?: PacingConfig
  /** The publisher connected or left (the registration tells serve at once: it arbitrates the feeding relay). */
  onPublisherChange?(): void
}

/**
 * The relay's media plane: at most one publisher, one StageSession per active stage, and every
 * publisher RTP packet handed to every live stage without decoding: the same buffer, its header
 * patched for each stage in turn. Loss is repaired once, on ingest; the stages' NACKs are answered
 * from one history of the publisher's video.
 */
export class Fanout implements MediaSink {
  private publisher: PublisherSession | null = null
  readonly history = new PacketHistory(2048)
  private readonly pacer: Pacer<PacedPacket>
  private readonly stages = new Map<string, StageSession>()
  /** The same sessions as an array: the per-packet loop walks it without an iterator. */
  private stageList: StageSession[] = []
  readonly keyframes: KeyframeRequester
  private readonly clock: Clock
  private publishers = 0
  /** An offer is being answered: the slot is taken until it is. */
  private answering = false
  /** When the current publisher connected (monotonic); null before it has. */
  private connectedAt: number | null = null

  constructor(private readonly options: FanoutOptions) {
    this.clock = options.clock ?? monotonicClock
    this.keyframes = new KeyframeRequester(() => this.publisher?.requestKeyframe() ?? false, { minIntervalMs: options.keyframeIntervalMs ?? 500 }, this.clock)
    this.pacer = new Pacer<PacedPacket>(options.pacing ?? DEFAULT_PACING, this.clock, (p, waited) => {
      options.onPaced?.(waited)
      this.fanVideo(p.packet, p.header, this.clock.now(), p.arrival, p.keyframe)
    })
  }

  /** The pacer's queue and counts (one pacer for every stage's video). */
  pacingStats() {
    return this.pacer.stats()
  }

  /** Publisher sessions accepted since start. */
  get publisherSessions(): number {
    return this.publishers
  }

  /**
   * A new WHIP publisher; 409 while another one is connected (or its offer is being answered). A
   * session that is not connected (still connecting, or disconnected) is stale: the new one replaces it.
   */
  async acceptPublisher(offer: string): Promise<{ session: PublisherSession; answer: string }> {
    // An offer the relay cannot take is a 400 whoever holds the slot, and changes nothing.
    chooseIngestCodecs(offer)
    checkOfferTransport(offer)
    const current = this.publisher
    if (current && this.answering) throw new PublisherConflict("another publisher's offer is being answered; try again")
    if (current?.connected) throw new PublisherConflict('a publisher is already connected; DELETE its session first')
    // An offer the relay cannot take (400) leaves the current session alone.
    const session = new PublisherSession(offer, this, this.options.logger, {
      bindAddress: this.options.bindAddress,
      muxPort: this.options.muxPort,
      mediaTimeoutMs: this.options.mediaTimeoutMs,
      connectTimeoutMs: this.options.connectTimeoutMs,
      clock: this.clock,
      repair: this.options.repair,
    })
    current?.close('replaced by a new publisher (it had not connected)')
    this.connectedAt = null
    this.history.clear()
    this.pacer.clear()
    this.publisher = session
    let answer: string
    this.answering = true
    try {
      // Looked up while ICE gathers.
      const { muxPort, publicAddresses } = this.options
      const addresses = muxPort ? publicAddresses?.addresses() : undefined
      answer = await session.answer()
      if (muxPort && addresses) answer = withPublicCandidates(answer, await addresses, muxPort)
    } catch (error) {
      this.publisher = null
      session.close()
      throw error
    } finally {
      this.answering = false
    }
    this.publishers++
    // Every stage waits for this publisher's first keyframe.
    for (const stage of this.stages.values()) stage.resetKeyframeGate()
    this.keyframes.request()
    return { session, answer }
  }

  endPublisher(id: string): boolean {
    if (!this.publisher || this.publisher.id !== id) return false
    this.publisher.close()
    return true
  }

  get publisherSession(): PublisherSession | null {
    return this.publisher
  }

  get publisherActive(): boolean {
    return this.publisher !== null
  }

  /** How long the publisher has been connected (ICE and DTLS up); null while none is. */
  publisherAgeMs(): number | null {
    return this.publisher && this.connectedAt !== null ? Math.max(0, Math.round(this.clock.now() - this.connectedAt)) : null
  }

  /** The session's ICE and DTLS came up (once per session). */
  onConnected(session: PublisherSession): void {
    if (this.publisher !== session) return
    this.connectedAt = this.clock.now()
    this.options.onPublisherChange?.()
  }

  onEnded(session: PublisherSession): void {
    if (this.publisher !== session) return
    this.publisher = null
    const wasConnected = this.connectedAt !== null
    this.connectedAt = null
    if (wasConnected) this.options.onPublisherChange?.()
  }

  onVideo(packet: Buffer, header: RtpHeader, receivedAt: number, arrival: Arrival, keyframe: boolean): void {
    this.history.put(packet, header)
    const size = packet.byteLength
    if (arrival === 'repaired' || arrival === 'late') {
      // A repair is late already: it goes at once, its bytes counted against the pace.
      this.pacer.spend(size)
      this.fanVideo(packet, header, receivedAt, arrival, keyframe)
    } else if (this.pacer.admit(size)) this.fanVideo(packet, header, receivedAt, arrival, keyframe)
    else this.pacer.enqueue({ packet, header: { ...header }, arrival, keyframe }, size)
  }

  /** One video packet to every stage, its header patched in place for each in turn. */
  private fanVideo(packet: Buffer, header: RtpHeader, startedAt: number, arrival: Arrival, keyframe: boolean): void {
    const stages = this.stageList
    if (arrival === 'reset') for (const stage of stages) stage.reanchor('video')
    for (let i = 0; i < stages.length; i++) stages[i]!.forwardVideo(packet, header, startedAt, keyframe)
  }

  onAudio(packet: Buffer, header: RtpHeader, receivedAt: number, arrival: Arrival): void {
    const stages = this.stageList
    if (arrival === 'reset') for (const stage of stages) stage.reanchor('audio')
    for (let i = 0; i < stages.length; i++) stages[i]!.forwardAudio(packet, header, receivedAt)
  }

  onIngestLoss(): void {
    this.keyframes.request()
  }

  addStage(stageArn: string): void {
    if (this.stages.has(stageArn)) return
    const session = new StageSession(stageArn, {
      grant: this.options.grant,
      requestKeyframe: () => this.keyframes.request(),
      history: this.history,
      senderClock: (kind) => this.publisher?.senderClock(kind) ?? null,
      onForwarded: this.options.onForwarded,
      logger: this.options.logger,
      clock: this.clock,
      wallClock: this.options.wallClock,
      bindAddress: this.options.bindAddress,
      handshakeTimeoutMs: this.options.handshakeTimeoutMs,
      backoff: this.options.backoff,
      feedbackTimeoutMs: this.options.feedbackTimeoutMs,
      onRefused: (arn, reason) => {
        // Not a stage this relay feeds (a replica feeds it): let it go rather than retry.
        this.options.logger.info('the API server says this relay does not feed the stage; letting it go', { stageArn: arn, reason })
        void this.removeStage(arn)
      },
    })
    this.stages.set(stageArn, session)
    this.stageList = [...this.stages.values()]
    session.start()
  }

  async removeStage(stageArn: string): Promise<void> {
    const session = this.stages.get(stageArn)
    if (!session) return
    this.stages.delete(stageArn)
    this.stageList = [...this.stages.values()]
    await session.stop()
  }

  /** Makes the set of stage sessions equal to `arns`; a stage without media asks once more whether it has some now. */
  async syncStages(arns: string[]): Promise<void> {
    const wanted = new Set(arns)
    for (const arn of wanted) {
      const session = this.stages.get(arn)
      if (session) session.recheck()
      else this.addStage(arn)
    }
    await Promise.all([...this.stages.keys()].filter((arn) => !wanted.has(arn)).map((arn) => this.removeStage(arn)))
  }

  stageSnapshots() {
    return [...this.stages.values()].map((s) => s.snapshot())
  }

  liveStages(): string[] {
    return [...this.stages.values()].filter((s) => s.state === 'live').map((s) => s.stageArn)
  }

  async stop(): Promise<void> {
    this.keyframes.cancel()
    await Promise.all([...this.stages.keys()].map((arn) => this.removeStage(arn)))
    this.publisher?.close()
  }
}
