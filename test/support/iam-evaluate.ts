import type { PolicyDocument } from '../../src/cli/iam-policy'
import { IVS_OPERATION_USES, type IvsOperationName } from '../../src/ivs/operations'
import { RESOURCE_ARN_FIELDS, type RecordedRequest } from './ivs-server'

/**
 * A small IAM evaluator for the policies `iam-policy` prints: an identity policy alone, Allow
 * statements only (it prints no Deny), resources matched with IAM's `*` and `?` wildcards,
 * conditions with StringEquals on aws:RequestTag/<key>, aws:ResourceTag/<key> and plain context
 * keys (cloudwatch:namespace). Any other operator throws, so a policy this cannot judge fails the
 * test rather than passing it.
 */

export interface AuthorizationRequest {
  /** e.g. ivs:DeleteStage */
  action: string
  /** The resource's ARN, or "*" for an action that takes none. */
  resource: string
  /** The tags the request sets (CreateStage's, ImportPublicKey's). */
  requestTags?: Record<string, string>
  /** The tags the resource carries when the request arrives. */
  resourceTags?: Record<string, string>
  /** Other condition keys, e.g. cloudwatch:namespace. */
  context?: Record<string, string>
}

const globToRegExp = (pattern: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, (c) => `\\${c}`)
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  )

function contextValue(key: string, request: AuthorizationRequest): string | undefined {
  if (key.startsWith('aws:RequestTag/')) return request.requestTags?.[key.slice('aws:RequestTag/'.length)]
  if (key.startsWith('aws:ResourceTag/')) return request.resourceTags?.[key.slice('aws:ResourceTag/'.length)]
  return request.context?.[key]
}

function conditionsHold(condition: Record<string, Record<string, string>> | undefined, request: AuthorizationRequest): boolean {
  for (const [operator, entries] of Object.entries(condition ?? {})) {
    if (operator !== 'StringEquals') throw new Error(`the test's IAM evaluator does not know the operator ${operator}`)
    for (const [key, value] of Object.entries(entries)) if (contextValue(key, request) !== value) return false
  }
  return true
}

/** The Sids of the statements that allow the request (empty: denied, IAM's implicit deny). */
export function allowingStatements(policy: PolicyDocument, request: AuthorizationRequest): string[] {
  return policy.Statement.filter(
    (s) => s.Effect === 'Allow' && s.Action.includes(request.action) && globToRegExp(s.Resource).test(request.resource) && conditionsHold(s.Condition, request),
  ).map((s) => s.Sid)
}

export const allows = (policy: PolicyDocument, request: AuthorizationRequest): boolean => allowingStatements(policy, request).length > 0

/**
 * What IAM authorises one request the IVS test server recorded against: the operation's action (and
 * ivs:TagResource where it sets tags) on every stage or public key it names, each with the tags the
 * server held for it then; a create names none: a new ARN of the account and Region, with the
 * request's tags and none of its own yet; ListStages and ListPublicKeys the type's wildcard.
 */
export function authorizationsOf(recorded: RecordedRequest, where: { region: string; accountId: string }): AuthorizationRequest[] {
  const use = IVS_OPERATION_USES[recorded.operation as IvsOperationName]
  if (!use) throw new Error(`not an operation the product calls: ${recorded.operation}`)
  const actions = [recorded.operation, ...('alsoAuthorizes' in use ? use.alsoAuthorizes : [])].map((a) => `ivs:${a}`)
  const named = RESOURCE_ARN_FIELDS.map((field) => recorded.body?.[field]).filter((arn): arn is string => typeof arn === 'string')
  const base = `arn:aws:ivs:${where.region}:${where.accountId}`
  const created = recorded.operation === 'CreateStage' || recorded.operation === 'ImportPublicKey'
  const resources = named.length > 0 ? named : [use.resource === 'any' ? '*' : `${base}:${use.resource}/${created ? 'NewResource1' : '*'}`]
  const requestTags = (recorded.body?.tags ?? {}) as Record<string, string>
  return actions.flatMap((action) => resources.map((resource) => ({ action, resource, requestTags, resourceTags: recorded.resourceTags[resource] ?? {} })))
}
