import type { Server } from 'bun'
import { randomAlphanumeric } from '../../src/ids'
import {
  type Body,
  IVS_ERROR_STATUS,
  IvsError,
  type IvsErrorType,
  optionalInt,
  optionalString,
  requiredString,
  STAGE_ARN,
  STAGE_NAME,
  stringMap,
  validAttributes,
  validTags,
} from './ivs-server/input'
import {
  createParticipantModel,
  type ParticipantState,
  type ReplicationState,
  type ReplicationType,
  type ReplicationView,
  type TestParticipant,
} from './ivs-server/participants'
import { createPublicKeyModel, type IvsPublicKey } from './ivs-server/public-keys'

export { IVS_ERROR_STATUS, type IvsErrorType } from './ivs-server/input'
export { MAX_REPLICATIONS_PER_PARTICIPANT, participantOfToken, type ReplicationView, type TestParticipant } from './ivs-server/participants'
export type { IvsPublicKey } from './ivs-server/public-keys'

/**
 * Test-only Amazon IVS real-time server, wire-compatible with @aws-sdk/client-ivs-realtime:
 * restJson1 (`POST /<Operation>`, JSON bodies, RFC 3339 timestamps), errors as the
 * `x-amzn-ErrorType` header plus `{"exceptionMessage"}`, the account's rate quotas per operation
 * (sliding 1 s window, 429 ThrottlingException past them) and the stage quota (402). Stage
 * sessions, participants and participant replication follow IVS's documented behaviour
 * (ivs-server/participants.ts), public keys too (ivs-server/public-keys.ts: 3 per account, 402 past); participants join when a WHIP session with their token comes up on
 * a linked WHIP endpoint (`startWhipEndpoint({ onSession: ivs.control.whipSession })`).
 * SigV4 signatures are accepted unverified; whether a request was signed is recorded.
 */
export type IvsOperation =
  | 'CreateStage'
  | 'GetStage'
  | 'UpdateStage'
  | 'DeleteStage'
  | 'ListStages'
  | 'CreateParticipantToken'
  | 'ListParticipants'
  | 'ImportPublicKey'
  | 'GetPublicKey'
  | 'ListPublicKeys'
  | 'DeletePublicKey'
  | 'StartParticipantReplication'
  | 'StopParticipantReplication'
  | 'ListParticipantReplicas'

export const IVS_OPERATIONS: readonly IvsOperation[] = [
  'CreateStage',
  'GetStage',
  'UpdateStage',
  'DeleteStage',
  'ListStages',
  'CreateParticipantToken',
  'ListParticipants',
  'ImportPublicKey',
  'GetPublicKey',
  'ListPublicKeys',
  'DeletePublicKey',
  'StartParticipantReplication',
  'StopParticipantReplication',
  'ListParticipantReplicas',
]

/**
 * Per account and region (DESIGN §12): 50 TPS for CreateParticipantToken, 5 TPS for the rest (the
 * replication operations' rate is undocumented: 5 TPS like every other stage operation).
 */
export const IVS_DEFAULT_TPS: Record<IvsOperation, number> = {
  CreateStage: 5,
  GetStage: 5,
  UpdateStage: 5,
  DeleteStage: 5,
  ListStages: 5,
  CreateParticipantToken: 50,
  ListParticipants: 5,
  ImportPublicKey: 5,
  GetPublicKey: 5,
  ListPublicKeys: 5,
  DeletePublicKey: 5,
  StartParticipantReplication: 5,
  StopParticipantReplication: 5,
  ListParticipantReplicas: 5,
}

export interface IvsStage {
  arn: string
  name: string
  activeSessionId?: string
  tags: Record<string, string>
  endpoints: { events: string; whip: string; rtmp: string; rtmps: string }
}

export interface RecordedRequest {
  operation: string
  /** performance.now() when the request arrived. */
  at: number
  status: number
  signed: boolean
  /** The parsed JSON body, or null when it was not a JSON object. */
  body: Record<string, unknown> | null
  /**
   * The tags of each stage or public key the body names (RESOURCE_ARN_FIELDS), as this server held
   * them when the request arrived (a deleted stage's too): what IAM's aws:ResourceTag would read.
   */
  resourceTags: Record<string, Record<string, string>>
}

