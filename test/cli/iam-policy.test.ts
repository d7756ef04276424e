import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { iamPolicy, type PolicyDocument, type PolicyInput, readPolicyArgs, runIamPolicy } from '../../src/cli/iam-policy'
import { fleetIdOf } from '../../src/config/fleet'
import { loadServeConfig, type ServeConfig } from '../../src/config/serve'
import { fleetSettings } from '../../src/config/settings'
import { STAGE_ARN_PATTERN } from '../../src/ivs/arn'
import { IVS_OPERATION_USES, type IvsOperationUse } from '../../src/ivs/operations'
import { allows } from '../support/iam-evaluate'
import { ROOT } from '../support/process'

const FACTS = { instanceId: 'i', storeKind: 'memory', providerKind: 'aws' } as const

const MASTER = 'arn:aws:ivs:eu-west-1:111122223333:stage/AbCdEfGhIjKl'
const KEY = 'arn:aws:ivs:eu-west-1:111122223333:public-key/AbCdEfGhIjKl'
const base: PolicyInput = {
  region: 'eu-west-1',
  account: '111122223333',
  fanoutMode: 'relay',
  selfSignedTokens: true,
  cloudwatchNamespace: null,
  fleetId: 'ivsf',
  masterStageArn: null,
  operator: false,
}
const actionsOf = (input: PolicyInput) => iamPolicy(input).Statement.flatMap((s) => s.Action)

