import { type Env, EnvReader } from '../config/env'
import { actionsFor, type IvsOperationName, type IvsResourceType, operatorOperations, serveOperations } from '../ivs/operations'

/**
 * `ivs-fanout iam-policy [--operator] [--account <id>]`: the least-privilege IAM policy for the
 * configured mode, from the one list of IVS operations the code calls (src/ivs/operations.ts).
 * IVS's service authorization reference: every stage action (CreateStage and ListStages included)
 * takes a stage ARN; GetPublicKey, ImportPublicKey and DeletePublicKey a public-key ARN;
 * ListPublicKeys no resource ("*"). cloudwatch:PutMetricData takes no resource either, but its
 * `cloudwatch:namespace` condition key pins it to CLOUDWATCH_NAMESPACE.
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

/** The partition of a region's ARNs (aws-cn in China, aws-us-gov in GovCloud). */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn'
  if (region.startsWith('us-gov-')) return 'aws-us-gov'
  return 'aws'
}

/** The IVS operations the policy covers, for this input. */
export function policyOperations(input: PolicyInput): IvsOperationName[] {
  return input.operator ? operatorOperations() : serveOperations({ fanoutMode: input.fanoutMode, selfSignedTokens: input.selfSignedTokens })
}

export function iamPolicy(input: PolicyInput): PolicyDocument {
  const arn = (type: string) => `arn:${partitionOf(input.region)}:ivs:${input.region}:${input.account ?? ACCOUNT_PLACEHOLDER}:${type}/*`
  const resources: Record<IvsResourceType, string> = { stage: arn('stage'), 'public-key': arn('public-key'), any: '*' }
  const names: Record<IvsResourceType, string> = { stage: 'Stages', 'public-key': 'PublicKeys', any: 'ListPublicKeys' }
  const prefix = input.operator ? 'IvsFanoutOperator' : 'IvsFanout'
  const statements: PolicyStatement[] = []
  const actions = actionsFor(policyOperations(input))
  for (const type of ['stage', 'public-key', 'any'] as const) {
    const named = actions.filter((a) => a.resource === type).map((a) => `ivs:${a.action}`)
    if (named.length > 0) statements.push({ Sid: `${prefix}${names[type]}`, Effect: 'Allow', Action: named.sort(), Resource: resources[type] })
  }
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

const ACCOUNT_OF_ARN = /^arn:[a-z-]+:ivs:([a-z0-9-]+):(\d{12}):/

export type PolicyArgs = { ok: true; input: PolicyInput; notes: string[] } | { ok: false; errors: string[] }

/** The policy's input from the command line and the environment serve reads. */
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
  const region = r.string('AWS_REGION', r.string('AWS_DEFAULT_REGION', 'us-east-1'))
  const fanoutMode = r.oneOf('FANOUT_MODE', ['relay', 'replicate', 'hybrid'] as const, 'relay')
  const cloudwatch = r.bool('CLOUDWATCH_ENABLED', false)
  const namespace = r.string('CLOUDWATCH_NAMESPACE', 'IVS/Production')
  // Only whether a key is configured matters here: the key file need not be on this machine.
  const selfSignedTokens = r.raw('IVS_PUBLIC_KEY_ARN') !== undefined && r.raw('IVS_PRIVATE_KEY') !== undefined
  const fromArns = new Set<string>()
  for (const name of ['MASTER_STAGE_ARN', 'IVS_PUBLIC_KEY_ARN']) {
    const match = ACCOUNT_OF_ARN.exec(r.raw(name) ?? '')
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
  return { ok: true, input: { region, account, fanoutMode, selfSignedTokens, cloudwatchNamespace: cloudwatch ? namespace : null, operator }, notes }
}

/** The command: the policy on stdout (JSON), notes on stderr; exit 2 on bad options or variables. */
export function runIamPolicy(args: readonly string[], env: Env): { code: number; stdout: string; stderr: string } {
  const parsed = readPolicyArgs(args, env)
  if (!parsed.ok) return { code: 2, stdout: '', stderr: `ivs-fanout: iam-policy:\n${parsed.errors.map((e) => `  - ${e}`).join('\n')}\n` }
  const stderr = parsed.notes.map((n) => `# ${n}\n`).join('')
  return { code: 0, stdout: `${JSON.stringify(iamPolicy(parsed.input), null, 2)}\n`, stderr }
}
