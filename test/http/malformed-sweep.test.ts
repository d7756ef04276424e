/**
 * A generated sweep of malformed requests against the real server, driven by the request schemas
 * in its own OpenAPI document (GET /swagger/json, read at test time; nothing is hand-listed here).
 * See test/support/malformed-sweep.ts for the generator and the validity oracle.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { describeError } from '../../src/errors'
import {
  type AuthMode,
  generateVariants,
  judge,
  namesField,
  pool,
  requestInit,
  sweepOperations,
  urlOf,
  type Variant,
  type Verdict,
} from '../support/malformed-sweep'
import { fetchOpenApi, operations } from '../support/openapi'
import { startTestServer, type TestServer } from '../support/serve'

const API_KEY = 'sweep-api-key-0123456789abcdef'
const MEDIA_SECRET = 'sweep-media-secret-0123456789'
const CONCURRENCY = 16
const MIN_REQUESTS = 500

const STATUS_CODE: Record<number, string> = { 400: 'VALIDATION_ERROR', 401: 'UNAUTHORIZED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 413: 'PAYLOAD_TOO_LARGE' }
const STACK_PATTERNS: [string, RegExp][] = [
  ['"at <file path>" stack frame', /\bat\s+(?:[^\s()]+\s+\()?(?:file:\/\/)?\/?[\w.-]+(?:\/[\w.@-]+)+:\d+/],
  ['"node_modules"', /node_modules/],
  ['".ts:" source position', /\.ts:/],
  ['".mjs:"/".js:" source position', /\.m?js:\d+/],
  ['error name with stack', /(?:TypeError|RangeError|ReferenceError|SyntaxError):/],
]

interface Outcome {
  variant: Variant
  auth: AuthMode
  verdict: Verdict
  status: number | null
  transportError: string | null
  requestId: string | null
  contentType: string
  text: string
  body: any
}

let server: TestServer
let before: unknown
let after: unknown
const outcomes: Outcome[] = []
const skipped: { variant: Variant; why: string }[] = []
let planned = 0
let sweptOperations: string[] = []

async function data(path: string) {
  const res = await server.api(path, { headers: { 'x-media-auth': MEDIA_SECRET } })
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`)
  return (await res.json()).data
}

/** What the sweep must not change: viewers, stages and relays. */
async function snapshot() {
  const stats = await data('/api/stats')
  const stages = await data('/api/stage/list')
  const publisher = await data('/api/stats/publisher')
  return {
    totalViewers: stats.totalViewers,
    stageCount: stats.stages.length,
    stageArns: stages.stages.map((s: { stageArn: string; name: string }) => `${s.stageArn} ${s.name}`).sort(),
    relays: publisher.relays.length,
    publisherActive: publisher.active,
  }
}

async function send(variant: Variant, auth: AuthMode, verdict: Verdict): Promise<Outcome> {
  const out: Outcome = { variant, auth, verdict, status: null, transportError: null, requestId: null, contentType: '', text: '', body: undefined }
  try {
    const res = await fetch(urlOf(server.url, variant), requestInit(variant, auth, { apiKey: API_KEY, mediaSecret: MEDIA_SECRET }))
    out.status = res.status
    out.requestId = res.headers.get('x-request-id')
    out.contentType = res.headers.get('content-type') ?? ''
    out.text = await res.text()
    try {
      out.body = JSON.parse(out.text)
    } catch {
      out.body = undefined
    }
  } catch (error) {
    out.transportError = describeError(error)
  }
  return out
}

const _where = (o: Outcome) =>
  `${o.variant.op.label}${o.auth === 'keys' ? '' : ` [${o.auth === 'none' ? 'no keys' : 'wrong x-media-auth'}]`} «${o.variant.label}»`

/** One line per (operation, problem) with how often and which variants, so a long list stays readable. */
function report(problems: { o: Outcome; problem: string }[], limit = 80): string[] {
  const groups = new Map<string, { count: number; examples: string[] }>()
  for (const { o, problem } of problems) {
    const key = `${o.variant.op.label}${o.auth === 'keys' ? '' : o.auth === 'none' ? ' [no keys]' : ' [wrong x-media-auth]'} → ${problem}`
    const g = groups.get(key) ?? { count: 0, examples: [] }
    g.count++
    if (g.examples.length < 4) g.examples.push(o.variant.label)
    groups.set(key, g)
  }
  const lines = [...groups]
    .map(([key, g]) => `${key} (${g.count}×, e.g. ${g.examples.map((e) => `«${e.length > 70 ? `${e.slice(0, 70)}…` : e}»`).join(', ')})`)
    .sort()
  return lines.length > limit ? [...lines.slice(0, limit), `… and ${lines.length - limit} more`] : lines
}

