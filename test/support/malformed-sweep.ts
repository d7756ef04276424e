/**
 * A generated sweep of malformed requests, driven by the request schemas of the app's OpenAPI document.
 *
 * For every operation with a JSON body, path params or query params it builds variants that break
 * exactly one thing (a missing field, a wrong type, a violated bound, an unknown field, a body that is
 * not JSON or not an object, a wrong Content-Type, a junk path param or query), then asks an oracle
 * whether the variant is in fact valid. Valid variants are never sent (they could change state); they
 * are counted as skipped.
 *
 * The oracle is a small JSON Schema validator over the subset of keywords the document uses, with
 * the two behaviours of the server that the schemas alone do not say:
 *  - Elysia's t.Integer / t.Numeric accept numeric strings (the document shows them as
 *    anyOf[string(format integer|numeric), integer]); the string is converted and then checked
 *    against the integer branch, as Elysia does.
 *  - An empty body is parsed as {} (src/http/body-limit.ts); only application/json (and +json) bodies
 *    are parsed, anything else non-empty is refused.
 * A keyword it does not know makes it throw, so a new kind of schema cannot be misjudged silently.
 */
import type { OpenApiDoc, Parameter, Schema } from './openapi'
import { operations } from './openapi'

// ---------------------------------------------------------------------------------------------
// Oracle: a JSON Schema subset with TypeBox/Elysia semantics

const ANNOTATIONS = new Set(['description', 'example', 'examples', 'default', 'title', 'error', '$id', 'deprecated', 'readOnly', 'writeOnly'])
const KNOWN = new Set([
  ...ANNOTATIONS,
  'type',
  'const',
  'enum',
  'anyOf',
  'allOf',
  'oneOf',
  'nullable',
  'properties',
  'required',
  'additionalProperties',
  'patternProperties',
  'minProperties',
  'maxProperties',
  'items',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
])

/** Elysia's own formats for numeric strings (node_modules/elysia/dist/type-system/format.mjs). */
const FORMATS: Record<string, (value: string) => boolean> = {
  integer: (value) => !!value && Number.isInteger(+value),
  numeric: (value) => !!value && !Number.isNaN(+value),
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string'
    case 'number':
      return typeof value === 'number' && Number.isFinite(value)
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value)
    case 'boolean':
      return typeof value === 'boolean'
    case 'null':
      return value === null
    case 'object':
      return isObject(value)
    case 'array':
      return Array.isArray(value)
    default:
      throw new Error(`oracle: unknown type "${type}"`)
  }
}

/** The branch pair Elysia uses for t.Integer/t.Numeric, if this schema is one. */
function numericStringBranches(schema: Schema): { stringBranch: Schema; numberBranch: Schema } | null {
  if (!Array.isArray(schema.anyOf) || schema.anyOf.length !== 2) return null
  const stringBranch = schema.anyOf.find((b: Schema) => b.type === 'string' && (b.format === 'integer' || b.format === 'numeric'))
  const numberBranch = schema.anyOf.find((b: Schema) => b.type === 'integer' || b.type === 'number')
  return stringBranch && numberBranch ? { stringBranch, numberBranch } : null
}

