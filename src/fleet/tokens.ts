import { AppError } from '../errors'
import type { Capability, IssuedToken, TokenIssuer } from '../ivs/types'
import type { Counters } from '../metrics/counters'
import type { StageView } from '../store/types'
import { RELAY_USER_PREFIX } from './replication-observe'
import type { TokenSettings } from './settings'

export interface PublishToken extends IssuedToken {
  stageArn: string
  /** null: the stage carries no media (a local stage without LOCAL_WHIP_URL), there is nowhere to publish. */
  whipUrl: string | null
  capabilities: Capability[]
}

/** The stages a publish token can be for. */
export interface PublishTargets {
  master(): Promise<StageView>
  require(arn: string): Promise<StageView>
}

/** Which stages a relay publishes into (ReplicationService): all in relay mode, origins in hybrid, none in replicate. */
export interface RelayTargets {
  readonly mode: string
  relayFeeds(stageArn: string): Promise<boolean>
}

/**
 * Publish tokens: the broadcaster's for the master stage, and a relay's for any stage the relay
 * feeds (a stage fed by a replica gets no relay token: it would carry the broadcaster twice).
 * Viewer tokens are seated by ViewerService.
 */
export class TokenService {
  constructor(
    private readonly deps: { stages: PublishTargets; issuer: TokenIssuer; counters: Counters; relayTargets?: RelayTargets },
    private readonly settings: TokenSettings,
  ) {}

  async publisher(input: { userId: string; attributes?: Record<string, string>; durationMinutes?: number }): Promise<PublishToken> {
    const master = await this.deps.stages.master()
    return this.issue(master, ['PUBLISH', 'SUBSCRIBE'], 'publisher', {
      userId: input.userId,
      attributes: input.attributes ?? {},
      durationMinutes: input.durationMinutes ?? this.settings.publisherTokenTtlMin,
    })
  }

  async mediaServer(input: { serverId: string; stageArn: string }): Promise<PublishToken> {
    const stage = await this.deps.stages.require(input.stageArn)
    const targets = this.deps.relayTargets
    if (targets && !(await targets.relayFeeds(stage.arn))) {
      throw new AppError(
        'CONFLICT',
        targets.mode === 'replicate'
          ? 'FANOUT_MODE=replicate: no relay publishes into the stages (the broadcaster publishes into the master and IVS replicates it)'
          : `FANOUT_MODE=${targets.mode}: stage ${stage.arn} is fed by a replica of an origin stage; the relay publishes into origins only (GET /api/media/stages)`,
        { stageArn: stage.arn },
      )
    }
    return this.issue(stage, ['PUBLISH'], 'mediaserver', {
      // Named so the fan-out tells the relay's participants from a broadcaster's (replication-observe.ts).
      userId: `${RELAY_USER_PREFIX}${input.serverId}`,
      attributes: { role: 'relay', serverId: input.serverId },
      durationMinutes: this.settings.publisherTokenTtlMin,
    })
  }

  private async issue(
    stage: StageView,
    capabilities: Capability[],
    kind: 'publisher' | 'mediaserver',
    who: { userId: string; attributes: Record<string, string>; durationMinutes: number },
  ): Promise<PublishToken> {
    const issued = await this.deps.issuer.issue({ stage, capabilities, ...who })
    this.deps.counters.add('TokensIssued', 1, { kind })
    return { ...issued, stageArn: stage.arn, whipUrl: stage.endpoints.whip, capabilities }
  }
}