const snippet = (text: string) => (text.length > 160 ? `${text.slice(0, 160)}…` : text).replace(/\s+/g, ' ')

beforeAll(async () => {
  server = await startTestServer({ API_SECRET_KEY: API_KEY, MEDIA_SERVER_SECRET: MEDIA_SECRET })
  // some state that an accidentally accepted request could change
  const seeded = await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'sweep-seed-viewer' } })
  if (seeded.status !== 200) throw new Error(`seeding a viewer failed: ${seeded.status} ${await seeded.text()}`)

  const doc = await fetchOpenApi(server.url)
  const ops = sweepOperations(doc)
  sweptOperations = ops.map((op) => op.label)
  const allOps = operations(doc).map(({ method, path }) => ({ method, path }))
  const variants = generateVariants(ops)
  planned = variants.length

  const jobs: { variant: Variant; auth: AuthMode; verdict: Verdict }[] = []
  for (const variant of variants) {
    const verdict = judge(server.url, variant, allOps)
    if (verdict.valid) {
      skipped.push({ variant, why: 'valid by the schema' })
      continue
    }
    if (verdict.otherOperation) {
      skipped.push({ variant, why: `reaches ${verdict.otherOperation}` })
      continue
    }
    const n = jobs.length
    jobs.push({ variant, auth: 'keys', verdict })
    if (n % 4 === 0) jobs.push({ variant, auth: 'none', verdict })
    if (variant.op.needsMediaAuth && n % 4 === 2) jobs.push({ variant, auth: 'wrong-media', verdict })
  }

  before = await snapshot()
  outcomes.push(...(await pool(jobs, CONCURRENCY, (job) => send(job.variant, job.auth, job.verdict))))
  after = await snapshot()

  const count = <K>(keys: K[]) => keys.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<K, number>())
  const histogram = (auth: AuthMode) =>
    [...count(outcomes.filter((o) => o.auth === auth).map((o) => o.status ?? 'no response'))].map(([s, n]) => `${s}×${n}`).join(' ')
  const skippedByOp = new Map<string, string[]>()
  for (const s of skipped)
    skippedByOp.set(s.variant.op.label, [
      ...(skippedByOp.get(s.variant.op.label) ?? []),
      `«${s.variant.label}»${s.why === 'valid by the schema' ? '' : ` (${s.why})`}`,
    ])
  console.log(
    [
      `malformed sweep: ${ops.length} operations, ${planned} variants generated, ${skipped.length} skipped as valid (never sent), ${outcomes.length} requests sent`,
      `  statuses with keys: ${histogram('keys')}`,
      `  statuses without keys: ${histogram('none')}`,
      `  statuses with a wrong x-media-auth: ${histogram('wrong-media')}`,
      ...[...count(outcomes.map((o) => o.variant.op.label))].map(([op, n]) => `  sent to ${op}: ${n}`),
      ...[...skippedByOp].map(([op, labels]) => `  skipped for ${op}: ${labels.join(', ')}`),
    ].join('\n'),
  )
}, 120_000)

afterAll(() => server?.stop())

