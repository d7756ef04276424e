import { afterAll, describe, expect, test } from 'bun:test'
import { runDoctor } from '../../src/cli/doctor'
import { iamPolicy, type PolicyInput } from '../../src/cli/iam-policy'
import { runKeys } from '../../src/cli/keys'
import { systemClock } from '../../src/clock'
import { actionsFor, type IvsOperationName } from '../../src/ivs/operations'
import { generateKeyPair } from '../../src/ivs/signer'
import { MemoryStore } from '../../src/store/memory'
import { DEFAULT_WATCH_HISTORY_TTL_MS, type Store } from '../../src/store/types'
import { ManualTicker } from '../support/clock'
import { type CloudWatchServer, PUT_METRIC_DATA_TARGET, startCloudWatchServer } from '../support/cloudwatch-server'
import { until } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { awsModeEnv, type IvsServer, startIvsServer } from '../support/ivs-server'
import { enc, freshServer } from '../support/serve'

/**
 * The IAM policy `iam-policy` prints against what the product really sends: serve in AWS mode in
 * every FANOUT_MODE, with API and self-signed tokens, CloudWatch on and off, taken through its AWS
 * paths (start, tokens, stage create/rename/delete, the leader's probe and replication rounds, a
 * mode switch's clean-up, /health/ready, the metrics flush) against the IVS and CloudWatch test
 * servers through the real SDK; then doctor and keys against `--operator`. Each run fails when an
 * operation sent is missing from the policy, or the policy names an action nothing sent.
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
}

/** The policy's actions, each with the resource pattern its statement names. */
function policyActions(input: PolicyInput): Map<string, string> {
  const out = new Map<string, string>()
  for (const s of iamPolicy(input).Statement) for (const action of s.Action) out.set(action, s.Resource)
  return out
}

/** What the recorded calls need: each IVS operation's actions (the tags it sends: ivs:TagResource), PutMetricData if CloudWatch was called. */
function actionsSent(): Set<string> {
  const operations = [...new Set(ivs.requests.map((r) => r.operation))] as IvsOperationName[]
  const actions = new Set(actionsFor(operations).map((a) => `ivs:${a.action}`))
  if (cw.calls.some((c) => c.target === PUT_METRIC_DATA_TARGET)) actions.add('cloudwatch:PutMetricData')
  return actions
}

/** Every ARN the recorded IVS calls named, against the resource of the statement that allows the operation. */
function arnsOutsidePolicy(allowed: Map<string, string>): string[] {
  const outside: string[] = []
  for (const r of ivs.requests) {
    const resource = allowed.get(`ivs:${r.operation}`)
    if (resource === undefined) continue
    const pattern = new RegExp(`^${resource.replace(/[.*+?^${}()|[\]\\]/g, (c) => (c === '*' ? '.*' : `\\${c}`))}$`)
    for (const key of ['arn', 'stageArn', 'sourceStageArn', 'destinationStageArn']) {
      const arn = r.body?.[key]
      if (typeof arn === 'string' && !pattern.test(arn)) outside.push(`${r.operation} ${arn} (allowed: ${resource})`)
    }
  }
  return outside
}

const KEY = 'policy-test-api-key-0123456789'
let fleet = 0

/** One serve process's life in AWS mode, through every AWS path of `run`'s configuration. */
async function exercise(run: Run, store: Store, options: { leaveReplicas?: boolean } = {}): Promise<void> {
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
  ]
  for (const { before, run } of runs) {
    test(`serve: FANOUT_MODE=${run.mode}, ${run.selfSigned ? 'self-signed' : 'API'} tokens, CloudWatch ${run.cloudwatch ? 'on' : 'off'}`, async () => {
      fleet++
      const store = memory()
      if (before) await exercise(before, store, { leaveReplicas: true })
      ivs.resetCounts()
      cw.reset()
      await exercise(run, store)
      const input: PolicyInput = {
        region: ivs.region,
        account: ivs.accountId,
        fanoutMode: run.mode,
        selfSignedTokens: run.selfSigned,
        cloudwatchNamespace: run.cloudwatch ? NAMESPACE : null,
        operator: false,
      }
      const allowed = policyActions(input)
      expect([...actionsSent()].sort()).toEqual([...allowed.keys()].sort())
      expect(arnsOutsidePolicy(allowed)).toEqual([])
      // The namespace condition holds for every datum sent.
      expect(cw.calls.filter((c) => c.namespace !== NAMESPACE)).toEqual([])
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
    const allowed = policyActions({
      region: ivs.region,
      account: ivs.accountId,
      fanoutMode: 'relay',
      selfSignedTokens: true,
      cloudwatchNamespace: null,
      operator: true,
    })
    expect([...actionsSent()].sort()).toEqual([...allowed.keys()].sort())
    expect(arnsOutsidePolicy(allowed)).toEqual([])
  }, 60_000)
})