/** The request fields that name a stage or public key, in every operation this server takes. */
export const RESOURCE_ARN_FIELDS = ['arn', 'stageArn', 'sourceStageArn', 'destinationStageArn'] as const

export interface IvsServerControl {
  /** Added before every request is handled. */
  latencyMs: number
  /**
   * Added to `latencyMs` for the calls of one operation, e.g. a slow CreateStage so that a test can
   * act (kill a process) while one is in flight (see `inFlight`).
   */
  operationLatencyMs: Partial<Record<IvsOperation, number>>
  /** What `endpoints.whip` of stages created from now on reports. */
  whipUrl: string
  /** The next `times` calls of `operation` fail with `type` (checked before the rate quota; not counted in it). */
  failNext(operation: IvsOperation, type: IvsErrorType, times?: number, message?: string): void
  /** Every request of `operation` fails with `type` until `clearFailures()`. */
  failAlways(operation: IvsOperation, type: IvsErrorType, message?: string): void
  clearFailures(): void
  /**
   * Replaces the stage's participants in its current session (its replicas stay): a session starts
   * with the first connected participant and ends when none is connected (and no replication's
   * reconnect window is open). A participant that stops publishing starts its replications' windows.
   */
  setParticipants(stageArn: string, participants: TestParticipant[]): void
  /**
   * A WHIP session into the stage (the stage WHIP endpoint's `onSession`): 'up' makes the token's
   * participant (its `jti`) CONNECTED and published in the stage's current session, 'down' makes it
   * DISCONNECTED. Stages this server does not hold are ignored.
   */
  whipSession(stageArn: string, token: string, state: 'up' | 'down'): void
}

/** A participant as ListParticipants reports it. */
export interface ParticipantView {
  participantId: string
  userId?: string
  state: ParticipantState
  firstJoinTime: string
  published: boolean
  replicationType: ReplicationType
  replicationState?: ReplicationState
  sourceStageArn?: string
  sourceSessionId?: string
}

export interface IvsServer {
  url: string
  region: string
  accountId: string
  control: IvsServerControl
  /** Requests received per operation, answered or not. */
  calls: Record<IvsOperation, number>
  requests: RecordedRequest[]
  stages: Map<string, IvsStage>
  /** The account's public keys, by ARN. */
  publicKeys: Map<string, IvsPublicKey>
  /** When the calls of `operation` that got past the rate quota were counted (performance.now(), after any latency). */
  acceptedAt(operation: IvsOperation): number[]
  /** The most accepted calls of `operation` inside any window of `windowMs`. */
  peakInWindow(operation: IvsOperation, windowMs?: number): number
  /** Calls of `operation` received and not answered yet. */
  inFlight(operation: IvsOperation): number
  /** Answers of `operation` with this status. */
  answered(operation: IvsOperation, status: number): number
  /** Puts a stage in place without a call (fast setup for listing tests). */
  seedStage(input?: { name?: string; tags?: Record<string, string> }): IvsStage
  /** Puts a public key in place without a call (the quota of public keys holds: throws past it). */
  seedPublicKey(input: { publicKeyMaterial: string; name?: string; tags?: Record<string, string> }): IvsPublicKey
  /** The participants of the stage's current session (or of `sessionId`), as ListParticipants reports them. */
  participants(stageArn: string, sessionId?: string): ParticipantView[]
  /** Every replication the server knows, ACTIVE and STOPPED. */
  replications(): ReplicationView[]
  resetCounts(): void
  stop(): Promise<void>
}

export interface IvsServerOptions {
  region?: string
  accountId?: string
  whipUrl?: string
  /** Stages per account (IVS: 1,000). */
  maxStages?: number
  tps?: Partial<Record<IvsOperation, number>>
  /** Public keys per account (IVS: 3). */
  maxPublicKeys?: number
}

const EVENTS_URL = 'wss://global.events.live-video.net'
const MAX_TOKEN_DURATION_MIN = 20_160
const DEFAULT_TOKEN_DURATION_MIN = 720

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** The most of `times` (sorted, ms) that fall inside any window of `windowMs`. */
export function peakCount(times: readonly number[], windowMs: number): number {
  let peak = 0
  let start = 0
  for (let end = 0; end < times.length; end++) {
    while (times[end]! - times[start]! >= windowMs) start++
    peak = Math.max(peak, end - start + 1)
  }
  return peak
}

