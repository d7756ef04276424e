import { type Env, EnvReader } from '../config/env'
import { fleetIdOf, readCloudWatch, readFanoutMode, readRedisKeyPrefix } from '../config/fleet'
import { readIvsAccess, readMasterStageArn, readPublicKeyArn } from '../config/ivs-access'
import { FLEET_TAG } from '../fleet/records'
import { IVS_PARTITION, outsideIvsPartition } from '../ivs/arn'
import { actionsFor, type IvsAction, type IvsOperationName, operatorOperations, serveOperations } from '../ivs/operations'

/**
 * `ivs-fanout iam-policy [--operator] [--account <id>]`: the least-privilege IAM policy for the
 * configured mode, from the one list of IVS operations the code calls (src/ivs/operations.ts).
 * IVS's service authorization reference: every stage action (CreateStage and ListStages included)
 * takes a stage ARN and the conditions aws:RequestTag/${TagKey}, aws:ResourceTag/${TagKey} and
 * aws:TagKeys; GetPublicKey, ImportPublicKey and DeletePublicKey a public-key ARN; ListPublicKeys no
 * resource ("*"). cloudwatch:PutMetricData takes no resource either, but its `cloudwatch:namespace`
 * condition key pins it to CLOUDWATCH_NAMESPACE.
 *
 * The fleet's ownership rule (stages without its tag are never touched) holds in IAM too: stages are
 * created only with the fleet tag in the request, and changed, deleted, replicated and given tokens
 * only where they carry it, or where they are MASTER_STAGE_ARN (which the operator may have made
 * without the tag: listed by its ARN). Reads stay on every stage: discovery needs them.
 */

/** Stands for the account when neither --account nor an ARN in the configuration names it. */
export const ACCOUNT_PLACEHOLDER = 'ACCOUNT_ID'

export interface PolicyInput {
  region: string
  /** 12 digits, or null for the placeholder. */
  account: string | null
  fanoutMode: 'relay' | 'replicate' | 'hybrid'
  selfSignedTokens: boolean
  /** CLOUDWATCH_NAMESPACE when CLOUDWATCH_ENABLED, else null. */
  cloudwatchNamespace: string | null
  /** The value of the fleet tag (ivs-fanout:fleet) on the fleet's stages: REDIS_KEY_PREFIX's fleet id. */
  fleetId: string
  /** MASTER_STAGE_ARN, allowed by its ARN (it may lack the fleet tag); null: the fleet's own, tagged master. */
  masterStageArn: string | null
  /** The statements for `keys` and `doctor` instead of serve's. */
  operator: boolean
}

export interface PolicyStatement {
  Sid: string
  Effect: 'Allow'
  Action: string[]
  Resource: string
  Condition?: Record<string, Record<string, string>>
}

export interface PolicyDocument {
  Version: '2012-10-17'
  Statement: PolicyStatement[]
}

/** The IVS operations the policy covers, for this input. */
export function policyOperations(input: PolicyInput): IvsOperationName[] {
  return input.operator ? operatorOperations() : serveOperations({ fanoutMode: input.fanoutMode, selfSignedTokens: input.selfSignedTokens })
}

export function iamPolicy(input: PolicyInput): PolicyDocument {
  const arn = (type: string) => `arn:${IVS_PARTITION}:ivs:${input.region}:${input.account ?? ACCOUNT_PLACEHOLDER}:${type}/*`
  const prefix = input.operator ? 'IvsFanoutOperator' : 'IvsFanout'
  const statements: PolicyStatement[] = []
  const actions = actionsFor(policyOperations(input))
  const add = (sid: string, chosen: IvsAction[], Resource: string, Condition?: PolicyStatement['Condition']) => {
    const Action = chosen.map((a) => `ivs:${a.action}`).sort()
    if (Action.length > 0) statements.push({ Sid: `${prefix}${sid}`, Effect: 'Allow', Action, Resource, ...(Condition ? { Condition } : {}) })
  }
  const stage = (access: string) => actions.filter((a) => a.resource === 'stage' && a.access === access)
  const tagged = (key: 'aws:RequestTag' | 'aws:ResourceTag') => ({ StringEquals: { [`${key}/${FLEET_TAG}`]: input.fleetId } })
  add('StageReads', stage('read'), arn('stage'))
  add('CreateFleetStages', stage('create'), arn('stage'), tagged('aws:RequestTag'))
  add('FleetStages', stage('owned'), arn('stage'), tagged('aws:ResourceTag'))
  // Without the condition: MASTER_STAGE_ARN may have been made without the fleet tag. Never DeleteStage.
  if (input.masterStageArn !== null)
    add(
      'MasterStage',
      stage('owned').filter((a) => a.onMaster),
      input.masterStageArn,
    )
  add(
    'PublicKeys',
    actions.filter((a) => a.resource === 'public-key'),
    arn('public-key'),
  )
  add(
    'ListPublicKeys',
    actions.filter((a) => a.resource === 'any'),
    '*',
  )
  if (!input.operator && input.cloudwatchNamespace !== null) {
    statements.push({
      Sid: 'IvsFanoutMetrics',
      Effect: 'Allow',
      Action: ['cloudwatch:PutMetricData'],
      Resource: '*',
      Condition: { StringEquals: { 'cloudwatch:namespace': input.cloudwatchNamespace } },
    })
  }
  return { Version: '2012-10-17', Statement: statements }
}