describe('iam-policy: the document', () => {
  test('hybrid with API tokens and CloudWatch: reads on every stage, creation only with the fleet tag, changes only on tagged stages, PutMetricData pinned to the namespace', () => {
    const policy = iamPolicy({ ...base, fanoutMode: 'hybrid', selfSignedTokens: false, cloudwatchNamespace: 'IVS/Production' })
    const stages = 'arn:aws:ivs:eu-west-1:111122223333:stage/*'
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'IvsFanoutStageReads',
          Effect: 'Allow',
          Action: ['ivs:GetStage', 'ivs:ListParticipantReplicas', 'ivs:ListParticipants', 'ivs:ListStages'],
          Resource: stages,
        },
        {
          Sid: 'IvsFanoutCreateFleetStages',
          Effect: 'Allow',
          Action: ['ivs:CreateStage', 'ivs:TagResource'],
          Resource: stages,
          Condition: { StringEquals: { 'aws:RequestTag/ivs-fanout:fleet': 'ivsf' } },
        },
        {
          Sid: 'IvsFanoutFleetStages',
          Effect: 'Allow',
          Action: ['ivs:CreateParticipantToken', 'ivs:DeleteStage', 'ivs:StartParticipantReplication', 'ivs:StopParticipantReplication', 'ivs:UpdateStage'],
          Resource: stages,
          Condition: { StringEquals: { 'aws:ResourceTag/ivs-fanout:fleet': 'ivsf' } },
        },
        {
          Sid: 'IvsFanoutMetrics',
          Effect: 'Allow',
          Action: ['cloudwatch:PutMetricData'],
          Resource: '*',
          Condition: { StringEquals: { 'cloudwatch:namespace': 'IVS/Production' } },
        },
      ],
    })
  })

  test('MASTER_STAGE_ARN: its own statement, by ARN and without the condition (the operator may have made it untagged), never DeleteStage', () => {
    const policy = iamPolicy({ ...base, fanoutMode: 'replicate', selfSignedTokens: false, masterStageArn: MASTER })
    expect(policy.Statement.find((s) => s.Sid === 'IvsFanoutMasterStage')).toEqual({
      Sid: 'IvsFanoutMasterStage',
      Effect: 'Allow',
      Action: ['ivs:CreateParticipantToken', 'ivs:StartParticipantReplication', 'ivs:StopParticipantReplication', 'ivs:UpdateStage'],
      Resource: MASTER,
    })
    // Without MASTER_STAGE_ARN the fleet's master is its own, tagged: no such statement.
    expect(iamPolicy({ ...base, fanoutMode: 'replicate' }).Statement.map((s) => s.Sid)).not.toContain('IvsFanoutMasterStage')
  })

  test('the conditions, evaluated: stages without the fleet tag (none, or another fleet’s) cannot be created, changed, deleted or replicated into; reads stay open', () => {
    const policy = iamPolicy({ ...base, fanoutMode: 'hybrid', selfSignedTokens: false, fleetId: 'prod', masterStageArn: MASTER })
    const stage = 'arn:aws:ivs:eu-west-1:111122223333:stage/ZzZzZzZzZzZz'
    const ours = { 'ivs-fanout:fleet': 'prod' }
    const theirs = { 'ivs-fanout:fleet': 'staging' }
    const can = (action: string, resourceTags: Record<string, string>, resource = stage, requestTags: Record<string, string> = {}) =>
      allows(policy, { action: `ivs:${action}`, resource, resourceTags, requestTags })
    for (const action of ['DeleteStage', 'UpdateStage', 'CreateParticipantToken', 'StartParticipantReplication', 'StopParticipantReplication']) {
      expect({ action, ours: can(action, ours), untagged: can(action, {}), theirs: can(action, theirs) }).toEqual({
        action,
        ours: true,
        untagged: false,
        theirs: false,
      })
    }
    for (const action of ['CreateStage', 'TagResource']) {
      expect({ action, tagged: can(action, {}, stage, ours), untagged: can(action, {}, stage, { team: 'x' }), theirs: can(action, {}, stage, theirs) }).toEqual(
        {
          action,
          tagged: true,
          untagged: false,
          theirs: false,
        },
      )
    }
    for (const action of ['GetStage', 'ListStages', 'ListParticipants', 'ListParticipantReplicas'])
      expect({ action, allowed: can(action, {}) }).toEqual({ action, allowed: true })
    // The untagged master: written to, never deleted.
    expect([can('UpdateStage', {}, MASTER), can('CreateParticipantToken', {}, MASTER), can('DeleteStage', {}, MASTER)]).toEqual([true, true, false])
    // Another account's or Region's stages: nothing.
    expect(can('GetStage', ours, stage.replace('111122223333', '999988887777'))).toBe(false)
    expect(can('DeleteStage', ours, stage.replace('eu-west-1', 'us-east-1'))).toBe(false)
  })

  test('relay with self-signed tokens: no CreateParticipantToken, no starting or listing replications; the clean-up stop stays', () => {
    const actions = actionsOf(base)
    expect(actions).not.toContain('ivs:CreateParticipantToken')
    expect(actions).not.toContain('ivs:StartParticipantReplication')
    expect(actions).not.toContain('ivs:ListParticipantReplicas')
    expect(actions).toContain('ivs:StopParticipantReplication')
    expect(actions).toContain('ivs:ListParticipants')
    expect(actions.some((a) => a.startsWith('cloudwatch:'))).toBe(false)
  })

  test('--operator: the public keys on public-key/*, ListPublicKeys on * (it takes no resource), doctor’s stage reads; never CloudWatch, never the master’s writes', () => {
    const policy = iamPolicy({ ...base, operator: true, cloudwatchNamespace: 'IVS/Production', masterStageArn: MASTER })
    expect(policy.Statement.map((s) => [s.Sid, s.Action, s.Resource, s.Condition])).toEqual([
      ['IvsFanoutOperatorStageReads', ['ivs:GetStage', 'ivs:ListStages'], 'arn:aws:ivs:eu-west-1:111122223333:stage/*', undefined],
      [
        'IvsFanoutOperatorPublicKeys',
        ['ivs:DeletePublicKey', 'ivs:GetPublicKey', 'ivs:ImportPublicKey', 'ivs:TagResource'],
        'arn:aws:ivs:eu-west-1:111122223333:public-key/*',
        undefined,
      ],
      ['IvsFanoutOperatorListPublicKeys', ['ivs:ListPublicKeys'], '*', undefined],
    ])
  })

  test('every stage operation says how the policy scopes it; only changes (owned) reach the master by its ARN', () => {
    for (const [name, use] of Object.entries(IVS_OPERATION_USES) as [string, IvsOperationUse][]) {
      expect({ name, scoped: use.resource === 'stage' ? use.access !== undefined : use.access === undefined }).toEqual({ name, scoped: true })
      if (use.onMaster) expect({ name, access: use.access }).toEqual({ name, access: 'owned' })
    }
  })

  test('no wildcard action and no action twice, in any configuration', () => {
    for (const fanoutMode of ['relay', 'replicate', 'hybrid'] as const)
      for (const selfSignedTokens of [true, false])
        for (const operator of [true, false]) {
          const actions = actionsOf({ ...base, fanoutMode, selfSignedTokens, operator, cloudwatchNamespace: 'N' })
          for (const action of actions) expect(action).toMatch(/^(ivs|cloudwatch):[A-Za-z]+$/)
          expect(new Set(actions).size).toBe(actions.length)
        }
  })

  test('one partition, aws (IVS real-time’s only): every ARN the policy names is one the configuration accepts; without an account, a placeholder', () => {
    const policy = iamPolicy({ ...base, fanoutMode: 'hybrid', selfSignedTokens: false, masterStageArn: MASTER })
    for (const s of policy.Statement)
      if (s.Resource !== '*') expect(s.Resource).toMatch(/^arn:aws:ivs:eu-west-1:111122223333:(stage|public-key)\/(\*|[A-Za-z0-9]{12})$/)
    expect(policy.Statement.find((s) => s.Sid === 'IvsFanoutMasterStage')!.Resource).toMatch(STAGE_ARN_PATTERN)
    expect(STAGE_ARN_PATTERN.test(policy.Statement[0]!.Resource.replace('*', 'AbCdEfGhIjKl'))).toBe(true)
    expect(iamPolicy({ ...base, account: null }).Statement[0]!.Resource).toBe('arn:aws:ivs:eu-west-1:ACCOUNT_ID:stage/*')
  })
})