/** Problems of `value` against `schema`; empty when valid. */
export function check(schema: Schema, value: unknown, at = '$'): string[] {
  for (const key of Object.keys(schema)) {
    if (!KNOWN.has(key) && !key.startsWith('x-')) throw new Error(`oracle: keyword "${key}" at ${at} is not understood; extend test/support/malformed-sweep.ts`)
  }
  if (schema.nullable === true && value === null) return []
  const problems: string[] = []
  const fail = (what: string) => problems.push(`${at}: ${what}`)

  const numeric = numericStringBranches(schema)
  if (numeric && typeof value === 'string') {
    const format = numeric.stringBranch.format as string
    if (!FORMATS[format]!(value)) return [`${at}: "${value.slice(0, 20)}" is not a ${format} string`]
    return check(numeric.numberBranch, +value, at)
  }
  if (schema.anyOf && !schema.anyOf.some((b: Schema) => check(b, value, at).length === 0)) fail('matches no anyOf branch')
  if (schema.oneOf && schema.oneOf.filter((b: Schema) => check(b, value, at).length === 0).length !== 1) fail('does not match exactly one oneOf branch')
  if (schema.allOf) for (const b of schema.allOf as Schema[]) problems.push(...check(b, value, at))

  if (schema.type !== undefined) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type]
    if (!types.some((t) => typeMatches(t, value))) return [...problems, `${at}: expected ${types.join('|')}`]
  }
  if ('const' in schema && value !== schema.const) fail(`expected ${JSON.stringify(schema.const)}`)
  if (schema.enum && !schema.enum.includes(value)) fail('not in enum')

  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) fail(`shorter than ${schema.minLength}`)
    if (schema.maxLength !== undefined && value.length > schema.maxLength) fail(`longer than ${schema.maxLength}`)
    if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) fail('does not match pattern')
    if (schema.format !== undefined) {
      const fn = FORMATS[schema.format]
      if (!fn) throw new Error(`oracle: format "${schema.format}" at ${at} is not understood`)
      if (!fn(value)) fail(`not a ${schema.format} string`)
    }
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) fail(`below ${schema.minimum}`)
    if (schema.maximum !== undefined && value > schema.maximum) fail(`above ${schema.maximum}`)
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) fail('not above exclusiveMinimum')
    if (typeof schema.exclusiveMaximum === 'number' && value >= schema.exclusiveMaximum) fail('not below exclusiveMaximum')
    if (schema.multipleOf !== undefined && value % schema.multipleOf !== 0) fail('not a multiple')
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) fail(`fewer than ${schema.minItems} items`)
    if (schema.maxItems !== undefined && value.length > schema.maxItems) fail(`more than ${schema.maxItems} items`)
    if (schema.items) value.forEach((item, i) => problems.push(...check(schema.items, item, `${at}[${i}]`)))
  }
  if (isObject(value)) {
    const keys = Object.keys(value)
    if (schema.minProperties !== undefined && keys.length < schema.minProperties) fail(`fewer than ${schema.minProperties} properties`)
    if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) fail(`more than ${schema.maxProperties} properties`)
    for (const name of schema.required ?? []) if (!Object.hasOwn(value, name)) fail(`missing ${name}`)
    const properties: Record<string, Schema> = schema.properties ?? {}
    const patterns = Object.entries((schema.patternProperties ?? {}) as Record<string, Schema>).map(([p, s]) => [new RegExp(p), s] as const)
    for (const key of keys) {
      let known = false
      if (Object.hasOwn(properties, key)) {
        known = true
        problems.push(...check(properties[key]!, value[key], `${at}.${key}`))
      }
      for (const [pattern, s] of patterns) {
        if (pattern.test(key)) {
          known = true
          problems.push(...check(s, value[key], `${at}.${key}`))
        }
      }
      if (!known && schema.additionalProperties === false) fail(`unknown property ${key}`)
      if (!known && isObject(schema.additionalProperties)) problems.push(...check(schema.additionalProperties, value[key], `${at}.${key}`))
    }
  }
  return problems
}

// ---------------------------------------------------------------------------------------------
// The operations to sweep

export interface SweepOperation {
  method: string
  path: string
  label: string
  body: Schema | null
  pathParams: Parameter[]
  queryParams: Parameter[]
  /** Security schemes the document asks for (all of one requirement). */
  needsMediaAuth: boolean
  baseline: { params: Record<string, string>; query: Record<string, string>; body: Record<string, unknown> | null }
}

const exampleOf = (schema: Schema | undefined, param?: Parameter): unknown =>
  param?.example ?? schema?.example ?? schema?.anyOf?.find((b: Schema) => b.example !== undefined)?.example

/** A valid body from the schema's own example, or built from its properties' examples. */
function baselineBody(schema: Schema, label: string): Record<string, unknown> {
  let body: unknown = schema.example
  if (body === undefined) {
    const built: Record<string, unknown> = {}
    for (const name of schema.required ?? []) built[name] = exampleOf(schema.properties?.[name])
    body = built
  }
  const problems = check(schema, body)
  if (problems.length > 0) throw new Error(`${label}: the documented example body is not valid: ${problems.join('; ')}`)
  return body as Record<string, unknown>
}