describe('malformed-request sweep generated from /swagger/json', () => {
  test(`sends at least ${MIN_REQUESTS} malformed requests, every one judged invalid; valid variants are skipped and counted`, () => {
    expect(outcomes.length).toBeGreaterThanOrEqual(MIN_REQUESTS)
    expect(outcomes.every((o) => !o.verdict.valid)).toBe(true)
    expect(planned).toBe(outcomes.filter((o) => o.auth === 'keys').length + skipped.length)
    // every operation with a body, params or query took part (the /api routes all have one), with and without keys
    expect(sweptOperations.length).toBeGreaterThanOrEqual(10)
    expect([...new Set(outcomes.map((o) => o.variant.op.label))].sort()).toEqual([...sweptOperations].sort())
    expect(outcomes.some((o) => o.auth === 'none')).toBe(true)
    expect(outcomes.some((o) => o.variant.op.needsMediaAuth && o.auth === 'keys')).toBe(true)
    expect(outcomes.some((o) => o.auth === 'wrong-media')).toBe(true)
  })

  test('no request fails at the transport level or with a 5xx', () => {
    const problems = outcomes
      .filter((o) => o.transportError !== null || (o.status ?? 0) >= 500)
      .map((o) => ({
        o,
        problem: o.transportError !== null ? `transport error: ${o.transportError}` : `${o.status} ${o.contentType.split(';')[0]}: ${snippet(o.text)}`,
      }))
    expect(report(problems)).toEqual([])
  })

  test('every malformed request is refused with the expected 4xx status and the matching code', () => {
    const problems: { o: Outcome; problem: string }[] = []
    for (const o of outcomes) {
      if (o.status === null || o.status >= 500) continue // reported above
      const allowed = new Set(o.verdict.routeMismatch ? [404] : [400, 413])
      // Without credentials, 401 comes first: they are checked before the body is read (and so before routing).
      if (o.auth === 'none') allowed.add(401)
      if (!o.verdict.routeMismatch && o.auth === 'wrong-media') allowed.add(403)
      if (o.status < 400) problems.push({ o, problem: `ACCEPTED with ${o.status} (${o.verdict.reasons.slice(0, 2).join('; ')})` })
      else if (!allowed.has(o.status))
        problems.push({ o, problem: `status ${o.status} ${o.body?.error?.code ?? ''}, expected ${[...allowed].join('/')}: ${snippet(o.text)}` })
      else if (o.body?.error?.code !== STATUS_CODE[o.status])
        problems.push({ o, problem: `status ${o.status} with code ${o.body?.error?.code}, expected ${STATUS_CODE[o.status]}` })
    }
    expect(report(problems)).toEqual([])
  })

  test('every response has an x-request-id, and every 4xx is the JSON error envelope', () => {
    const problems: { o: Outcome; problem: string }[] = []
    for (const o of outcomes) {
      if (o.status === null) continue
      if (!o.requestId) problems.push({ o, problem: `no x-request-id header (status ${o.status})` })
      if (o.status < 400 || o.status >= 500) continue
      const b = o.body
      const shapeOk =
        o.contentType.includes('application/json') &&
        b !== undefined &&
        b !== null &&
        typeof b === 'object' &&
        b.success === false &&
        typeof b.error === 'object' &&
        b.error !== null &&
        typeof b.error.code === 'string' &&
        b.error.code.length > 0 &&
        typeof b.error.message === 'string' &&
        b.error.message.length > 0 &&
        (b.error.details === undefined || (typeof b.error.details === 'object' && b.error.details !== null && !Array.isArray(b.error.details))) &&
        typeof b.timestamp === 'string' &&
        !Number.isNaN(Date.parse(b.timestamp)) &&
        !('data' in b)
      if (!shapeOk) problems.push({ o, problem: `${o.status} is not the error envelope (${o.contentType}): ${snippet(o.text)}` })
    }
    expect(report(problems)).toEqual([])
  })

  test('no response leaks a stack trace, source paths or a secret', () => {
    const problems: { o: Outcome; problem: string }[] = []
    for (const o of outcomes) {
      if (o.status === null) continue
      for (const [name, pattern] of STACK_PATTERNS) if (pattern.test(o.text)) problems.push({ o, problem: `${o.status} body contains ${name}` })
      if (o.text.includes(API_KEY)) problems.push({ o, problem: `${o.status} body contains the API key` })
      if (o.text.includes(MEDIA_SECRET)) problems.push({ o, problem: `${o.status} body contains the media secret` })
    }
    expect(report(problems)).toEqual([])
  })

  test('a 400 for a missing, mistyped, out-of-bounds or unknown field names that field (message or details)', () => {
    const problems: { o: Outcome; problem: string }[] = []
    for (const o of outcomes) {
      if (o.status !== 400 || !namesField(o.variant)) continue
      const field = o.variant.field!
      const said = JSON.stringify({ message: o.body?.error?.message, details: o.body?.error?.details })
      if (!said.includes(JSON.stringify(field).slice(1, -1)))
        problems.push({
          o,
          problem: `400 does not name "${field.length > 40 ? `${field.slice(0, 40)}…` : field}": ${snippet(o.body?.error?.message ?? o.text)}`,
        })
    }
    expect(report(problems)).toEqual([])
  })

  test('details.fields of such a 400 points at that field, not at a placeholder', () => {
    const problems: { o: Outcome; problem: string }[] = []
    for (const o of outcomes) {
      if (o.status !== 400 || !namesField(o.variant)) continue
      const fields = o.body?.error?.details?.fields
      if (!Array.isArray(fields)) continue // details are optional; the message check above applies
      const field = o.variant.field!
      const named = fields.some(
        (f: { field?: unknown }) => typeof f.field === 'string' && (f.field === field || f.field.startsWith(`${field}.`) || f.field.startsWith(`${field}[`)),
      )
      if (!named)
        problems.push({
          o,
          problem: `details.fields = ${JSON.stringify(fields.map((f: { field?: unknown }) => f.field))}, expected "${field.length > 40 ? `${field.slice(0, 40)}…` : field}"`,
        })
    }
    expect(report(problems)).toEqual([])
  })

  test('the malformed requests changed nothing: viewers, stages and relays are as before', () => {
    expect(after).toEqual(before)
  })
})
