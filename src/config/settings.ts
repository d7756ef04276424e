import { REPLICATE_MAX_STAGES } from '../fleet/admission'
import type { FleetSettings, StageCeiling } from '../fleet/settings'
import { fleetIdOf } from './fleet'
import { IVS_MAX_RECONNECT_WINDOW_SECONDS, type ServeConfig } from './serve'

/** What the settings depend on besides the configuration: facts known only once serve starts. */
export interface RuntimeFacts {
  /** This process, as holder of store locks and leases. */
  instanceId: string
  storeKind: string
  providerKind: 'aws' | 'local'
}

/** IVS allows 5 stage operations per second per account: one creation per 250 ms fleet-wide stays well inside. */
const AWS_CREATE_SPACING_MS = 250
/** A remote store gets heartbeats in one pipeline per window; the memory store takes each directly. */
/** The stage-creation lock's lease (issue 20 item 10: a 30 s lease stalled the fleet's creations when its holder died). */
const CREATE_LOCK_LEASE_MS = 3_000
const REMOTE_HEARTBEAT_WINDOW_MS = 200
const HEARTBEAT_MAX_BATCH = 5_000

/**
 * Every policy number serve runs with, decided once from the configuration: the one place where
 * derived values (tick length, heartbeat window, create spacing) are chosen.
 */
export function fleetSettings(config: ServeConfig, facts: RuntimeFacts): FleetSettings {
  // STAGE_CAPACITY is not among them: the store is opened with it and every stage it reads carries it.
  // In replicate mode the master's broadcaster is replicated into every other stage, 5 at most: the
  // fleet stops at 6 stages (admission, scaling and POST /api/stage alike), named as such when it is
  // below MAX_STAGES.
  const replicate = config.fanoutMode === 'replicate'
  const maxStages = replicate ? Math.min(config.maxStages, REPLICATE_MAX_STAGES) : config.maxStages
  const ceiling: StageCeiling = maxStages < config.maxStages ? 'replication-quota' : 'max-stages'
  const admission = { maxStages, maxSubscriptions: config.ivsMaxSubscriptions, ceiling }
  return {
    admission,
    stages: {
      // The fleet tag's value: the key prefix without what a tag value cannot hold.
      fleetId: fleetIdOf(config.redisKeyPrefix),
      maxStages,
      ceiling,
      masterStageArn: config.masterStageArn,
    },
    createLock: {
      instanceId: facts.instanceId,
      spacingMs: facts.providerKind === 'aws' ? AWS_CREATE_SPACING_MS : 0,
      // Short, and renewed by its holder while it works: a holder that dies costs the fleet one lease
      // of no stage creation, not more. Three renewals a lease: one may be late or fail, and the
      // instances' clocks may differ by up to leaseMs - renewMs (the taker's clock reads the
      // expiry), before anyone could take a lock that is still held.
      leaseMs: CREATE_LOCK_LEASE_MS,
      renewMs: CREATE_LOCK_LEASE_MS / 3,
      pollMs: 50,
      maxWaitMs: 15_000,
    },
    // The fan-out's lock: a round holds it while it plans, calls IVS and writes the view (its IVS reads
    // come before, without it); a new or deleted stage's hook, and the round, wait for it at most 3 s
    // (a hook then leaves its stage to the leader's next round).
    fanoutLock: {
      instanceId: facts.instanceId,
      spacingMs: 0,
      leaseMs: CREATE_LOCK_LEASE_MS,
      renewMs: CREATE_LOCK_LEASE_MS / 3,
      pollMs: 50,
      maxWaitMs: 3_000,
    },
    viewers: {
      ...admission,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      viewerTokenTtlMin: config.viewerTokenTtlMin,
      seatWaitMs: 20_000,
    },
    tokens: { publisherTokenTtlMin: config.publisherTokenTtlMin },
    relays: { offlineAfterMs: config.mediaServerTimeoutMs, probeIntervalMs: 5_000 },
    replication: {
      mode: config.fanoutMode,
      reconnectWindowSeconds: Math.min(config.replicationReconnectWindowSeconds, IVS_MAX_RECONNECT_WINDOW_SECONDS),
      // Rounds read IVS (GetStage and ListParticipants per origin, ListParticipantReplicas per
      // participant that may hold replicas): every 5 s when each stage has its feed, every 2 s while
      // one is missing, and never more than about 2 calls a second of any one operation on average
      // (IVS's rate quotas are per operation, 5 TPS each), so the leader's rounds leave most of each.
      intervalMs: 5_000,
      pendingIntervalMs: 2_000,
      operationsPerSecond: 2,
      retryBaseMs: 2_000,
      retryMaxMs: 30_000,
    },
    loop: {
      // Several ticks per lease, so a leader renews well before its lease runs out.
      tickMs: Math.min(1_000, Math.floor(config.leaderLeaseMs / 3)),
      heartbeatTimeoutMs: config.heartbeatTimeoutMs,
      policy: {
        scaleUpThreshold: config.scaleUpThreshold,
        scaleDownThreshold: config.scaleDownThreshold,
        maxStages,
        stageWarmupMs: config.stageWarmupMs,
        drainGraceMs: config.drainGraceMs,
      },
    },
    heartbeats: { windowMs: facts.storeKind === 'memory' ? 0 : REMOTE_HEARTBEAT_WINDOW_MS, maxBatch: HEARTBEAT_MAX_BATCH },
    leaderLeaseMs: config.leaderLeaseMs,
    eventPollMs: 200,
    eventWaitMs: 2_000,
    statsIntervalMs: 1_000,
  }
}