export function sweepOperations(doc: OpenApiDoc): SweepOperation[] {
  const out: SweepOperation[] = []
  for (const { method, path, op } of operations(doc)) {
    const label = `${method} ${path}`
    const json = op.requestBody?.content?.['application/json']?.schema ?? null
    const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path')
    const queryParams = (op.parameters ?? []).filter((p) => p.in === 'query')
    if (!json && pathParams.length === 0 && queryParams.length === 0) continue
    const params: Record<string, string> = {}
    for (const p of pathParams) {
      const example = exampleOf(p.schema, p)
      if (typeof example !== 'string') throw new Error(`${label}: path param ${p.name} has no string example to build valid requests from`)
      params[p.name] = encodeURIComponent(example)
    }
    const query: Record<string, string> = {}
    for (const p of queryParams.filter((q) => q.required)) {
      const example = exampleOf(p.schema, p)
      if (example === undefined) throw new Error(`${label}: required query param ${p.name} has no example`)
      query[p.name] = String(example)
    }
    const needsMediaAuth = (op.security ?? []).some((requirement) => 'mediaAuth' in requirement)
    out.push({
      method,
      path,
      label,
      body: json,
      pathParams,
      queryParams,
      needsMediaAuth,
      baseline: { params, query, body: json ? baselineBody(json, label) : null },
    })
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Variants

export type VariantKind =
  | 'missing' // a required field left out
  | 'wrong-type' // a field of another JSON type
  | 'constraint' // right type, violating pattern/length/bounds/integer-ness
  | 'extra' // an unknown field
  | 'not-json' // a body that does not parse
  | 'non-object' // JSON that is not an object
  | 'content-type' // the right body under a wrong Content-Type
  | 'param' // a malformed path parameter
  | 'query-field' // a malformed value of a known query parameter
  | 'query-junk' // unknown / duplicated / mangled query parameters

type BodySpec = { kind: 'absent' } | { kind: 'text'; text: string; contentType: string | null } | { kind: 'multipart'; fields: Record<string, string> }

export interface Variant {
  op: SweepOperation
  kind: VariantKind
  label: string
  /** The field a 400 must name (body property, query or path parameter). */
  field?: string
  /** Raw (already encoded) path segments per param. */
  params: Record<string, string>
  /** Raw query string without "?", or null for none. */
  query: string | null
  body: BodySpec | null
}

const FIELD_KINDS = new Set<VariantKind>(['missing', 'wrong-type', 'constraint', 'extra', 'param', 'query-field', 'query-junk'])
export const namesField = (v: Variant) => FIELD_KINDS.has(v.kind) && v.field !== undefined && v.field !== ''

export const HUGE = 100_000
/** Long path/query values stay under Bun's 16 KB request-line limit (beyond it Bun answers 431 itself). */
export const LONG_URL_VALUE = 8_000
export const DEEP = 5_000

/** `[[[...]]]` nested DEEP times; JSON text is built by hand (JSON.stringify of it would recurse too). */
export const DEEP_ARRAY_TEXT = '['.repeat(DEEP) + ']'.repeat(DEEP)
const DEEP_MARK = '\u0000deep-array\u0000'

const json = (value: unknown) => JSON.stringify(value).replaceAll(JSON.stringify(DEEP_MARK), DEEP_ARRAY_TEXT)
const jsonBody = (value: unknown): BodySpec => ({ kind: 'text', text: json(value), contentType: 'application/json' })
const rawJson = (text: string): BodySpec => ({ kind: 'text', text, contentType: 'application/json' })

function queryString(entries: [string, string][]): string {
  return entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
}

/** The effective scalar kind of a property, seeing through Elysia's numeric-string union. */
function kindOf(schema: Schema): string {
  const numeric = numericStringBranches(schema)
  if (numeric) return numeric.numberBranch.type
  if (typeof schema.type === 'string') return schema.type
  if (schema.anyOf) {
    const types = new Set((schema.anyOf as Schema[]).map(kindOf))
    return types.size === 1 ? [...types][0]! : 'mixed'
  }
  return 'unknown'
}

/** Bounds of a numeric property, from the wrapper or its number branch. */
function bounds(schema: Schema): { minimum?: number; maximum?: number } {
  const branch = numericStringBranches(schema)?.numberBranch ?? schema
  return { minimum: schema.minimum ?? branch.minimum, maximum: schema.maximum ?? branch.maximum }
}

/** A character that, repeated, satisfies the pattern (so a length violation is only that). */
function filler(schema: Schema): string {
  if (!schema.pattern) return 'x'
  const re = new RegExp(schema.pattern)
  return ['x', 'a', '1', '0', 'A', '-', '.'].find((c) => re.test(c.repeat(Math.max(schema.minLength ?? 1, 1)))) ?? 'x'
}

/** Values of every JSON type except the field's own, plus a deeply nested array. */
function wrongTypes(kind: string, example: unknown): [string, unknown][] {
  const out: [string, unknown][] = []
  if (kind !== 'integer' && kind !== 'number') out.push(['number', 12345], ['negative number', -7])
  if (kind !== 'boolean') out.push(['boolean', true])
  out.push(['null', null])
  if (kind !== 'array') out.push(['empty array', []], ['array of the example', [example ?? 'x']])
  if (kind !== 'object') out.push(['empty object', {}], ['object wrapping the example', { value: example ?? 'x' }])
  if (kind !== 'string') out.push(['string', `not-a-${kind}`], ['example as a string', typeof example === 'string' ? example : JSON.stringify(example ?? 'x')])
  out.push([`array nested ${DEEP} deep`, DEEP_MARK])
  return out
}

/** Right-typed values that break the field's constraints (the oracle drops those that do not). */
function constraintBreakers(schema: Schema, example: unknown): [string, unknown][] {
  const kind = kindOf(schema)
  const out: [string, unknown][] = []
  if (kind === 'string') {
    const fill = filler(schema)
    out.push(['empty string', ''], [`${HUGE}-character string`, fill.repeat(HUGE)])
    if ((schema.minLength ?? 0) > 1) out.push([`minLength-1 (${schema.minLength - 1} chars)`, fill.repeat(schema.minLength - 1)])
    if (schema.maxLength !== undefined) out.push([`maxLength+1 (${schema.maxLength + 1} chars)`, fill.repeat(schema.maxLength + 1)])
    if (schema.pattern) {
      const ex = typeof example === 'string' ? example : 'x'
      out.push(
        ['pattern: spaces and punctuation', 'bad value!'],
        ['pattern: path traversal', '../../etc/passwd'],
        ['pattern: unicode', 'ünïcødé-☃-𝕏'],
        ['pattern: NUL byte', `${ex}\u0000`],
        ['pattern: trailing newline', `${ex}\n`],
        ['pattern: leading space', ` ${ex}`],
        ['pattern: markup', '<script>alert(1)</script>'],
        ['pattern: upper-cased example', ex.toUpperCase()],
      )
    }
  }
  if (kind === 'integer' || kind === 'number') {
    const { minimum, maximum } = bounds(schema)
    if (minimum !== undefined) out.push([`minimum-1 (${minimum - 1})`, minimum - 1])
    if (maximum !== undefined) out.push([`maximum+1 (${maximum + 1})`, maximum + 1])
    if (kind === 'integer') out.push(['float where an integer is expected', 1.5], ['float near a bound', (minimum ?? 0) + 0.000001])
    out.push(['negative number', -1], ['huge number', 1e308], ['beyond 2^53', 2 ** 53 + 2])
    out.push(
      ['numeric string', String(typeof example === 'number' ? example : (minimum ?? 1))],
      ['numeric string out of range', String((maximum ?? 1e9) + 1)],
      ['float string', '1.5'],
      ['empty string', ''],
    )
  }
  if (kind === 'boolean') out.push(['string "true"', 'true'], ['1', 1], ['0', 0])
  if (kind === 'array') {
    const item = (schema.items ?? {}) as Schema
    const itemExample = exampleOf(item) ?? 'x'
    out.push(['array of numbers', [12345]], ['array with null', [null]], ['array of objects', [{}]], ['array of arrays', [[itemExample]]])
    if (kindOf(item) === 'string') out.push(['array with an empty string', ['']], ['array with a malformed item', ['not-valid item!']])
    if (schema.maxItems !== undefined) out.push([`maxItems+1 (${schema.maxItems + 1} items)`, Array.from({ length: schema.maxItems + 1 }, () => itemExample)])
  }
  if (kind === 'object') {
    const values: Schema | undefined =
      Object.values((schema.patternProperties ?? {}) as Record<string, Schema>)[0] ??
      (isObject(schema.additionalProperties) ? schema.additionalProperties : undefined)
    out.push(
      ['map with a number value', { key: 12345 }],
      ['map with a null value', { key: null }],
      ['map with an object value', { key: {} }],
      ['map with an array value', { key: ['x'] }],
    )
    const valueMax = values?.maxLength
    if (typeof valueMax === 'number') out.push([`map value of maxLength+1 (${valueMax + 1})`, { key: 'v'.repeat(valueMax + 1) }])
    if (schema.maxProperties !== undefined)
      out.push([
        `maxProperties+1 (${schema.maxProperties + 1} keys)`,
        Object.fromEntries(Array.from({ length: schema.maxProperties + 1 }, (_, i) => [`k${i}`, 'v'])),
      ])
  }
  return out
}

const PARAM_JUNK: [string, string][] = [
  ['not an ARN', 'not-an-arn'],
  ['URL-encoded junk %ZZ', '%ZZ'],
  ['truncated percent-encoding', '%E0%A4%A'],
  ['lone percent', '%'],
  ['encoded traversal ..%2F..%2Fstats', '..%2F..%2Fstats'],
  ['encoded traversal ..%2F', '..%2F'],
  ['double-encoded traversal %252e%252e%252f', '%252e%252e%252f'],
  ['encoded NUL', '%00'],
  ['encoded newline', '%0A'],
  ['encoded slash inside', 'arn%2Faws'],
  [`very long (${LONG_URL_VALUE} chars)`, 'a'.repeat(LONG_URL_VALUE)],
  ['unicode (encoded)', encodeURIComponent('ärn:äws:ïvs:☃:😀')],
  ['unicode right-to-left override', encodeURIComponent('arn\u202e')],
  ['fullwidth digits', encodeURIComponent('arn:aws:ivs:us-east-1:１２３４５６７８９０１２:stage/AbCdEf123456')],
  ['markup', encodeURIComponent('<script>alert(1)</script>')],
  ['SQL-ish', encodeURIComponent("' OR 1=1 --")],
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text is the probe
  ['template injection', encodeURIComponent('${jndi:ldap://127.0.0.1/a}')],
  ['single dot', '.'],
]

/** Variants of a documented ARN-shaped example that break its pattern in small ways. */
function nearMisses(example: string): [string, string][] {
  const out: [string, string][] = [
    ['example with a trailing newline', `${example}\n`],
    ['example with a leading space', ` ${example}`],
    ['example with a NUL', `${example}\u0000`],
    ['example upper-cased', example.toUpperCase()],
    ['example doubled', example + example],
    ['example truncated', example.slice(0, -1)],
    ['example plus a character', `${example}x`],
    ['example with unicode', `${example.slice(0, -1)}é`],
    [`example padded to ${LONG_URL_VALUE} chars`, example + 'a'.repeat(LONG_URL_VALUE - example.length)],
  ]
  return out
}

export function generateVariants(ops: SweepOperation[]): Variant[] {
  const variants: Variant[] = []
  for (const op of ops) {
    const base = op.baseline
    const baseQuery = Object.entries(base.query)
    const baseQueryString = op.queryParams.length > 0 ? queryString(baseQuery) : null
    const v = (kind: VariantKind, label: string, parts: Partial<Pick<Variant, 'params' | 'query' | 'body' | 'field'>>) =>
      variants.push({
        op,
        kind,
        label,
        field: parts.field,
        params: parts.params ?? base.params,
        query: parts.query !== undefined ? parts.query : baseQueryString,
        body: parts.body !== undefined ? parts.body : base.body ? jsonBody(base.body) : null,
      })

    // Body fields
    if (op.body && base.body) {
      const schema = op.body
      const properties: Record<string, Schema> = schema.properties ?? {}
      for (const name of schema.required ?? []) {
        const { [name]: _, ...rest } = base.body
        v('missing', `body.${name} missing`, { field: name, body: jsonBody(rest) })
      }
      for (const [name, propSchema] of Object.entries(properties)) {
        const example = base.body[name] ?? exampleOf(propSchema)
        for (const [label, value] of wrongTypes(kindOf(propSchema), example))
          v('wrong-type', `body.${name}: ${label}`, { field: name, body: jsonBody({ ...base.body, [name]: value }) })
        for (const [label, value] of constraintBreakers(propSchema, example))
          v('constraint', `body.${name}: ${label}`, { field: name, body: jsonBody({ ...base.body, [name]: value }) })
      }
      const baseText = json(base.body)
      const withRaw = (inner: string) => (baseText === '{}' ? `{${inner}}` : `{${inner},${baseText.slice(1)}`)
      v('extra', 'unknown field "extra"', { field: 'extra', body: jsonBody({ ...base.body, extra: 1 }) })
      v('extra', 'unknown field "isAdmin"', { field: 'isAdmin', body: jsonBody({ ...base.body, isAdmin: true }) })
      v('extra', 'unknown field "__proto__"', { field: '__proto__', body: rawJson(withRaw('"__proto__":{"polluted":true}')) })
      v('extra', 'unknown field "constructor"', { field: 'constructor', body: rawJson(withRaw('"constructor":{"prototype":{"polluted":true}}')) })
      const first = Object.keys(properties)[0]
      if (first) {
        const cased = first.charAt(0).toUpperCase() + first.slice(1)
        v('extra', `unknown field "${cased}" (case variant)`, { field: cased, body: jsonBody({ ...base.body, [cased]: base.body[first] ?? 'x' }) })
      }

      // Whole bodies
      for (const [label, text] of [
        ['unterminated object', '{'],
        ['truncated after a key', '{"a":'],
        ['trailing comma', baseText === '{}' ? '{,}' : `${baseText.slice(0, -1)},}`],
        ['single quotes', baseText.replaceAll('"', "'")],
        ['unquoted keys', baseText.replace(/"([^"]+)":/g, '$1:')],
        ['trailing garbage', `${baseText} garbage`],
        ['two objects', `${baseText}${baseText}`],
        ['NaN', 'NaN'],
        ['undefined', 'undefined'],
        ['plain words', 'hello world'],
        ['NUL bytes', '\u0000\u0000'],
        ['JSON with a comment', `/* c */ ${baseText}`],
      ] as [string, string][])
        v('not-json', `body not JSON: ${label}`, { body: rawJson(text) })
      for (const [label, text] of [
        ['empty array', '[]'],
        ['array of the valid body', `[${baseText}]`],
        ['string', '"a string"'],
        ['number', '42'],
        ['true', 'true'],
        ['false', 'false'],
        ['null', 'null'],
        [`array nested ${DEEP} deep`, DEEP_ARRAY_TEXT],
      ] as [string, string][])
        v('non-object', `body JSON but ${label}`, { body: rawJson(text) })
      v('non-object', 'no body at all', { body: { kind: 'absent' } })
      v('non-object', 'empty JSON body', { body: rawJson('') })

      const formFields = Object.fromEntries(Object.entries(base.body).map(([k, val]) => [k, typeof val === 'string' ? val : JSON.stringify(val)]))
      const urlencoded = new URLSearchParams(formFields).toString()
      v('content-type', 'valid JSON as text/plain', { body: { kind: 'text', text: baseText, contentType: 'text/plain' } })
      v('content-type', 'valid JSON as application/xml', { body: { kind: 'text', text: baseText, contentType: 'application/xml' } })
      v('content-type', 'valid JSON without a Content-Type', { body: { kind: 'text', text: baseText, contentType: null } })
      v('content-type', 'form-urlencoded fields', { body: { kind: 'text', text: urlencoded || 'a=b', contentType: 'application/x-www-form-urlencoded' } })
      v('content-type', 'multipart/form-data fields', { body: { kind: 'multipart', fields: Object.keys(formFields).length ? formFields : { a: 'b' } } })
      v('content-type', 'garbage Content-Type', { body: { kind: 'text', text: baseText, contentType: '}}not/a;type==' } })
    }

    // Path params
    for (const p of op.pathParams) {
      const example = String(exampleOf(p.schema, p))
      const junk: [string, string][] = [...PARAM_JUNK, ...nearMisses(example).map(([l, s]) => [l, encodeURIComponent(s)] as [string, string])]
      junk.push(['double-encoded example', encodeURIComponent(encodeURIComponent(example))])
      junk.push(['raw unencoded unicode', 'ärn☃'])
      for (const [label, raw] of junk) v('param', `path ${p.name}: ${label}`, { field: p.name, params: { ...base.params, [p.name]: raw } })
    }

    // Query params
    if (op.queryParams.length > 0) {
      for (const p of op.queryParams) {
        if (p.required) v('query-field', `query ${p.name} missing`, { field: p.name, query: queryString(baseQuery.filter(([k]) => k !== p.name)) })
        const example = exampleOf(p.schema, p)
        const schema = p.schema ?? {}
        const kind = kindOf(schema)
        const values: [string, string][] = [
          ['empty', ''],
          [`very long (${LONG_URL_VALUE} chars)`, 'x'.repeat(LONG_URL_VALUE)],
          ['%ZZ junk', '%ZZ'],
          ['word', 'abc'],
          ['float', '1.5'],
          ['negative', '-1'],
          ['zero', '0'],
          ['"true"', 'true'],
          ['"null"', 'null'],
          ['JSON array', '[1,2]'],
          ['JSON object', '{"a":1}'],
          ['unicode', 'ünï☃😀'],
          ['NUL', '\u0000'],
          ['Infinity', 'Infinity'],
          ['hex', '0x10'],
        ]
        if (kind === 'integer' || kind === 'number') {
          const { minimum, maximum } = bounds(schema)
          if (minimum !== undefined) values.push([`minimum-1 (${minimum - 1})`, String(minimum - 1)])
          if (maximum !== undefined) values.push([`maximum+1 (${maximum + 1})`, String(maximum + 1)])
          values.push(['beyond 2^53', '9007199254740993'], ['exponent', '1e400'])
        }
        if (kind === 'string') {
          if (schema.maxLength !== undefined) values.push([`maxLength+1 (${schema.maxLength + 1})`, filler(schema).repeat(schema.maxLength + 1)])
          if (typeof example === 'string') for (const [l, s] of nearMisses(example)) values.push([l, s])
        }
        for (const [label, value] of values) {
          v('query-field', `query ${p.name}: ${label}`, { field: p.name, query: queryString([...baseQuery.filter(([k]) => k !== p.name), [p.name, value]]) })
        }
        // duplicated: a valid value, then a bad one (Elysia keeps the last), and the other way round
        if (example !== undefined) {
          v('query-field', `query ${p.name} twice, bad value last`, {
            field: p.name,
            query: queryString([...baseQuery.filter(([k]) => k !== p.name), [p.name, String(example)], [p.name, '']]),
          })
          v('query-field', `query ${p.name} twice, bad value first`, {
            field: p.name,
            query: queryString([...baseQuery.filter(([k]) => k !== p.name), [p.name, ''], [p.name, String(example)]]),
          })
        }
        v('query-junk', `query ${p.name}[] (array syntax)`, {
          field: `${p.name}[]`,
          query: [baseQueryString, `${encodeURIComponent(p.name)}[]=1`].filter(Boolean).join('&'),
        })
      }
      const plus = (extra: string) => [baseQueryString, extra].filter(Boolean).join('&')
      v('query-junk', 'unknown query parameter', { field: 'junk', query: plus('junk=1') })
      v('query-junk', 'query __proto__', { field: '__proto__', query: plus('__proto__=x') })
      v('query-junk', 'query __proto__[polluted]', { field: '__proto__[polluted]', query: plus('__proto__[polluted]=1') })
      v('query-junk', 'query constructor', { field: 'constructor', query: plus('constructor=x') })
      v('query-junk', 'query key %ZZ', { field: '%ZZ', query: plus('%ZZ=1') })
      v('query-junk', 'query with an empty key', { query: plus('=x') })
      v('query-junk', `query with a ${LONG_URL_VALUE}-char unknown key`, { field: 'k'.repeat(LONG_URL_VALUE), query: plus(`${'k'.repeat(LONG_URL_VALUE)}=1`) })
      v('query-junk', 'query with unicode key', { field: 'ünï', query: plus(`${encodeURIComponent('ünï')}=1`) })
      v('query-junk', 'query of markup', { field: '<script>', query: plus(`${encodeURIComponent('<script>')}=1`) })
    }
  }
  return variants
}

// ---------------------------------------------------------------------------------------------
// Requests, and the oracle over a whole request

export function pathOf(variant: Variant): string {
  return variant.op.path.replace(/\{([^}]+)\}/g, (_, name: string) => variant.params[name] ?? '')
}

export function urlOf(baseUrl: string, variant: Variant): string {
  return baseUrl + pathOf(variant) + (variant.query !== null && variant.query !== '' ? `?${variant.query}` : '')
}

const decode = (s: string) => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

const templateMatches = (template: string, pathname: string) => {
  const t = template.split('/')
  const p = pathname.split('/')
  return t.length === p.length && t.every((seg, i) => (seg.startsWith('{') ? p[i] !== '' : seg === p[i]))
}

export interface Verdict {
  valid: boolean
  /** The URL no longer reaches this operation (dot segments collapsed, extra slashes): a 404 is right. */
  routeMismatch: boolean
  /** The URL reaches another documented operation of the same method: not a variant of this one. */
  otherOperation: string | null
  reasons: string[]
}

export function judge(baseUrl: string, variant: Variant, allOps: { method: string; path: string }[]): Verdict {
  const { op } = variant
  const reasons: string[] = []
  const pathname = new URL(urlOf(baseUrl, variant)).pathname
  let routeMismatch = false
  let otherOperation: string | null = null
  if (!templateMatches(op.path, pathname)) {
    routeMismatch = true
    const other = allOps.find((o) => o.method === op.method && templateMatches(o.path, pathname))
    if (other) otherOperation = `${other.method} ${other.path}`
    reasons.push(`URL ${pathname} does not reach ${op.path}`)
  } else {
    const segments = pathname.split('/')
    op.path.split('/').forEach((seg, i) => {
      const m = /^\{(.+)\}$/.exec(seg)
      if (!m) return
      const param = op.pathParams.find((p) => p.name === m[1])
      reasons.push(...check(param?.schema ?? {}, decode(segments[i]!), `path.${m[1]}`))
    })
  }

  if (op.queryParams.length > 0) {
    const search = new URL(urlOf(baseUrl, variant)).searchParams
    const values = new Map<string, string>()
    for (const [k, val] of search) values.set(k, val) // the last one wins, as in Elysia
    for (const [k] of values) if (!op.queryParams.some((p) => p.name === k)) reasons.push(`query.${k}: unknown`)
    for (const p of op.queryParams) {
      const val = values.get(p.name)
      if (val === undefined) {
        if (p.required) reasons.push(`query.${p.name}: missing`)
      } else reasons.push(...check(p.schema ?? {}, val, `query.${p.name}`))
    }
  }

  if (op.body) {
    const body = variant.body ?? { kind: 'absent' }
    let value: unknown
    let parsed = true
    if (body.kind === 'absent' || (body.kind === 'text' && body.text === '')) value = {}
    else if (body.kind === 'multipart') parsed = false
    else {
      const type = (body.contentType ?? '').split(';')[0]!.trim().toLowerCase()
      if (type !== 'application/json' && !type.endsWith('+json')) parsed = false
      else {
        try {
          value = JSON.parse(body.text)
        } catch {
          parsed = false
        }
      }
    }
    if (!parsed) reasons.push('body: not a JSON body')
    else reasons.push(...check(op.body, value, 'body'))
  }
  return { valid: reasons.length === 0, routeMismatch, otherOperation, reasons }
}

export type AuthMode = 'keys' | 'none' | 'wrong-media'

export function requestInit(variant: Variant, auth: AuthMode, secrets: { apiKey: string; mediaSecret: string }): RequestInit {
  const headers = new Headers()
  if (auth !== 'none') headers.set('x-api-key', secrets.apiKey)
  if (variant.op.needsMediaAuth && auth === 'keys') headers.set('x-media-auth', secrets.mediaSecret)
  if (variant.op.needsMediaAuth && auth === 'wrong-media') headers.set('x-media-auth', 'not-the-media-secret-000')
  let body: BodyInit | undefined
  const spec = variant.body
  if (spec?.kind === 'text') {
    body = new TextEncoder().encode(spec.text) // bytes: fetch adds no Content-Type of its own
    if (spec.contentType !== null) headers.set('content-type', spec.contentType)
  } else if (spec?.kind === 'multipart') {
    const form = new FormData()
    for (const [k, val] of Object.entries(spec.fields)) form.set(k, val)
    body = form
  }
  return { method: variant.op.method, headers, body, redirect: 'manual' }
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function pool<T, R>(items: T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await task(items[i]!, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
