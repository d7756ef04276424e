import { afterAll, describe, expect, test } from 'bun:test'
import { runDoctor } from '../../src/cli/doctor'
import { iamPolicy, type PolicyDocument, type PolicyInput } from '../../src/cli/iam-policy'
import { runKeys } from '../../src/cli/keys'
import { systemClock } from '../../src/clock'
import { fleetIdOf } from '../../src/config/fleet'
import { FLEET_TAG } from '../../src/fleet/records'
import { actionsFor, type IvsOperationName } from '../../src/ivs/operations'
import { generateKeyPair } from '../../src/ivs/signer'
import { MemoryStore } from '../../src/store/memory'
import { DEFAULT_WATCH_HISTORY_TTL_MS, type Store } from '../../src/store/types'
import { ManualTicker } from '../support/clock'
import { type CloudWatchServer, PUT_METRIC_DATA_TARGET, startCloudWatchServer } from '../support/cloudwatch-server'
import { until } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { allows, authorizationsOf } from '../support/iam-evaluate'
import { awsModeEnv, type IvsServer, startIvsServer } from '../support/ivs-server'
import { enc, freshServer } from '../support/serve'

/**
 * The IAM policy `iam-policy` prints against what the product really sends: serve in AWS mode in
 * every FANOUT_MODE, with API and self-signed tokens, CloudWatch on and off, taken through its AWS
 * paths (start, tokens, stage create/rename/delete, the leader's probe and replication rounds, a
 * mode switch's clean-up, /health/ready, the metrics flush) against the IVS and CloudWatch test
 * servers through the real SDK; then doctor and keys against `--operator`. Each run fails when an
 * operation sent is missing from the policy, or the policy names an action nothing sent, or a call
 * the product made would be denied by the policy: every request the IVS test server recorded is
 * evaluated (test/support/iam-evaluate.ts) against the policy's resources and its tag conditions,
 * with the tags the server held for each stage when the call arrived. And the conditions bite: the
 * same calls on a stage without the fleet's tag (another fleet's, or none) are denied.
 */

let ivs: IvsServer
let cw: CloudWatchServer
const NAMESPACE = 'IVS/PolicyTest'
const SDK_ENV = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_EC2_METADATA_DISABLED', 'AWS_ENDPOINT_URL_CLOUDWATCH'] as const
const saved = SDK_ENV.map((name) => [name, process.env[name]] as const)

beforeAllOrFail(async () => {
  ivs = await startIvsServer()
  cw = await startCloudWatchServer()
  // The SDK reads credentials (and CloudWatch's endpoint) from the process's environment.
  Object.assign(process.env, { ...awsModeEnv(ivs), AWS_ENDPOINT_URL_CLOUDWATCH: cw.url })
  for (const name of ['IVS_PROVIDER', 'AWS_REGION', 'IVS_ENDPOINT'] as const) delete process.env[name]
})
afterAll(async () => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  await ivs?.stop()
  await cw?.stop()
})

interface Run {
  mode: 'relay' | 'replicate' | 'hybrid'
  selfSigned: boolean
  cloudwatch: boolean
  /** MASTER_STAGE_ARN: a stage the operator made, without the fleet tag. */
  operatorMaster?: boolean
}

/** The actions the policy names. */
function policyActions(policy: PolicyDocument): Set<string> {
  return new Set(policy.Statement.flatMap((s) => s.Action))
}

/** What the recorded calls need: each IVS operation's actions (the tags it sends: ivs:TagResource), PutMetricData if CloudWatch was called. */
function actionsSent(): Set<string> {
  const operations = [...new Set(ivs.requests.map((r) => r.operation))] as IvsOperationName[]
  const actions = new Set(actionsFor(operations).map((a) => `ivs:${a.action}`))
  if (cw.calls.some((c) => c.target === PUT_METRIC_DATA_TARGET)) actions.add('cloudwatch:PutMetricData')
  return actions
}

