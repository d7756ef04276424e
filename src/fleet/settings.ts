/**
 * The settings each fleet service reads. The fleet owns these shapes; config/settings.ts builds them
 * once from the environment's configuration, so policy is decided in one tested place.
 */

/**
 * The fleet's ceilings for new viewers (fleet/admission.ts). A stage's capacity is not here: it
 * comes with each stage the store reads (StageView.capacity).
 */
export interface AdmissionLimits {
  maxStages: number
  /** New viewers are refused once the fleet holds this many (IVS_MAX_SUBSCRIPTIONS). */
  maxSubscriptions: number
  /** What `maxStages` is: MAX_STAGES itself (the default), or replicate mode's 1 + 5 stages below it. */
  ceiling?: StageCeiling
}

/**
 * What stops the fleet growing: MAX_STAGES, or in FANOUT_MODE=replicate IVS's 5 replicas per
 * participant (the master and 5 replicas) when MAX_STAGES is higher.
 */
export type StageCeiling = 'max-stages' | 'replication-quota'

/** How media reaches the stages (FANOUT_MODE, DESIGN §7). */
export type FanoutMode = 'relay' | 'replicate' | 'hybrid'

/** What the leader's participant replication reads (fleet/replication.ts). */
export interface ReplicationSettings {
  mode: FanoutMode
  /** 0-300: how long a replica survives its source's absence (REPLICATION_RECONNECT_WINDOW_SECONDS). */
  reconnectWindowSeconds: number
  /** The leader reads IVS (participants, replicas) this often when every stage has its feed. */
  intervalMs: number
  /** … and this often while something is missing (a replica to start, a handover to finish). */
  pendingIntervalMs: number
  /** Rounds are spaced so they average at most this many calls a second of any one IVS operation (IVS's rate quotas are per operation: 5 TPS each). */
  operationsPerSecond: number
  /** A participant IVS refused (409 not publishing yet, 402 …) is asked again after this, doubling … */
  retryBaseMs: number
  /** … up to this. */
  retryMaxMs: number
}

export interface StageSettings {
  /** Names the fleet: its stages carry the `ivs-fanout:fleet` tag with this value. */
  fleetId: string
  maxStages: number
  /** What `maxStages` is (named in the refusal when it is reached); MAX_STAGES unless said otherwise. */
  ceiling?: StageCeiling
  /** The configured master stage, or null to use the remembered one (or create it). */
  masterStageArn: string | null
}

/** A store lease held across instances (fleet/store-lock.ts). */
export interface StoreLockSettings {
  /** This instance, as holder of store locks. */
  instanceId: string
  /** The lock is held at least this long per task (the creation lock: IVS's 5 stage operations per second). */
  spacingMs: number
  /** A holder that dies (stops renewing) loses the lock after this long: a few seconds. */
  leaseMs: number
  /** The holder renews the lease this often while it works, well within `leaseMs`. */
  renewMs: number
  /** Pause between attempts while another holder has the lock. */
  pollMs: number
  /** How long `run` waits for a busy lock before giving up. */
  maxWaitMs: number
}

export type CreateLockSettings = StoreLockSettings

/** The admission limits are named in the CAPACITY_EXHAUSTED messages; the store holds new viewers to maxSubscriptions. */
export interface ViewerSettings extends AdmissionLimits {
  heartbeatIntervalMs: number
  viewerTokenTtlMin: number
  /** A request that found no seat waits at most this long for new stages before 503. */
  seatWaitMs: number
}

export interface RelaySettings {
  /** A relay silent this long is offline (MEDIA_SERVER_TIMEOUT_MS). */
  offlineAfterMs: number
  /** With no relay online, IVS is asked about the publisher at most this often. */
  probeIntervalMs: number
}

export interface TokenSettings {
  publisherTokenTtlMin: number
}

/** What the autoscaler's decisions read (fleet/scaling.ts). */
export interface ScalingPolicy {
  scaleUpThreshold: number
  scaleDownThreshold: number
  maxStages: number
  stageWarmupMs: number
  /** A draining stage is deleted after this long even if viewers remain. */
  drainGraceMs: number
}

export interface LoopSettings {
  tickMs: number
  heartbeatTimeoutMs: number
  policy: ScalingPolicy
}

export interface HeartbeatBatchSettings {
  /** Heartbeats arriving within this window are written in one store call; 0 writes each at once. */
  windowMs: number
  maxBatch: number
}

export interface FleetSettings {
  /** What the stats report as the reason new viewers are refused (the viewers' settings hold the same). */
  admission: AdmissionLimits
  stages: StageSettings
  createLock: CreateLockSettings
  /** The fan-out's lock: every read-modify-write of store.fanout (rounds, a new stage's, a deleted stage's) holds it. */
  fanoutLock: StoreLockSettings
  viewers: ViewerSettings
  tokens: TokenSettings
  relays: RelaySettings
  replication: ReplicationSettings
  loop: LoopSettings
  heartbeats: HeartbeatBatchSettings
  leaderLeaseMs: number
  /** Polling interval of the event feed for stores that cannot block. */
  eventPollMs: number
  /** How long one blocking read of the event stream waits (native Redis). */
  eventWaitMs: number
  statsIntervalMs: number
}
