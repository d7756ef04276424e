import { Elysia, t } from 'elysia'
import type { Clock } from '../clock'
import { Envelope, ErrorEnvelope, errorBody, ok } from './envelope'
import { cachedChecks, type HealthCheck, uptimeSeconds } from './health-checks'

export type { HealthCheck }

export interface HealthDeps {
  version: string
  mode: 'serve' | 'relay'
  startedAt: number
  clock: Clock
  checks: HealthCheck[]
  /** Extra fields for /health (the relay adds its sessions). */
  extra?: () => Record<string, unknown>
}

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

export function healthRoutes(deps: HealthDeps) {
  const uptime = () => uptimeSeconds(deps.clock.now(), deps.startedAt)
  const checkAll = cachedChecks(deps.checks)
  const report = async () => {
    const checks = await checkAll()
    const healthy = Object.values(checks).every((r) => r.ok)
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
        detail: {
          summary: 'Readiness',
          description:
            '503 UPSTREAM_UNAVAILABLE when the store or the stage provider does not answer, and from the moment a stop signal arrives (details.reason "draining").',
        },
      },
    )
}
