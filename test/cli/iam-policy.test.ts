import { describe, expect, test } from 'bun:test'
import { iamPolicy, type PolicyInput, runIamPolicy } from '../../src/cli/iam-policy'

const MASTER = 'arn:aws:ivs:eu-west-1:111122223333:stage/AbCdEfGhIjKl'
const KEY = 'arn:aws:ivs:eu-west-1:111122223333:public-key/AbCdEfGhIjKl'
const base: PolicyInput = {
  region: 'eu-west-1',
  account: '111122223333',
  fanoutMode: 'relay',
  selfSignedTokens: true,
  cloudwatchNamespace: null,
  operator: false,
}
const actionsOf = (input: PolicyInput) => iamPolicy(input).Statement.flatMap((s) => s.Action)

describe('iam-policy: the document', () => {
  test('hybrid with API tokens and CloudWatch: the stage actions on the account’s stages, PutMetricData pinned to the namespace', () => {
    const policy = iamPolicy({ ...base, fanoutMode: 'hybrid', selfSignedTokens: false, cloudwatchNamespace: 'IVS/Production' })
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'IvsFanoutStages',
          Effect: 'Allow',
          Action: [
            'ivs:CreateParticipantToken',
            'ivs:CreateStage',
            'ivs:DeleteStage',
            'ivs:GetStage',
            'ivs:ListParticipantReplicas',
            'ivs:ListParticipants',
            'ivs:ListStages',
            'ivs:StartParticipantReplication',
            'ivs:StopParticipantReplication',
            'ivs:TagResource',
            'ivs:UpdateStage',
          ],
          Resource: 'arn:aws:ivs:eu-west-1:111122223333:stage/*',
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

  test('relay with self-signed tokens: no CreateParticipantToken, no starting or listing replications; the clean-up stop stays', () => {
    const actions = actionsOf(base)
    expect(actions).not.toContain('ivs:CreateParticipantToken')
    expect(actions).not.toContain('ivs:StartParticipantReplication')
    expect(actions).not.toContain('ivs:ListParticipantReplicas')
    expect(actions).toContain('ivs:StopParticipantReplication')
    expect(actions).toContain('ivs:ListParticipants')
    expect(actions.some((a) => a.startsWith('cloudwatch:'))).toBe(false)
  })

  test('--operator: the public keys on public-key/*, ListPublicKeys on * (it takes no resource), doctor’s stage reads; never CloudWatch', () => {
    const policy = iamPolicy({ ...base, operator: true, cloudwatchNamespace: 'IVS/Production' })
    expect(policy.Statement.map((s) => [s.Sid, s.Action, s.Resource])).toEqual([
      ['IvsFanoutOperatorStages', ['ivs:GetStage', 'ivs:ListStages'], 'arn:aws:ivs:eu-west-1:111122223333:stage/*'],
      [
        'IvsFanoutOperatorPublicKeys',
        ['ivs:DeletePublicKey', 'ivs:GetPublicKey', 'ivs:ImportPublicKey', 'ivs:TagResource'],
        'arn:aws:ivs:eu-west-1:111122223333:public-key/*',
      ],
      ['IvsFanoutOperatorListPublicKeys', ['ivs:ListPublicKeys'], '*'],
    ])
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

  test('the partition follows the region; without an account, a placeholder', () => {
    expect(iamPolicy({ ...base, region: 'cn-north-1' }).Statement[0]!.Resource).toBe('arn:aws-cn:ivs:cn-north-1:111122223333:stage/*')
    expect(iamPolicy({ ...base, region: 'us-gov-west-1' }).Statement[0]!.Resource).toBe('arn:aws-us-gov:ivs:us-gov-west-1:111122223333:stage/*')
    expect(iamPolicy({ ...base, account: null }).Statement[0]!.Resource).toBe('arn:aws:ivs:eu-west-1:ACCOUNT_ID:stage/*')
  })
})

describe('iam-policy: the command', () => {
  const stageResource = (r: { stdout: string }) => JSON.parse(r.stdout).Statement[0].Resource

  test('the account from MASTER_STAGE_ARN or IVS_PUBLIC_KEY_ARN; --account wins; the mode and CloudWatch from the environment', () => {
    const env = { AWS_REGION: 'eu-west-1', FANOUT_MODE: 'replicate', CLOUDWATCH_ENABLED: 'true', CLOUDWATCH_NAMESPACE: 'Mine' }
    const fromMaster = runIamPolicy([], { ...env, MASTER_STAGE_ARN: MASTER })
    expect([fromMaster.code, fromMaster.stderr]).toEqual([0, ''])
    expect(stageResource(fromMaster)).toBe('arn:aws:ivs:eu-west-1:111122223333:stage/*')
    const doc = JSON.parse(fromMaster.stdout)
    expect(doc.Statement[0].Action).toContain('ivs:StartParticipantReplication')
    expect(doc.Statement[1].Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': 'Mine' } })
    expect(stageResource(runIamPolicy([], { ...env, IVS_PUBLIC_KEY_ARN: KEY }))).toBe('arn:aws:ivs:eu-west-1:111122223333:stage/*')
    expect(stageResource(runIamPolicy(['--account', '444455556666'], { ...env, MASTER_STAGE_ARN: MASTER }))).toBe('arn:aws:ivs:eu-west-1:444455556666:stage/*')
    expect(stageResource(runIamPolicy(['--account=444455556666'], env))).toBe('arn:aws:ivs:eu-west-1:444455556666:stage/*')
  })

  test('self-signed when IVS_PUBLIC_KEY_ARN and IVS_PRIVATE_KEY are both set (the key file need not be here)', () => {
    const withKey = runIamPolicy([], { IVS_PUBLIC_KEY_ARN: KEY, IVS_PRIVATE_KEY: '/nowhere/ivs-private.pem' })
    expect(withKey.code).toBe(0)
    expect(JSON.parse(withKey.stdout).Statement[0].Action).not.toContain('ivs:CreateParticipantToken')
    expect(JSON.parse(runIamPolicy([], { IVS_PUBLIC_KEY_ARN: KEY }).stdout).Statement[0].Action).toContain('ivs:CreateParticipantToken')
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
