import { type Clock, monotonicClock, systemClock } from '../../src/clock'
import { describeError } from '../../src/errors'
import type { Logger } from '../../src/log'
import { backoffDelay } from '../backoff'
import { gatheredDescription, newPeer, type PeerConnection, rtc } from '../peer'
import type { RtpHeader } from '../rtp/rtp'
import { negotiatedPayloadTypes } from '../rtp/sdp'
import { STAGE_CODECS, StageEgress, type StageEgressDeps } from './stage-egress'
import { whipDelete, whipPublish } from './whip-client'

/**
 * connecting → live; after any failure (a refusal by the WHIP endpoint included: the cause is in
 * `lastError`) backoff, then connecting again; stopped for good once the stage goes away.
 * `no-media`: the API server says the stage carries no media (a local stage without LOCAL_WHIP_URL):
 * nothing to connect to, so no attempts and no retries until `recheck()` asks again.
 */
export type StageSessionState = 'connecting' | 'live' | 'backoff' | 'no-media' | 'stopped'

/** What `/health` says of a stage in `no-media`, and the one log line. */
export const NO_MEDIA_NOTICE =
  'a local stage: it carries no media, so the relay does not connect to it (set LOCAL_WHIP_URL on serve to a WHIP endpoint to publish into it)'

export interface PublishGrant {
  token: string
  /** null: the stage carries no media (serve answers whipUrl null for a local stage without LOCAL_WHIP_URL). */
  whipUrl: string | null
}

export interface StageSessionDeps extends Omit<StageEgressDeps, 'clock' | 'wallClock'> {
  /** A fresh publish token (and the stage's WHIP URL) from the API server. */
  grant(stageArn: string): Promise<PublishGrant>
  logger: Logger
  /** Monotonic time for timeouts and the forwarding delay. */
  clock?: Clock
  /** Wall-clock time for the sender reports (default the system's). */
  wallClock?: Clock
  bindAddress?: string
  handshakeTimeoutMs?: number
  backoff?: { baseMs: number; capMs: number }
  /**
   * A live stage that sends no RTCP (receiver reports, feedback) for this long is treated as
   * gone: a peer that vanishes leaves the connection "connected" until ICE consent expires (~30 s).
   */
  feedbackTimeoutMs?: number
  /** The API server refused a publish token for this stage (409: the relay does not feed it, e.g. a replica-fed stage in hybrid mode). */
  onRefused?(stageArn: string, reason: string): void
}

/**
 * One stage's WHIP publish: offer, redirects, answer, then what StageEgress sends while it is live.
 * A connection that fails is retried with exponential backoff and full jitter; a failure here never
 * touches other stages.
 */
export class StageSession {
  private current: StageSessionState = 'connecting'
  private lastError: string | null = null
  private connects = 0
  private readonly egress: StageEgress
  private readonly clock: Clock
  private pc: PeerConnection | null = null
  private resource: { url: string; token: string } | null = null
  private attempt = 0
  private retryTimer: Timer | null = null
  private watchdog: Timer | null = null
  private lastFeedbackAt = 0
  private stopped = false
  /** The no-media notice is logged once per stage, not at every recheck. */
  private noMediaLogged = false

  constructor(
    readonly stageArn: string,
    private readonly deps: StageSessionDeps,
  ) {
    this.clock = deps.clock ?? monotonicClock
    this.egress = new StageEgress({ ...deps, clock: this.clock, wallClock: deps.wallClock ?? systemClock })
  }

  get videoSsrc(): number {
    return this.egress.videoSsrc
  }

  get audioSsrc(): number {
    return this.egress.audioSsrc
  }

  get state(): StageSessionState {
    return this.current
  }

  start(): void {
    void this.connect()
  }

  /** A stage in `no-media` asks the API server again (LOCAL_WHIP_URL may be set since): one token request, no WHIP attempt unless it now has an endpoint. */
  recheck(): void {
    if (this.current === 'no-media' && !this.stopped) void this.connect()
  }

  /** `packet`'s header is rewritten in place for this stage: the caller hands the same buffer to every stage. */
  forwardVideo(packet: Buffer, header: RtpHeader, receivedAt: number, keyframe: boolean): void {
    if (this.current === 'live') this.egress.forwardVideo(packet, header, receivedAt, keyframe)
  }

  forwardAudio(packet: Buffer, header: RtpHeader, receivedAt: number): void {
    if (this.current === 'live') this.egress.forwardAudio(packet, header, receivedAt)
  }

  /** The publisher changed: hold video until its first keyframe. */
  resetKeyframeGate(): void {
    this.egress.resetKeyframeGate()
  }

  /** The publisher restarted a stream's sequence numbers on the same SSRC: continue after the last packet sent. */
  reanchor(kind: 'video' | 'audio'): void {
    this.egress.reanchor(kind)
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.current = 'stopped'
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = null
    const resource = this.resource
    this.closePeer()
    if (resource) {
      await whipDelete(resource.url, resource.token).catch((error: unknown) => {
        this.deps.logger.warn('WHIP DELETE failed', { stageArn: this.stageArn, error: describeError(error) })
      })
    }
  }

