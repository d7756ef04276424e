import { Elysia, t } from 'elysia'
import type { Clock } from '../clock'
import { describeError } from '../errors'
import { Envelope, ErrorEnvelope, errorBody, ok } from './envelope'

export interface HealthCheck {
  name: string
  kind: string
  check(): Promise<void>
}

export interface HealthDeps {
  version: string
  mode: 'serve' | 'relay'
  startedAt: number
  clock: Clock
  checks: HealthCheck[]
  /** Extra fields for /health (the relay adds its sessions). */
  extra?: () => Record<string, unknown>
}

const CHECK_TIMEOUT_MS = 2_000
/** Unauthenticated callers must not turn health probes into IVS calls: results are reused this long. */
const CHECK_CACHE_MS = 2_000

const CheckResult = t.Object({ ok: t.Boolean(), kind: t.String(), latencyMs: t.Number(), error: t.Optional(t.String()) })
const Health = t.Object(
  {
    status: t.Union([t.Literal('ok'), t.Literal('degraded')]),
    version: t.String(),
    mode: t.String(),
    uptime: t.Number({ description: 'seconds since start' }),
    checks: t.Record(t.String(), CheckResult),
  },
  {
    additionalProperties: true,
    example: { status: 'ok', version: '0.1.0', mode: 'serve', uptime: 12.3, checks: { store: { ok: true, kind: 'memory', latencyMs: 0.1 } } },
  },
)
const Live = t.Object(
  { status: t.Literal('ok'), version: t.String(), mode: t.String(), uptime: t.Number() },
  { example: { status: 'ok', version: '0.1.0', mode: 'serve', uptime: 12.3 } },
)

async function runCheck(check: HealthCheck) {
  const started = performance.now()
  let timer: Timer | undefined
  try {
    await Promise.race([
      check.check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)
      }),
    ])
    return { ok: true, kind: check.kind, latencyMs: round(performance.now() - started) }
  } catch (error) {
    return { ok: false, kind: check.kind, latencyMs: round(performance.now() - started), error: describeError(error) }
  } finally {
    clearTimeout(timer)
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100

export function healthRoutes(deps: HealthDeps) {
  const uptime = () => round((deps.clock.now() - deps.startedAt) / 1000)
  let cached: { at: number; results: Promise<(readonly [string, Awaited<ReturnType<typeof runCheck>>])[]> } | null = null
  const checkAll = () => {
    const now = performance.now()
    if (!cached || now - cached.at > CHECK_CACHE_MS) {
      cached = { at: now, results: Promise.all(deps.checks.map(async (c) => [c.name, await runCheck(c)] as const)) }
    }
    return cached.results
  }
  const report = async () => {
    const results = await checkAll()
    const checks = Object.fromEntries(results)
    const healthy = results.every(([, r]) => r.ok)
    return {
      healthy,
      body: { status: healthy ? ('ok' as const) : ('degraded' as const), version: deps.version, mode: deps.mode, uptime: uptime(), checks, ...deps.extra?.() },
    }
  }
  return new Elysia({ prefix: '/health', tags: ['health'] })
    .get('', async () => ok((await report()).body), {
      response: { 200: Envelope(Health) },
      detail: { summary: 'Health', description: 'Status, version, mode, uptime and the checks of the store and the stage provider (200 even when degraded).' },
    })
    .get('/live', () => ok({ status: 'ok' as const, version: deps.version, mode: deps.mode, uptime: uptime() }), {
      response: { 200: Envelope(Live) },
      detail: { summary: 'Liveness', description: 'The process is up and serving HTTP.' },
    })
    .get(
      '/ready',
      async ({ set }) => {
        const { healthy, body } = await report()
        if (healthy) return ok(body)
        set.status = 503
        return errorBody('UPSTREAM_UNAVAILABLE', 'a dependency is down', body)
      },
      {
        response: { 200: Envelope(Health), 503: ErrorEnvelope },
        detail: { summary: 'Readiness', description: '503 UPSTREAM_UNAVAILABLE when the store or the stage provider does not answer.' },
      },
    )
}