/** The region and account of a validated IVS ARN. */
const ACCOUNT_OF_ARN = /^arn:aws:ivs:([a-z0-9-]+):(\d{12}):/

export type PolicyArgs = { ok: true; input: PolicyInput; notes: string[] } | { ok: false; errors: string[] }

/** The policy's input from the command line and the environment serve reads, with serve's own readers. */
export function readPolicyArgs(args: readonly string[], env: Env): PolicyArgs {
  const r = new EnvReader(env)
  const errors: string[] = []
  const notes: string[] = []
  let account: string | null = null
  let operator = false
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--operator') operator = true
    else if (arg === '--account' || arg.startsWith('--account=')) {
      const value = arg === '--account' ? args[++i] : arg.slice('--account='.length)
      if (value === undefined || !/^\d{12}$/.test(value)) errors.push('--account must be a 12-digit AWS account id')
      else account = value
    } else errors.push(`unknown option "${arg}" (iam-policy takes --operator and --account <id>)`)
  }
  const region = readIvsAccess(r).awsRegion
  if (outsideIvsPartition(region))
    errors.push(`AWS_REGION is ${region}, where IVS real-time is not offered: it exists in the ${IVS_PARTITION} partition only (arn:${IVS_PARTITION}:ivs:…)`)
  const fanoutMode = readFanoutMode(r)
  const { cloudwatchEnabled, cloudwatchNamespace } = readCloudWatch(r)
  const fleetId = fleetIdOf(readRedisKeyPrefix(r))
  const masterStageArn = readMasterStageArn(r)
  const publicKeyArn = readPublicKeyArn(r)
  // Only whether a key is configured matters here: the key file need not be on this machine.
  const selfSignedTokens = publicKeyArn !== null && r.raw('IVS_PRIVATE_KEY') !== undefined
  const fromArns = new Set<string>()
  for (const [name, value] of [
    ['MASTER_STAGE_ARN', masterStageArn],
    ['IVS_PUBLIC_KEY_ARN', publicKeyArn],
  ] as const) {
    const match = ACCOUNT_OF_ARN.exec(value ?? '')
    if (!match) continue
    fromArns.add(match[2]!)
    if (match[1] !== region) notes.push(`${name} is in ${match[1]}, but AWS_REGION is ${region}: the policy is for ${region}, where serve calls IVS`)
  }
  if (account === null && fromArns.size > 1)
    errors.push(`MASTER_STAGE_ARN and IVS_PUBLIC_KEY_ARN name different accounts (${[...fromArns].join(', ')}): pass --account`)
  if (account === null && fromArns.size === 1) account = [...fromArns][0]!
  if (account === null) notes.push(`no account id (--account, or MASTER_STAGE_ARN / IVS_PUBLIC_KEY_ARN): replace ${ACCOUNT_PLACEHOLDER} in the ARNs`)
  errors.push(...r.errors)
  if (errors.length > 0) return { ok: false, errors }
  const cloudwatch = cloudwatchEnabled ? cloudwatchNamespace : null
  return { ok: true, input: { region, account, fanoutMode, selfSignedTokens, cloudwatchNamespace: cloudwatch, fleetId, masterStageArn, operator }, notes }
}

/** The command: the policy on stdout (JSON), notes on stderr; exit 2 on bad options or variables. */
export function runIamPolicy(args: readonly string[], env: Env): { code: number; stdout: string; stderr: string } {
  const parsed = readPolicyArgs(args, env)
  if (!parsed.ok) return { code: 2, stdout: '', stderr: `ivs-fanout: iam-policy:\n${parsed.errors.map((e) => `  - ${e}`).join('\n')}\n` }
  const stderr = parsed.notes.map((n) => `# ${n}\n`).join('')
  return { code: 0, stdout: `${JSON.stringify(iamPolicy(parsed.input), null, 2)}\n`, stderr }
}