describe('iam-policy: the command', () => {
  const stageResource = (r: { stdout: string }) => JSON.parse(r.stdout).Statement[0].Resource
  const statement = (r: { stdout: string }, sid: string) => (JSON.parse(r.stdout) as PolicyDocument).Statement.find((s) => s.Sid === sid)
  const actions = (r: { stdout: string }) => (JSON.parse(r.stdout) as PolicyDocument).Statement.flatMap((s) => s.Action)

  test('the account from MASTER_STAGE_ARN or IVS_PUBLIC_KEY_ARN; --account wins; the mode and CloudWatch from the environment', () => {
    const env = { AWS_REGION: 'eu-west-1', FANOUT_MODE: 'replicate', CLOUDWATCH_ENABLED: 'true', CLOUDWATCH_NAMESPACE: 'Mine' }
    const fromMaster = runIamPolicy([], { ...env, MASTER_STAGE_ARN: MASTER })
    expect([fromMaster.code, fromMaster.stderr]).toEqual([0, ''])
    expect(stageResource(fromMaster)).toBe('arn:aws:ivs:eu-west-1:111122223333:stage/*')
    expect(statement(fromMaster, 'IvsFanoutFleetStages')!.Action).toContain('ivs:StartParticipantReplication')
    expect(statement(fromMaster, 'IvsFanoutMasterStage')!.Resource).toBe(MASTER)
    expect(statement(fromMaster, 'IvsFanoutMetrics')!.Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': 'Mine' } })
    expect(stageResource(runIamPolicy([], { ...env, IVS_PUBLIC_KEY_ARN: KEY }))).toBe('arn:aws:ivs:eu-west-1:111122223333:stage/*')
    expect(stageResource(runIamPolicy(['--account', '444455556666'], { ...env, MASTER_STAGE_ARN: MASTER }))).toBe('arn:aws:ivs:eu-west-1:444455556666:stage/*')
    expect(stageResource(runIamPolicy(['--account=444455556666'], env))).toBe('arn:aws:ivs:eu-west-1:444455556666:stage/*')
  })

  test('self-signed when IVS_PUBLIC_KEY_ARN and IVS_PRIVATE_KEY are both set (the key file need not be here)', () => {
    const withKey = runIamPolicy([], { IVS_PUBLIC_KEY_ARN: KEY, IVS_PRIVATE_KEY: '/nowhere/ivs-private.pem' })
    expect(withKey.code).toBe(0)
    expect(actions(withKey)).not.toContain('ivs:CreateParticipantToken')
    expect(actions(runIamPolicy([], { IVS_PUBLIC_KEY_ARN: KEY }))).toContain('ivs:CreateParticipantToken')
  })

  test('the fleet tag’s value is the fleet id serve tags its stages with: REDIS_KEY_PREFIX without what a tag value cannot hold', () => {
    const condition = (env: Record<string, string>) => statement(runIamPolicy([], env), 'IvsFanoutFleetStages')!.Condition
    expect(condition({})).toEqual({ StringEquals: { 'aws:ResourceTag/ivs-fanout:fleet': 'ivsf' } })
    expect(condition({ REDIS_KEY_PREFIX: '{prod-eu}:' })).toEqual({ StringEquals: { 'aws:ResourceTag/ivs-fanout:fleet': 'prod-eu' } })
    expect(statement(runIamPolicy([], { REDIS_KEY_PREFIX: 'live:' }), 'IvsFanoutCreateFleetStages')!.Condition).toEqual({
      StringEquals: { 'aws:RequestTag/ivs-fanout:fleet': 'live' },
    })
    const settings = fleetSettings((loadServeConfig({ REDIS_KEY_PREFIX: '{prod-eu}:' }) as { config: ServeConfig }).config, FACTS)
    expect(settings.stages.fleetId).toBe('prod-eu')
  })

  test('serve’s own readers: the region, FANOUT_MODE, CloudWatch and MASTER_STAGE_ARN come out as serve’s loader reads them', () => {
    const envs: Record<string, string>[] = [
      {},
      { AWS_DEFAULT_REGION: 'ap-northeast-1', FANOUT_MODE: 'HYBRID', CLOUDWATCH_ENABLED: 'yes' },
      { AWS_REGION: 'eu-central-1', AWS_DEFAULT_REGION: 'us-west-2', FANOUT_MODE: 'replicate', CLOUDWATCH_ENABLED: '1', CLOUDWATCH_NAMESPACE: 'Live/Fleet' },
      { FANOUT_MODE: ' relay ', CLOUDWATCH_ENABLED: 'false', CLOUDWATCH_NAMESPACE: 'Unused', MASTER_STAGE_ARN: MASTER },
    ]
    for (const env of envs) {
      const serve = loadServeConfig(env)
      const policy = readPolicyArgs([], env)
      if (!serve.ok || !policy.ok) throw new Error(`refused: ${JSON.stringify(env)}`)
      const { awsRegion, fanoutMode, cloudwatchEnabled, cloudwatchNamespace, masterStageArn, redisKeyPrefix } = serve.config
      expect(policy.input).toMatchObject({
        region: awsRegion,
        fanoutMode,
        cloudwatchNamespace: cloudwatchEnabled ? cloudwatchNamespace : null,
        masterStageArn,
        fleetId: fleetIdOf(redisKeyPrefix),
      })
    }
    // One copy: iam-policy names none of these variables itself.
    const source = readFileSync(join(ROOT, 'src/cli/iam-policy.ts'), 'utf8')
    for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'FANOUT_MODE', 'CLOUDWATCH_ENABLED', 'CLOUDWATCH_NAMESPACE', 'REDIS_KEY_PREFIX'])
      expect({ name, read: source.includes(`'${name}'`) }).toEqual({ name, read: false })
  })

  test('no account anywhere: ACCOUNT_ID and a note on stderr; an ARN of another region: a note', () => {
    const r = runIamPolicy([], { AWS_REGION: 'eu-west-1' })
    expect(r.code).toBe(0)
    expect(stageResource(r)).toBe('arn:aws:ivs:eu-west-1:ACCOUNT_ID:stage/*')
    expect(r.stderr).toContain('replace ACCOUNT_ID')
    const other = runIamPolicy([], { AWS_REGION: 'us-east-1', MASTER_STAGE_ARN: MASTER })
    expect(other.stderr).toContain('MASTER_STAGE_ARN is in eu-west-1, but AWS_REGION is us-east-1')
  })

  test('refused, exit 2: a bad --account, an unknown option, a bad FANOUT_MODE, ARNs of two accounts', () => {
    const cases: [string[], Record<string, string>, string][] = [
      [['--account', '12'], {}, '--account must be a 12-digit AWS account id'],
      [['--account'], {}, '--account must be a 12-digit AWS account id'],
      [['--verbose'], {}, 'unknown option "--verbose"'],
      [[], { FANOUT_MODE: 'mesh' }, 'FANOUT_MODE must be one of relay, replicate, hybrid'],
      [[], { MASTER_STAGE_ARN: MASTER, IVS_PUBLIC_KEY_ARN: KEY.replace('111122223333', '999988887777') }, 'name different accounts'],
      // IVS real-time is not offered outside the aws partition, and its ARNs say arn:aws:.
      [[], { AWS_REGION: 'cn-north-1' }, 'AWS_REGION is cn-north-1, where IVS real-time is not offered: it exists in the aws partition only'],
      [[], { AWS_REGION: 'us-gov-west-1' }, 'AWS_REGION is us-gov-west-1, where IVS real-time is not offered'],
      [[], { MASTER_STAGE_ARN: MASTER.replace('arn:aws:', 'arn:aws-cn:') }, 'MASTER_STAGE_ARN must be an IVS stage ARN (arn:aws:ivs:'],
    ]
    for (const [args, env, message] of cases) {
      const r = runIamPolicy(args, env)
      expect([r.code, r.stdout]).toEqual([2, ''])
      expect(r.stderr).toContain(message)
    }
  })

  test('ivs-fanout iam-policy, the process: JSON on stdout, exit 0', async () => {
    const proc = Bun.spawn([process.execPath, 'src/main.ts', 'iam-policy', '--account', '111122223333'], {
      env: { PATH: process.env.PATH ?? '', AWS_REGION: 'eu-west-1', FANOUT_MODE: 'hybrid' },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [code, stdout] = await Promise.all([proc.exited, new Response(proc.stdout).text()])
    expect(code).toBe(0)
    expect(JSON.parse(stdout).Statement[0].Resource).toBe('arn:aws:ivs:eu-west-1:111122223333:stage/*')
  })
})