  snapshot() {
    const notice = this.current === 'no-media' ? NO_MEDIA_NOTICE : null
    return { stageArn: this.stageArn, state: this.current, lastError: this.lastError, notice, connects: this.connects, ...this.egress.stats() }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return
    this.current = 'connecting'
    const timeoutMs = this.deps.handshakeTimeoutMs ?? 10_000
    try {
      const grant = await this.deps.grant(this.stageArn)
      if (this.stopped) return
      if (grant.whipUrl === null) return this.noMedia()
      const whipUrl = grant.whipUrl
      const pc = newPeer(`stage-${this.stageArn.slice(-12)}`, { bindAddress: this.deps.bindAddress })
      this.pc = pc
      const video = new rtc.Video('video', 'SendOnly')
      video.addH264Codec(STAGE_CODECS.videoPt, STAGE_CODECS.h264Fmtp)
      video.addSSRC(this.videoSsrc, 'ivs-fanout', 'ivs-fanout', 'video')
      const audio = new rtc.Audio('audio', 'SendOnly')
      audio.addOpusCodec(STAGE_CODECS.audioPt)
      audio.addSSRC(this.audioSsrc, 'ivs-fanout', 'ivs-fanout', 'audio')
      const videoTrack = pc.addTrack(video)
      const audioTrack = pc.addTrack(audio)
      // No media handler: a send goes straight to SRTP and the socket (one path, no thread hand-off);
      // the fan-out is paced before it, and NACKs are answered from the shared history.
      // A send-only track still queues the stage's RTCP (capped): always read it.
      videoTrack.onMessage((message) => {
        this.lastFeedbackAt = this.clock.now()
        this.egress.onVideoFeedback(message as Buffer, this.lastFeedbackAt)
      })
      audioTrack.onMessage((message) => {
        this.lastFeedbackAt = this.clock.now()
        this.egress.onAudioFeedback(message as Buffer, this.lastFeedbackAt)
      })
      const opened = new Promise<void>((resolve, reject) => {
        videoTrack.onOpen(() => resolve())
        pc.onStateChange((state) => {
          if (this.pc === pc && (state === 'failed' || state === 'closed')) reject(new Error(`peer connection ${state}`))
        })
      })
      opened.catch(() => {}) // observed below; a failure before that is handled by the catch
      pc.setLocalDescription()
      const offer = await gatheredDescription(pc, timeoutMs)
      const whip = await whipPublish(whipUrl, grant.token, offer, { timeoutMs })
      this.resource = { url: whip.resourceUrl, token: grant.token }
      if (this.stopped) return void (await this.stop())
      const negotiated = negotiatedPayloadTypes(whip.answer)
      pc.setRemoteDescription(whip.answer, 'answer')
      await withTimeout(opened, timeoutMs, 'the stage connection did not open')
      if (this.stopped) return
      this.egress.attach(videoTrack, audioTrack, negotiated)
      this.current = 'live'
      this.lastError = null
      this.attempt = 0
      this.connects++
      // A closed connection reports 'closed' later on: only the current one may fail the session.
      // 'disconnected' is often transient; the RTCP watchdog catches a peer that is really gone.
      pc.onStateChange((state) => {
        if (this.pc === pc && (state === 'failed' || state === 'closed')) this.fail(new Error(`peer connection ${state}`))
      })
      this.lastFeedbackAt = this.clock.now()
      const feedbackTimeoutMs = this.deps.feedbackTimeoutMs ?? 15_000
      this.watchdog = setInterval(
        () => {
          if (this.current === 'live' && this.clock.now() - this.lastFeedbackAt > feedbackTimeoutMs)
            this.fail(new Error(`no RTCP from the stage for ${feedbackTimeoutMs} ms`))
          else this.egress.sendSenderReports()
        },
        Math.min(1_000, feedbackTimeoutMs / 2),
      )
      this.deps.logger.info('stage live', { stageArn: this.stageArn })
      this.deps.requestKeyframe()
    } catch (error) {
      if ((error as { status?: unknown }).status === 409 && this.deps.onRefused) return this.deps.onRefused(this.stageArn, describeError(error))
      this.fail(error)
    }
  }

  private noMedia(): void {
    this.current = 'no-media'
    this.lastError = null
    this.attempt = 0
    if (this.noMediaLogged) return
    this.noMediaLogged = true
    this.deps.logger.warn(NO_MEDIA_NOTICE, { stageArn: this.stageArn })
  }

  private fail(error: unknown): void {
    if (this.stopped) {
      this.closePeer()
      return
    }
    if (this.retryTimer) return
    const message = describeError(error)
    this.lastError = message
    this.current = 'backoff'
    this.closePeer()
    // The old WHIP resource is gone with the connection; delete it best-effort.
    const resource = this.resource
    this.resource = null
    if (resource) void whipDelete(resource.url, resource.token).catch(() => {})
    const delay = backoffDelay(this.attempt++, this.deps.backoff ?? { baseMs: 500, capMs: 30_000 })
    this.deps.logger.warn('stage connection failed', { stageArn: this.stageArn, error: message, retryInMs: delay })
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null
      void this.connect()
    }, delay)
  }

  private closePeer(): void {
    if (this.watchdog) clearInterval(this.watchdog)
    this.watchdog = null
    this.egress.detach()
    const pc = this.pc
    this.pc = null
    try {
      pc?.close()
    } catch {}
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: Timer | undefined
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms)
    }),
  ])
}
