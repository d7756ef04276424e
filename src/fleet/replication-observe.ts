/**
 * What IVS shows of the fan-out, read for the replication planner: the participants of each origin
 * stage (which to replicate, whether the relay publishes there) and the replications running.
 * Stage operations all (5 per second per account, shared with CreateStage): two per origin
 * (GetStage + ListParticipants) and one ListParticipantReplicas per participant that may hold replicas.
 */
import type { StageParticipant, StageProvider } from '../ivs/types'
import type { ReplicationRecord } from '../store/fanout'
import type { Replication } from './replication-plan'
import type { FanoutMode } from './settings'

/** The relay publishes with a token serve issued for `relay-<serverId>` (TokenService.mediaServer). */
export const RELAY_USER_PREFIX = 'relay-'

export interface FanoutObservation {
  /** Per origin stage: the participants to replicate from it. */
  sources: Record<string, string[]>
  /** Origins where a relay participant publishes. */
  relayLive: string[]
  /** ACTIVE replications out of the origins. */
  running: Replication[]
  /** Origins IVS cannot tell about (local stages): nothing is replicated from them. */
  blind: string[]
}

export interface ObserveInput {
  mode: FanoutMode
  origins: readonly string[]
  /** Replications the last view listed: their participants are asked about even when gone (a replica outlives its source for the reconnect window). */
  known: readonly ReplicationRecord[]
  /** The relay that holds the broadcaster (publisher state), preferred when two relays publish into one origin. */
  feedingServerId: string | null
  /** A leader new to the job lists the replicas of every participant that published in each origin, not only of those it knew. */
  thorough: boolean
}

const isLive = (p: StageParticipant) => p.replicationType !== 'REPLICA' && p.published && p.state === 'CONNECTED'
const isRelay = (p: StageParticipant) => p.userId?.startsWith(RELAY_USER_PREFIX) === true

/**
 * Which participants of an origin are replicated: in replicate mode every live publisher of the
 * master but a relay's (one still publishing there after a switch from relay or hybrid mode: the
 * broadcaster's own participant is the one replicated, a relay's too would feed each stage twice);
 * in hybrid the relay's (the feeding relay's when two publish there). `eligible`: the ones that may
 * hold replicas (live or not).
 */
export function pickSources(mode: FanoutMode, participants: readonly StageParticipant[], feedingServerId: string | null) {
  const eligible = participants.filter((p) => p.replicationType !== 'REPLICA' && (mode === 'replicate' ? !isRelay(p) : isRelay(p)))
  const live = eligible.filter(isLive)
  if (mode === 'replicate') return { sources: live.map((p) => p.participantId), live, eligible }
  const feeding = live.find((p) => p.userId === `${RELAY_USER_PREFIX}${feedingServerId}`) ?? live[0]
  return { sources: feeding ? [feeding.participantId] : [], live, eligible }
}

/** A round's IVS calls by operation: IVS's rate quotas are per operation (5 TPS each), so rounds are spaced by the busiest one. */
export class OperationTally {
  private readonly counts = new Map<string, number>()

  add(operation: string): void {
    this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1)
  }

  /** The most calls of any one operation. */
  most(): number {
    return Math.max(0, ...this.counts.values())
  }
}

export async function observeFanout(provider: Pick<StageProvider, 'participants' | 'listReplicas'>, input: ObserveInput): Promise<FanoutObservation> {
  const out: FanoutObservation = { sources: {}, relayLive: [], running: [], blind: [] }
  for (const origin of input.origins) {
    const participants = await provider.participants(origin)
    if (participants === null) {
      out.blind.push(origin)
      continue
    }
    const { sources, live, eligible } = pickSources(input.mode, participants, input.feedingServerId)
    out.sources[origin] = sources
    if (input.mode === 'hybrid' && live.length > 0) out.relayLive.push(origin)

    const ask = new Set(live.map((p) => p.participantId))
    for (const r of input.known) if (r.sourceStageArn === origin) ask.add(r.participantId)
    if (input.thorough) for (const p of eligible) ask.add(p.participantId)
    for (const participantId of ask) {
      for (const replica of await provider.listReplicas(origin, participantId)) {
        if (replica.state !== 'ACTIVE') continue
        out.running.push({ sourceStageArn: origin, destinationStageArn: replica.destinationStageArn, participantId })
      }
    }
  }
  return out
}
