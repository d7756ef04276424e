import { type Clock, monotonicClock } from '../src/clock'
import type { Logger } from '../src/log'
import { KeyframeRequester } from './keyframes'
import { type MediaSink, PublisherSession } from './publisher'
import type { RtpHeader } from './rtp'
import { type PublishGrant, StageSession } from './stage-session'

export class PublisherConflict extends Error {}

export interface FanoutOptions {
  grant(stageArn: string): Promise<PublishGrant>
  logger: Logger
  bindAddress?: string
  keyframeIntervalMs?: number
  handshakeTimeoutMs?: number
  backoff?: { baseMs: number; capMs: number }
  /** See StageSessionDeps.feedbackTimeoutMs. */
  feedbackTimeoutMs?: number
  /** A publisher silent this long is considered gone. */
  mediaTimeoutMs?: number
  /** Per forwarded packet and stage: ms from its arrival to handed to the stage's track (benchmarks). */
  onForwarded?(delayMs: number): void
  /** Monotonic time for the sessions' timeouts and delays. */
  clock?: Clock
}

/**
 * The relay's media plane: at most one publisher, one StageSession per active stage, and every
 * publisher RTP packet handed to every live stage without decoding.
 */
export class Fanout implements MediaSink {
  private publisher: PublisherSession | null = null
  private readonly stages = new Map<string, StageSession>()
  readonly keyframes: KeyframeRequester
  private readonly clock: Clock
  private publishers = 0

  constructor(private readonly options: FanoutOptions) {
    this.clock = options.clock ?? monotonicClock
    this.keyframes = new KeyframeRequester(() => this.publisher?.requestKeyframe() ?? false, { minIntervalMs: options.keyframeIntervalMs ?? 500 }, this.clock)
  }

  /** Publisher sessions accepted since start. */
  get publisherSessions(): number {
    return this.publishers
  }

  /** A new WHIP publisher; 409 while another one is connected. */
  async acceptPublisher(offer: string): Promise<{ session: PublisherSession; answer: string }> {
    if (this.publisher) throw new PublisherConflict('a publisher is already connected; DELETE its session first')
    const session = new PublisherSession(offer, this, this.options.logger, {
      bindAddress: this.options.bindAddress,
      mediaTimeoutMs: this.options.mediaTimeoutMs,
      clock: this.clock,
    })
    this.publisher = session
    let answer: string
    try {
      answer = await session.answer()
    } catch (error) {
      this.publisher = null
      session.close()
      throw error
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

  onEnded(session: PublisherSession): void {
    if (this.publisher === session) this.publisher = null
  }

  onVideo(packet: Uint8Array, header: RtpHeader, receivedAt: number): void {
    for (const stage of this.stages.values()) stage.forwardVideo(packet, header, receivedAt)
  }

  onAudio(packet: Uint8Array, header: RtpHeader, receivedAt: number): void {
    for (const stage of this.stages.values()) stage.forwardAudio(packet, header, receivedAt)
  }

  addStage(stageArn: string): void {
    if (this.stages.has(stageArn)) return
    const session = new StageSession(stageArn, {
      grant: this.options.grant,
      requestKeyframe: () => this.keyframes.request(),
      onForwarded: this.options.onForwarded,
      logger: this.options.logger,
      clock: this.clock,
      bindAddress: this.options.bindAddress,
      handshakeTimeoutMs: this.options.handshakeTimeoutMs,
      backoff: this.options.backoff,
      feedbackTimeoutMs: this.options.feedbackTimeoutMs,
    })
    this.stages.set(stageArn, session)
    session.start()
  }

  async removeStage(stageArn: string): Promise<void> {
    const session = this.stages.get(stageArn)
    if (!session) return
    this.stages.delete(stageArn)
    await session.stop()
  }

  /** Makes the set of stage sessions equal to `arns`. */
  async syncStages(arns: string[]): Promise<void> {
    const wanted = new Set(arns)
    for (const arn of wanted) this.addStage(arn)
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
