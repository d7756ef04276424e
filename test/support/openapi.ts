/**
 * Reading the app's own OpenAPI document (GET /swagger/json) in tests: its operations, and a readable
 * summary of what @apidevtools/swagger-parser rejects in it.
 */

import { describeError } from '../../src/errors'

export type Schema = Record<string, any>

export interface Parameter {
  name: string
  in: 'path' | 'query' | 'header' | 'cookie'
  required?: boolean
  schema?: Schema
  example?: unknown
  examples?: Record<string, unknown>
}

export interface Operation {
  summary?: string
  description?: string
  operationId?: string
  parameters?: Parameter[]
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema; example?: unknown; examples?: unknown }> }
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema; example?: unknown; examples?: unknown }> }>
  security?: Record<string, string[]>[]
}

export interface OpenApiDoc {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  [key: string]: unknown
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const

export interface DocOperation {
  method: string // upper case
  path: string // OpenAPI template, e.g. /api/stage/{stageArn}
  op: Operation
}

export async function fetchOpenApi(baseUrl: string): Promise<OpenApiDoc> {
  const res = await fetch(`${baseUrl}/swagger/json`)
  if (res.status !== 200) throw new Error(`GET /swagger/json answered ${res.status}`)
  return (await res.json()) as OpenApiDoc
}

export function operations(doc: OpenApiDoc): DocOperation[] {
  const out: DocOperation[] = []
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of HTTP_METHODS) {
      const op = item[method]
      if (op) out.push({ method: method.toUpperCase(), path, op })
    }
  }
  return out
}

/** Elysia's `/api/stage/:stageArn` (and optional `:x?`) as an OpenAPI template `/api/stage/{stageArn}`. */
export const toOpenApiPath = (elysiaPath: string) => elysiaPath.replace(/:([A-Za-z0-9_]+)\??/g, '{$1}')

/** A JSON pointer into the document as "METHOD /path → rest/of/pointer". */
export function describePointer(pointer: string): { operation: string; where: string } {
  const parts = pointer
    .replace(/^#?\//, '')
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  if (parts[0] !== 'paths' || parts.length < 3) return { operation: '(document)', where: parts.join('/') }
  return { operation: `${parts[2]!.toUpperCase()} ${parts[1]}`, where: parts.slice(3).join('/') }
}

interface AjvIssue {
  instancePath: string
  keyword: string
  params?: Record<string, unknown>
  message?: string
}

/**
 * swagger-parser reports every schema problem several times (once per oneOf branch: "must have
 * required property '$ref'", "must match exactly one schema in oneOf"). This keeps the root causes,
 * grouped by what is wrong, with every operation affected and one example location each.
 */
export function explainValidationError(error: unknown, version = '3.0'): string[] {
  const details = (error as { details?: AjvIssue[] })?.details
  const message = describeError(error)
  if (!Array.isArray(details) || details.length === 0) return [message]
  const noise = (i: AjvIssue) => (i.keyword === 'required' && i.params?.missingProperty === '$ref') || i.keyword === 'oneOf'
  const groups = new Map<string, { count: number; operations: Map<string, string> }>()
  for (const issue of details) {
    if (noise(issue)) continue
    let key: string
    let pointer = issue.instancePath
    if (issue.keyword === 'additionalProperties') {
      const extra = String(issue.params?.additionalProperty)
      key = `keyword "${extra}" is not allowed here by OpenAPI ${version} (validator: "${issue.message}")`
      pointer = `${pointer}/${extra}`
    } else if (issue.keyword === 'enum' && pointer.endsWith('/type')) {
      key = `type value not allowed by OpenAPI ${version} (validator: "${issue.message}: ${JSON.stringify(issue.params?.allowedValues)}"); "null" is not a type before OpenAPI 3.1`
    } else if (issue.keyword === 'required') {
      key = `missing required property "${issue.params?.missingProperty}" (validator: "${issue.message}")`
    } else {
      key = `${issue.keyword}: ${issue.message} ${JSON.stringify(issue.params ?? {})}`
    }
    const group = groups.get(key) ?? { count: 0, operations: new Map() }
    group.count++
    const { operation, where } = describePointer(pointer)
    if (!group.operations.has(operation)) group.operations.set(operation, where)
    groups.set(key, group)
  }
  const lines: string[] = []
  for (const [key, group] of [...groups].sort((a, b) => b[1].count - a[1].count)) {
    lines.push(`${key}: ${group.count} place(s) in ${group.operations.size} operation(s)`)
    for (const [operation, where] of group.operations) lines.push(`    ${operation} → ${where}`)
  }
  return lines.length > 0 ? lines : [message]
}