/** Every call the product made that the policy would deny: IVS calls with their stages' tags then, CloudWatch data with its namespace. */
function deniedCalls(policy: PolicyDocument): string[] {
  const denied: string[] = []
  for (const r of ivs.requests)
    for (const request of authorizationsOf(r, ivs))
      if (!allows(policy, request)) denied.push(`${r.operation}: ${request.action} on ${request.resource} ${JSON.stringify(request.resourceTags)}`)
  for (const c of cw.calls.filter((c) => c.target === PUT_METRIC_DATA_TARGET)) {
    const request = { action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': c.namespace ?? '' } }
    if (!allows(policy, request)) denied.push(`PutMetricData in ${c.namespace}`)
  }
  return denied
}

/**
 * The recorded calls that changed a stage (every `owned` action), moved onto stages the fleet does
 * not own: one without tags and one of another fleet. Each must be denied.
 */
function deniedOnForeignStages(policy: PolicyDocument, fleetId: string): { allowed: string[]; tried: number } {
  const untagged = ivs.seedStage({ name: 'not-ours' })
  const other = ivs.seedStage({ name: 'other-fleet', tags: { [FLEET_TAG]: `${fleetId}-other` } })
  const allowed: string[] = []
  let tried = 0
  for (const r of ivs.requests) {
    if (!['DeleteStage', 'UpdateStage', 'CreateParticipantToken', 'StartParticipantReplication', 'StopParticipantReplication'].includes(r.operation)) continue
    for (const foreign of [untagged, other]) {
      for (const field of ['arn', 'stageArn', 'destinationStageArn'] as const) {
        if (typeof r.body?.[field] !== 'string') continue
        const body = { ...r.body, [field]: foreign.arn }
        const resourceTags = { ...r.resourceTags, [foreign.arn]: foreign.tags }
        tried++
        for (const request of authorizationsOf({ ...r, body, resourceTags }, ivs).filter((q) => q.resource === foreign.arn))
          if (allows(policy, request)) allowed.push(`${request.action} on ${foreign.name}`)
      }
    }
  }
  ivs.stages.delete(untagged.arn)
  ivs.stages.delete(other.arn)
  return { allowed, tried }
}

const KEY = 'policy-test-api-key-0123456789'
let fleet = 0

/** One serve process's life in AWS mode, through every AWS path of `run`'s configuration. */
async function exercise(run: Run, store: Store, options: { leaveReplicas?: boolean; masterStageArn?: string } = {}): Promise<void> {
  const { privateKeyPem } = await generateKeyPair()
  const keyEnv: Record<string, string> = run.selfSigned
    ? { IVS_PUBLIC_KEY_ARN: `arn:aws:ivs:${ivs.region}:${ivs.accountId}:public-key/PolicyKey001`, IVS_PRIVATE_KEY: privateKeyPem }
    : {}
  const env = {
    ...awsModeEnv(ivs),
    API_SECRET_KEY: KEY,
    FANOUT_MODE: run.mode,
    REDIS_KEY_PREFIX: `policy${fleet}:`,
    MAX_STAGES: '6',
    MEDIA_SERVER_TIMEOUT_MS: '1000',
    CLOUDWATCH_ENABLED: String(run.cloudwatch),
    CLOUDWATCH_NAMESPACE: NAMESPACE,
    ...keyEnv,
    ...(options.masterStageArn ? { MASTER_STAGE_ARN: options.masterStageArn } : {}),
  }
  const ticker = new ManualTicker()
  const server = await freshServer(env, { ticker, store })
  try {
    const json = async (path: string, init: RequestInit & { json?: unknown } = {}) => {
      const res = await server.api(path, init)
      return { status: res.status, data: ((await res.json()) as { data: any }).data }
    }
    const master = await until('the master stage', () => server.stages.master().catch(() => null), 10_000)
    expect((await fetch(`${server.url}/health/ready`)).status).toBe(200)
    // Who publishes into the master: the broadcaster itself (replicate), the relay (hybrid).
    if (run.mode === 'replicate') {
      const publisher = (await json('/api/token/publisher', { method: 'POST', json: { userId: 'broadcaster' } })).data
      ivs.control.whipSession(master.arn, publisher.token, 'up')
    }
    if (run.mode === 'hybrid') {
      expect((await json('/api/media/register', { method: 'POST', json: { serverId: 'r1', ipAddress: '127.0.0.1', port: 3001 } })).status).toBe(200)
      const token = (await json('/api/media/token', { method: 'POST', json: { serverId: 'r1', stageArn: master.arn } })).data
      ivs.control.whipSession(master.arn, token.token, 'up')
    }
    expect((await json('/api/token/viewer', { method: 'POST', json: { userId: 'viewer-1' } })).status).toBe(200)
    const made = (await json('/api/stage', { method: 'POST', json: { name: 'extra' } })).data
    expect((await json(`/api/stage/${enc(made.stageArn)}`, { method: 'PUT', json: { name: 'renamed' } })).status).toBe(200)
    // The operator's master (MASTER_STAGE_ARN, made without the fleet tag) is renamed too.
    if (options.masterStageArn) expect((await json(`/api/stage/${enc(master.arn)}`, { method: 'PUT', json: { name: 'main' } })).status).toBe(200)
    await server.replication.reconcile()
    await server.replication.reconcile()
    if (run.mode !== 'relay') expect(ivs.replications().some((r) => r.state === 'ACTIVE' && r.destinationStageArn === made.stageArn)).toBe(true)
    // The leader's tick: with no relay online (a registered one has gone silent), it asks IVS who publishes into the master.
    await Bun.sleep(1_100)
    await ticker.fire()
    // Left for the next run (a mode switch to relay) to clean up, or deleted (its replica stopped first).
    if (options.leaveReplicas) expect((await server.store.fanout.get())?.replications.length).toBeGreaterThan(0)
    else expect((await json(`/api/stage/${enc(made.stageArn)}`, { method: 'DELETE' })).status).toBe(200)
  } finally {
    await server.stop()
  }
}

const memory = () => new MemoryStore({ stageCapacity: 50, historyRetentionMs: DEFAULT_WATCH_HISTORY_TTL_MS })

describe('iam-policy covers exactly what the product calls', () => {
  // Relay mode stops the replications an earlier replicate or hybrid run left: each relay run follows one on the same store.
  const runs: { before?: Run; run: Run }[] = [
    { run: { mode: 'replicate', selfSigned: false, cloudwatch: true } },
    { before: { mode: 'replicate', selfSigned: true, cloudwatch: false }, run: { mode: 'relay', selfSigned: true, cloudwatch: false } },
    { run: { mode: 'hybrid', selfSigned: true, cloudwatch: false } },
    { before: { mode: 'hybrid', selfSigned: false, cloudwatch: false }, run: { mode: 'relay', selfSigned: false, cloudwatch: true } },
    { run: { mode: 'hybrid', selfSigned: false, cloudwatch: true } },
    { run: { mode: 'replicate', selfSigned: true, cloudwatch: false } },
    { run: { mode: 'hybrid', selfSigned: false, cloudwatch: false, operatorMaster: true } },
    {
      before: { mode: 'replicate', selfSigned: false, cloudwatch: false, operatorMaster: true },
      run: { mode: 'relay', selfSigned: false, cloudwatch: false, operatorMaster: true },
    },
  ]
  for (const { before, run } of runs) {
    const master = run.operatorMaster ? ', MASTER_STAGE_ARN without the fleet tag' : ''
    test(`serve: FANOUT_MODE=${run.mode}, ${run.selfSigned ? 'self-signed' : 'API'} tokens, CloudWatch ${run.cloudwatch ? 'on' : 'off'}${master}`, async () => {
      fleet++
      const store = memory()
      const masterStageArn = run.operatorMaster ? ivs.seedStage({ name: `operator-master-${fleet}` }).arn : undefined
      if (before) await exercise(before, store, { leaveReplicas: true, masterStageArn })
      ivs.resetCounts()
      cw.reset()
      await exercise(run, store, { masterStageArn })
      const input: PolicyInput = {
        region: ivs.region,
        account: ivs.accountId,
        fanoutMode: run.mode,
        selfSignedTokens: run.selfSigned,
        cloudwatchNamespace: run.cloudwatch ? NAMESPACE : null,
        fleetId: fleetIdOf(`policy${fleet}:`),
        masterStageArn: masterStageArn ?? null,
        operator: false,
      }
      const policy = iamPolicy(input)
      expect([...actionsSent()].sort()).toEqual([...policyActions(policy)].sort())
      // Every call made, on the stages as they were tagged then, is allowed (the namespace condition too)...
      expect(deniedCalls(policy)).toEqual([])
      // ...and the same changes to stages the fleet does not own are not.
      const foreign = deniedOnForeignStages(policy, input.fleetId)
      expect(foreign.tried).toBeGreaterThan(0)
      expect(foreign.allowed).toEqual([])
      if (masterStageArn) {
        // The operator's master was written to (renamed, and tokens or replications), through its own statement, never deletable.
        const onMaster = ivs.requests.filter((r) => r.operation !== 'GetStage' && r.operation !== 'ListParticipants' && masterStageArn in r.resourceTags)
        expect(onMaster.map((r) => r.operation)).toContain('UpdateStage')
        expect(iamPolicy({ ...input, masterStageArn: null }).Statement.some((s) => s.Resource === masterStageArn)).toBe(false)
        expect(deniedCalls(iamPolicy({ ...input, masterStageArn: null })).length).toBeGreaterThan(0)
        expect(allows(policy, { action: 'ivs:DeleteStage', resource: masterStageArn, resourceTags: {} })).toBe(false)
      }
    }, 60_000)
  }

  test('doctor and keys: iam-policy --operator', async () => {
    ivs.resetCounts()
    cw.reset()
    const { privateKeyPem, publicKeyPem } = await generateKeyPair()
    const inUse = ivs.seedPublicKey({ publicKeyMaterial: publicKeyPem.trim(), name: 'in-use' })
    const master = ivs.seedStage({ name: 'operator-master' })
    const env = { ...awsModeEnv(ivs), API_SECRET_KEY: KEY, MASTER_STAGE_ARN: master.arn, IVS_PUBLIC_KEY_ARN: inUse.arn, IVS_PRIVATE_KEY: privateKeyPem }
    const doctor = await runDoctor([], { env, hostname: 'test', localAddresses: () => [] })
    expect(doctor.code).toBe(0)
    const out: string[] = []
    const deps = { env, clock: systemClock, out: (t: string) => out.push(t), err: (t: string) => out.push(t) }
    expect(await runKeys(['list'], deps)).toBe(0)
    expect(await runKeys(['rotate'], deps)).toBe(0)
    const rotated = [...ivs.publicKeys.keys()].find((arn) => arn !== inUse.arn)!
    expect(await runKeys(['retire', rotated, '--force'], deps)).toBe(0)
    const policy = iamPolicy({
      region: ivs.region,
      account: ivs.accountId,
      fanoutMode: 'relay',
      selfSignedTokens: true,
      cloudwatchNamespace: null,
      fleetId: 'ivsf',
      masterStageArn: master.arn,
      operator: true,
    })
    expect([...actionsSent()].sort()).toEqual([...policyActions(policy)].sort())
    expect(deniedCalls(policy)).toEqual([])
  }, 60_000)
})
