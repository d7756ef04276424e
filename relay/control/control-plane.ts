import { describeError } from '../../src/errors'
import type { Logger } from '../../src/log'
import { backoffDelay } from '../backoff'
import type { RelayConfig } from '../config'
import type { PublishGrant } from '../egress/stage-session'
import type { MediaReport } from './media-report'

interface StageInfo {
  stageArn: string
}

type Config = Pick<RelayConfig, 'apiServerUrl' | 'apiSecretKey' | 'mediaServerSecret' | 'serverId' | 'serverIp' | 'port' | 'whipEndpoint'>

/** What a heartbeat reports: the original media server's fields, the publisher's age, and (for the dashboard) the media. */
export interface RelayReport extends Partial<MediaReport> {
  publisherActive: boolean
  connectedStages: string[]
  /** How long the publisher has been connected (null: none is): serve decides the feeding relay by it. */
  publisherAgeMs: number | null
}

/** The stage list, and who feeds the stages (undefined: the API server does not say). */
export interface StageList {
  arns: string[]
  feedingRelay?: string | null
}

/** Handlers of the API server's event feed. */
export interface StageEvents {
  onEvent(type: string, data: Record<string, unknown>): void
  /** Every (re)connect, so the caller can re-sync what it may have missed. */
  onOpen(): void
  /** Every close or failed connection attempt (including the final close). */
  onClose?(info: { code: number; reason: string }): void
}

export class ControlPlaneError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message)
  }
}

/** The relay's calls to the API server (`/api/media/*`) and its `/ws?type=media-server` feed. */
export interface ControlPlaneOptions {
  /** Event-socket reconnects (default 500 ms doubling up to 15 s, full jitter). */
  backoff?: { baseMs: number; capMs: number }
}

/** Default backoff of the relay's calls to the API server (registration retries, event-socket reconnects). */
export const CONTROL_BACKOFF = { baseMs: 500, capMs: 15_000 }

export class ControlPlane {
  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly options: ControlPlaneOptions = {},
  ) {}

  private headers(): Record<string, string> {
    return {
      'x-api-key': this.config.apiSecretKey,
      ...(this.config.mediaServerSecret ? { 'x-media-auth': this.config.mediaServerSecret } : {}),
      'content-type': 'application/json',
    }
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response
    try {
      response = await fetch(`${this.config.apiServerUrl}${path}`, {
        method,
        headers: this.headers(),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      })
    } catch (error) {
      throw new ControlPlaneError(`API server not reachable: ${describeError(error)}`, null)
    }
    const json = (await response.json().catch(() => null)) as { success?: boolean; data?: T; error?: { code: string; message: string } } | null
    if (!response.ok || !json?.success) {
      throw new ControlPlaneError(
        `${method} ${path} answered ${response.status}${json?.error ? ` ${json.error.code}: ${json.error.message}` : ''}`,
        response.status,
      )
    }
    return json.data as T
  }

  async register(): Promise<string[]> {
    const data = await this.call<{ stages: StageInfo[] }>('POST', '/api/media/register', {
      serverId: this.config.serverId,
      ipAddress: this.config.serverIp,
      port: this.config.port,
    })
    return data.stages.map((s) => s.stageArn)
  }

  async stages(): Promise<StageList> {
    const data = await this.call<{ stages: StageInfo[]; feedingRelay?: string | null }>(
      'GET',
      `/api/media/stages?serverId=${encodeURIComponent(this.config.serverId)}`,
    )
    const feedingRelay = typeof data.feedingRelay === 'string' || data.feedingRelay === null ? data.feedingRelay : undefined
    return { arns: data.stages.map((s) => s.stageArn), feedingRelay }
  }

  async grant(stageArn: string): Promise<PublishGrant> {
    const data = await this.call<{ token: string; whipUrl: string | null }>('POST', '/api/media/token', { serverId: this.config.serverId, stageArn })
    // A stage without a WHIP URL carries no media (a local stage): WHIP_ENDPOINT, meant for IVS's stages, does not apply to it.
    return { token: data.token, whipUrl: data.whipUrl === null ? null : (this.config.whipEndpoint ?? data.whipUrl) }
  }

  /**
   * Reports state. A ControlPlaneError with status 404 means the API server no longer knows this relay
   * (it restarted, or timed the relay out): the caller registers again.
   */
  async heartbeat(state: RelayReport): Promise<void> {
    await this.call('POST', '/api/media/heartbeat', { serverId: this.config.serverId, ...state })
  }

  /**
   * Follows stage events over the WebSocket, reconnecting with backoff and jitter. `onOpen` runs on
   * every (re)connect so the caller can re-sync what it may have missed; `onClose` every time the
   * socket closes or a connection attempt fails (including the final close).
   */
  follow(handlers: StageEvents): { close(): void } {
    let closed = false
    let attempt = 0
    let socket: WebSocket | null = null
    let timer: Timer | null = null
    const url = `${this.config.apiServerUrl.replace(/^http/, 'ws')}/ws?type=media-server`
    const connect = () => {
      if (closed) return
      socket = new WebSocket(url, { headers: this.headers() } as never)
      socket.onopen = () => {
        attempt = 0
        this.logger.info('following API server events', { url })
        handlers.onOpen()
      }
      socket.onmessage = (event) => {
        try {
          const message = JSON.parse(String(event.data)) as { type: string; data: Record<string, unknown> }
          handlers.onEvent(message.type, message.data ?? {})
        } catch {}
      }
      socket.onclose = (event) => {
        socket = null
        handlers.onClose?.({ code: event.code, reason: event.reason })
        if (closed) return
        const delay = backoffDelay(attempt++, this.options.backoff ?? CONTROL_BACKOFF)
        this.logger.warn('event socket closed; reconnecting', { code: event.code, reason: event.reason, retryInMs: delay })
        timer = setTimeout(connect, delay)
      }
    }
    connect()
    return {
      close() {
        closed = true
        if (timer) clearTimeout(timer)
        socket?.close()
      },
    }
  }
}
