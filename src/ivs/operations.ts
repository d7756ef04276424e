/**
 * Every ivs-realtime operation this product calls, who calls it and when: the one list that
 * IvsRealTimeApi's calls are typed by (a call of an operation not listed here does not compile) and
 * that `ivs-fanout iam-policy` prints the IAM actions from. test/cli/iam-policy-calls.test.ts runs
 * every AWS path against the IVS test server and fails when a call is missing from the policy or the
 * policy names an action nothing called.
 */

/** What an IAM statement may name as the resource (IVS's service authorization reference). */
export type IvsResourceType = 'stage' | 'public-key' | 'any'

/**
 * How `iam-policy` scopes a stage action (IVS takes `aws:RequestTag/…` and `aws:ResourceTag/…` on
 * stage actions): `read` on any stage of the account and Region (discovery: re-adopting tagged
 * stages, the master at start, replication's view); `create` only with the fleet tag in the request;
 * `owned` only on stages that carry the fleet tag, and on MASTER_STAGE_ARN where `onMaster`.
 */
export type StageAccess = 'read' | 'create' | 'owned'

/** The configuration that decides which of serve's calls happen. */
export interface IvsCallContext {
  fanoutMode: 'relay' | 'replicate' | 'hybrid'
  /** Tokens signed locally with IVS_PRIVATE_KEY (no CreateParticipantToken). */
  selfSignedTokens: boolean
}

export interface IvsOperationUse {
  /** The resource the IAM action is authorised on: a stage or public-key ARN, or "*" only. */
  resource: IvsResourceType
  /** serve's own calls, when this configuration makes them (undefined: serve never calls it). */
  serve?: (context: IvsCallContext) => boolean
  /** Operator commands that call it. */
  operator?: readonly ('doctor' | 'keys')[]
  /** More IAM actions the request is authorised against (CreateStage's tags: ivs:TagResource). */
  alsoAuthorizes?: readonly string[]
  /** For stage actions: how the policy scopes it (the actions in alsoAuthorizes alike). */
  access?: StageAccess
  /** An `owned` action serve also calls on the master stage, which the operator may have made without the fleet tag. */
  onMaster?: boolean
  why: string
}

const always = () => true
const replicating = (c: IvsCallContext) => c.fanoutMode !== 'relay'

export const IVS_OPERATION_USES = {
  CreateParticipantToken: {
    resource: 'stage',
    access: 'owned',
    onMaster: true,
    serve: (c) => !c.selfSignedTokens,
    why: 'viewer and publisher tokens, without a self-signed key',
  },
  CreateStage: {
    resource: 'stage',
    access: 'create',
    serve: always,
    // Stages are created with the fleet tag; IVS authorises tags on create as ivs:TagResource.
    alsoAuthorizes: ['TagResource'],
    why: 'the master (unless MASTER_STAGE_ARN) and the stages scaling adds',
  },
  GetStage: {
    resource: 'stage',
    access: 'read',
    serve: always,
    operator: ['doctor'],
    why: 'the master at start, adopted stages, a stage session before ListParticipants',
  },
  UpdateStage: { resource: 'stage', access: 'owned', onMaster: true, serve: always, why: 'PUT /api/stage/:arn renames a stage' },
  // Never the master: DELETE /api/stage/:arn refuses it and scale-down never picks it.
  DeleteStage: { resource: 'stage', access: 'owned', serve: always, why: 'scale-down and DELETE /api/stage/:arn' },
  ListStages: {
    resource: 'stage',
    access: 'read',
    serve: always,
    operator: ['doctor'],
    why: "re-adopting the fleet's tagged stages; /health/ready's IVS check",
  },
  ListParticipants: {
    resource: 'stage',
    access: 'read',
    serve: always,
    why: "with no relay online, whether the broadcaster publishes into the master; replication's sources",
  },
  // The master is the replications' source: IVS authorises the call on both stages.
  StartParticipantReplication: {
    resource: 'stage',
    access: 'owned',
    onMaster: true,
    serve: replicating,
    why: 'FANOUT_MODE replicate/hybrid: a source into each stage',
  },
  // In relay mode too: replications a replicate/hybrid run left are stopped.
  StopParticipantReplication: {
    resource: 'stage',
    access: 'owned',
    onMaster: true,
    serve: always,
    why: 'replications no longer wanted; in relay mode, those an earlier mode left',
  },
  ListParticipantReplicas: { resource: 'stage', access: 'read', serve: replicating, why: 'FANOUT_MODE replicate/hybrid: what each source feeds' },
  GetPublicKey: { resource: 'public-key', operator: ['doctor'], why: 'doctor: the private key belongs to IVS_PUBLIC_KEY_ARN' },
  ListPublicKeys: { resource: 'any', operator: ['keys'], why: 'keys list / rotate / retire' },
  // keys tags the keys it imports (ivs:TagResource, as for CreateStage).
  ImportPublicKey: { resource: 'public-key', operator: ['keys'], alsoAuthorizes: ['TagResource'], why: 'keys rotate' },
  DeletePublicKey: { resource: 'public-key', operator: ['keys'], why: 'keys retire' },
} as const satisfies Record<string, IvsOperationUse>

export type IvsOperationName = keyof typeof IVS_OPERATION_USES

const NAMES = Object.keys(IVS_OPERATION_USES) as IvsOperationName[]
const use = (name: IvsOperationName): IvsOperationUse => IVS_OPERATION_USES[name]

/** Every operation serve may call in some configuration (quota metrics report these). */
export const SERVE_OPERATIONS: readonly IvsOperationName[] = NAMES.filter((name) => use(name).serve !== undefined)

/** The operations serve calls with this configuration. */
export function serveOperations(context: IvsCallContext): IvsOperationName[] {
  return NAMES.filter((name) => use(name).serve?.(context) === true)
}

/** The operations `doctor` and `keys` call. */
export function operatorOperations(): IvsOperationName[] {
  return NAMES.filter((name) => (use(name).operator?.length ?? 0) > 0)
}

/** An IAM action (without the `ivs:` prefix), its resource and, for a stage action, how it is scoped. */
export interface IvsAction {
  action: string
  resource: IvsResourceType
  access?: StageAccess
  onMaster: boolean
}

/** The IAM actions calling these operations needs. */
export function actionsFor(operations: readonly IvsOperationName[]): IvsAction[] {
  const out = new Map<string, IvsAction>()
  for (const name of operations) {
    const { resource, alsoAuthorizes = [], access, onMaster = false } = use(name)
    for (const action of [name, ...alsoAuthorizes]) out.set(action, { action, resource, access, onMaster })
  }
  return [...out.values()]
}