/**
 * The environment that points `serve` in AWS mode at `server`: its endpoint, a region and
 * credentials the SDK signs with (the local server accepts any signature), no instance metadata.
 */
export function awsModeEnv(server: { url: string }, region = 'eu-west-1'): Record<string, string> {
  return {
    IVS_PROVIDER: 'aws',
    AWS_REGION: region,
    IVS_ENDPOINT: server.url,
    AWS_ACCESS_KEY_ID: 'AKIDLOCALTEST',
    AWS_SECRET_ACCESS_KEY: 'local-test-secret',
    AWS_EC2_METADATA_DISABLED: 'true',
  }
}

export async function startIvsServer(options: IvsServerOptions = {}): Promise<IvsServer> {
  const region = options.region ?? 'eu-west-1'
  const accountId = options.accountId ?? '123456789012'
  const maxStages = options.maxStages ?? 1000
  const maxPublicKeys = options.maxPublicKeys ?? 3
  const tps = { ...IVS_DEFAULT_TPS, ...options.tps }

  const stages = new Map<string, IvsStage>()
  const keyModel = createPublicKeyModel({ region, accountId, maxPublicKeys })
  const calls = Object.fromEntries(IVS_OPERATIONS.map((op) => [op, 0])) as Record<IvsOperation, number>
  const accepted = new Map<IvsOperation, number[]>(IVS_OPERATIONS.map((op) => [op, []]))
  const requests: RecordedRequest[] = []
  const failures = new Map<IvsOperation, { type: IvsErrorType; remaining: number; message: string }>()
  const model = createParticipantModel(stages)
  const unanswered = Object.fromEntries(IVS_OPERATIONS.map((op) => [op, 0])) as Record<IvsOperation, number>

  const control: IvsServerControl = {
    latencyMs: 0,
    operationLatencyMs: {},
    whipUrl: options.whipUrl ?? 'https://global.whip.live-video.net',
    failNext(operation, type, times = 1, message = `injected ${type}`) {
      failures.set(operation, { type, remaining: times, message })
    },
    failAlways(operation, type, message = `injected ${type}`) {
      failures.set(operation, { type, remaining: Number.POSITIVE_INFINITY, message })
    },
    clearFailures() {
      failures.clear()
    },
    setParticipants(stageArn, list) {
      const stage = stages.get(stageArn)
      if (!stage) throw new Error(`no stage ${stageArn}`)
      model.setParticipants(stage, list)
    },
    whipSession(stageArn, token, state) {
      const stage = stages.get(stageArn)
      if (stage) model.whipSession(stage, token, state)
    },
  }

  const newStage = (name: string, tags: Record<string, string>): IvsStage => {
    const id = randomAlphanumeric(12)
    const stage: IvsStage = {
      arn: `arn:aws:ivs:${region}:${accountId}:stage/${id}`,
      name,
      tags,
      endpoints: {
        events: EVENTS_URL,
        whip: control.whipUrl,
        rtmp: `rtmp://${id.toLowerCase()}.global-contribute.live-video.net/app/`,
        rtmps: `rtmps://${id.toLowerCase()}.global-contribute.live-video.net:443/app/`,
      },
    }
    stages.set(stage.arn, stage)
    return stage
  }

  const existingStage = (arn: string): IvsStage => {
    const stage = stages.get(arn)
    if (!stage) throw new IvsError('ResourceNotFoundException', `Resource ${arn} not found`)
    return stage
  }

  const participantToken = (body: Body) => {
    const stageArn = requiredString(body, 'stageArn', 128, STAGE_ARN)
    const duration = optionalInt(body, 'duration', 1, MAX_TOKEN_DURATION_MIN) ?? DEFAULT_TOKEN_DURATION_MIN
    const userId = optionalString(body, 'userId', 128)
    const attributes = stringMap(body, 'attributes', validAttributes)
    const capabilities = body.capabilities ?? ['PUBLISH', 'SUBSCRIBE']
    if (!Array.isArray(capabilities) || !capabilities.every((c) => c === 'PUBLISH' || c === 'SUBSCRIBE')) {
      throw new IvsError('ValidationException', 'capabilities must be PUBLISH and/or SUBSCRIBE')
    }
    const stage = existingStage(stageArn)
    const participantId = randomAlphanumeric(12)
    const issuedAt = Date.now()
    const expirationTime = new Date(issuedAt + duration * 60_000)
    // The claims IVS's own tokens carry (and self-signed ones must): the web SDK opens its events
    // socket at events_url with topic (the stage id) in the query, and publishes to whip_url.
    const claims = {
      exp: Math.floor(expirationTime.getTime() / 1000),
      iat: Math.floor(issuedAt / 1000),
      jti: participantId,
      resource: stageArn,
      topic: stageArn.split('/').pop(),
      events_url: stage.endpoints.events,
      whip_url: stage.endpoints.whip,
      capabilities: { allow_publish: capabilities.includes('PUBLISH'), allow_subscribe: capabilities.includes('SUBSCRIBE') },
      attributes,
      user_id: userId,
      version: '1.0',
    }
    return {
      participantId,
      token: `${b64url({ alg: 'ES384', typ: 'JWT' })}.${b64url(claims)}.${randomAlphanumeric(64)}`,
      userId,
      attributes,
      duration,
      capabilities,
      expirationTime: expirationTime.toISOString(),
    }
  }

  const handlers: Record<IvsOperation, (body: Body) => unknown> = {
    CreateStage(body) {
      const name = optionalString(body, 'name', 128, STAGE_NAME) ?? ''
      const tags = stringMap(body, 'tags', validTags)
      const configs = body.participantTokenConfigurations ?? []
      if (!Array.isArray(configs) || configs.length > 12) throw new IvsError('ValidationException', 'at most 12 participantTokenConfigurations')
      if (stages.size >= maxStages) throw new IvsError('ServiceQuotaExceededException', `Exceeded the quota of ${maxStages} stages`)
      const stage = newStage(name, tags)
      return { stage, participantTokens: configs.map((c: Body) => participantToken({ ...c, stageArn: stage.arn })) }
    },
    GetStage(body) {
      return { stage: existingStage(requiredString(body, 'arn', 128, STAGE_ARN)) }
    },
    UpdateStage(body) {
      const stage = existingStage(requiredString(body, 'arn', 128, STAGE_ARN))
      const name = optionalString(body, 'name', 128, STAGE_NAME)
      if (name !== undefined) stage.name = name
      return { stage }
    },
    DeleteStage(body) {
      const arn = requiredString(body, 'arn', 128, STAGE_ARN)
      existingStage(arn)
      stages.delete(arn)
      model.stageDeleted(arn)
      return {}
    },
    ListStages(body) {
      const maxResults = optionalInt(body, 'maxResults', 1, 100) ?? 50
      const nextToken = optionalString(body, 'nextToken', 1024)
      let after = ''
      if (nextToken !== undefined) {
        try {
          after = String(JSON.parse(Buffer.from(nextToken, 'base64url').toString()).after)
        } catch {
          throw new IvsError('ValidationException', 'nextToken is invalid')
        }
      }
      const sorted = [...stages.values()].sort((a, b) => (a.arn < b.arn ? -1 : 1)).filter((s) => s.arn > after)
      const page = sorted.slice(0, maxResults)
      const more = sorted.length > maxResults
      return {
        stages: page.map(({ arn, name, activeSessionId, tags }) => ({ arn, name, activeSessionId, tags })),
        nextToken: more ? Buffer.from(JSON.stringify({ after: page[page.length - 1]!.arn })).toString('base64url') : undefined,
      }
    },
    CreateParticipantToken(body) {
      return { participantToken: participantToken(body) }
    },
    ListParticipants: model.handlers.ListParticipants,
    ImportPublicKey: keyModel.handlers.ImportPublicKey,
    GetPublicKey: keyModel.handlers.GetPublicKey,
    ListPublicKeys: keyModel.handlers.ListPublicKeys,
    DeletePublicKey: keyModel.handlers.DeletePublicKey,
    StartParticipantReplication: model.handlers.StartParticipantReplication,
    StopParticipantReplication: model.handlers.StopParticipantReplication,
    ListParticipantReplicas: model.handlers.ListParticipantReplicas,
  }

  /** Sliding 1 s window of accepted calls; rejected calls do not count. */
  const withinQuota = (operation: IvsOperation, now: number): boolean => {
    const times = accepted.get(operation)!
    let inWindow = 0
    for (let i = times.length - 1; i >= 0 && times[i]! > now - 1000; i--) inWindow++
    return inWindow < tps[operation]
  }

  const errorResponse = (type: string, status: number, message: string) =>
    Response.json({ exceptionMessage: message }, { status, headers: { 'x-amzn-ErrorType': type, 'x-amzn-RequestId': crypto.randomUUID() } })

  const handle = async (request: Request): Promise<Response> => {
    const at = performance.now()
    const operation = new URL(request.url).pathname.slice(1)
    const signed = /^AWS4-HMAC-SHA256 Credential=/.test(request.headers.get('authorization') ?? '')
    let body: Body | null = null
    try {
      const text = await request.text()
      const parsed: unknown = text === '' ? {} : JSON.parse(text)
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Body
    } catch {
      body = null
    }
    const resourceTags: Record<string, Record<string, string>> = {}
    for (const field of RESOURCE_ARN_FIELDS) {
      const arn = body?.[field]
      const held = typeof arn === 'string' ? (stages.get(arn) ?? keyModel.keys.get(arn)) : undefined
      if (held) resourceTags[held.arn] = { ...held.tags }
    }
    let pending: IvsOperation | null = null
    const record = (response: Response) => {
      if (pending) unanswered[pending]--
      requests.push({ operation, at, status: response.status, signed, body, resourceTags })
      return response
    }
    if (!(IVS_OPERATIONS as readonly string[]).includes(operation)) {
      return record(errorResponse('UnknownOperationException', 404, `unknown operation ${operation}`))
    }
    const op = operation as IvsOperation
    calls[op]++
    unanswered[op]++
    pending = op
    if (request.method !== 'POST') return record(errorResponse('ValidationException', 400, 'operations are POST'))
    const latency = control.latencyMs + (control.operationLatencyMs[op] ?? 0)
    if (latency > 0) await Bun.sleep(latency)

    const failure = failures.get(op)
    if (failure && failure.remaining > 0) {
      failure.remaining--
      return record(errorResponse(failure.type, IVS_ERROR_STATUS[failure.type], failure.message))
    }
    const now = performance.now()
    if (!withinQuota(op, now)) return record(errorResponse('ThrottlingException', 429, `Rate exceeded for ${op}`))
    accepted.get(op)!.push(now)
    if (body === null) return record(errorResponse('ValidationException', 400, 'the body must be a JSON object'))
    try {
      const result = handlers[op](body)
      return record(Response.json(result, { headers: { 'x-amzn-RequestId': crypto.randomUUID() } }))
    } catch (error) {
      if (error instanceof IvsError) return record(errorResponse(error.type, IVS_ERROR_STATUS[error.type], error.message))
      return record(errorResponse('InternalServerException', 500, 'internal error'))
    }
  }

  const server: Server<unknown> = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: handle })
  return {
    url: `http://127.0.0.1:${server.port}`,
    region,
    accountId,
    control,
    calls,
    requests,
    stages,
    publicKeys: keyModel.keys,
    acceptedAt: (operation) => [...accepted.get(operation)!],
    peakInWindow: (operation, windowMs = 1000) => peakCount(accepted.get(operation)!, windowMs),
    inFlight: (operation) => unanswered[operation],
    answered: (operation, status) => requests.filter((r) => r.operation === operation && r.status === status).length,
    seedStage: (input = {}) => newStage(input.name ?? '', input.tags ?? {}),
    seedPublicKey: (input) => keyModel.seed(input),
    participants: (stageArn, sessionId) => model.participantsOf(stageArn, sessionId),
    replications: () => model.replications.map(({ timer: _, ...r }) => ({ ...r })),
    resetCounts() {
      for (const op of IVS_OPERATIONS) {
        calls[op] = 0
        accepted.set(op, [])
      }
      requests.length = 0
    },
    async stop() {
      model.close()
      await server.stop(true)
    },
  }
}
