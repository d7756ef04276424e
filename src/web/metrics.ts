import { Elysia, t } from 'elysia'
import { AppError } from '../errors'
import type { CounterSample } from '../metrics/counters'
import { type Histogram, type MetricFamily, renderFamilies } from '../metrics/prometheus'
import { bearerOf, SecretCheck } from './credentials'

const snake = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()

/** In-process counters as Prometheus counters: TokensIssued{kind} → ivs_fanout_tokens_issued_total{kind}. */
export function counterFamilies(samples: CounterSample[]): MetricFamily[] {
  const families = new Map<string, MetricFamily>()
  for (const s of samples) {
    const name = `ivs_fanout_${snake(s.name)}_total`
    let family = families.get(name)
    if (!family) {
      family = { name, help: `${s.name} since start (this instance)`, type: 'counter', samples: [] }
      families.set(name, family)
    }
    family.samples.push({ labels: s.dimensions, value: s.value })
  }
  return [...families.values()]
}

/** Throws 401 unless the headers carry the API key (x-api-key) or METRICS_TOKEN (Authorization: Bearer). */
export function metricsAccess(deps: { isApiKey(key: string | undefined): boolean; metricsToken: string | null }) {
  const token = deps.metricsToken ? new SecretCheck(deps.metricsToken) : null
  return (headers: Record<string, string | undefined>): void => {
    if (deps.isApiKey(headers['x-api-key']) || token?.matches(bearerOf(headers))) return
    throw new AppError('UNAUTHORIZED', 'send x-api-key or Authorization: Bearer <METRICS_TOKEN>')
  }
}

/**
 * GET /metrics in Prometheus text format, for the API key (x-api-key) or the separate
 * METRICS_TOKEN (Authorization: Bearer), so a scraper need not hold the API key.
 */
export function metricsRoute(deps: {
  isApiKey(key: string | undefined): boolean
  metricsToken: string | null
  families(): Promise<MetricFamily[]>
  histograms?: Histogram[]
}) {
  const requireAccess = metricsAccess(deps)
  return new Elysia({ name: 'metrics' }).get(
    '/metrics',
    async ({ headers }) => {
      requireAccess(headers)
      return new Response(renderFamilies(await deps.families(), deps.histograms), { headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } })
    },
    {
      response: {
        200: t.String({
          description: 'Prometheus text exposition format 0.0.4',
          example: '# HELP ivs_fanout_viewers present viewers in the fleet\n# TYPE ivs_fanout_viewers gauge\nivs_fanout_viewers 12\n',
        }),
      },
      detail: {
        summary: 'Prometheus metrics',
        description: 'Text exposition format (not JSON); x-api-key or Authorization: Bearer <METRICS_TOKEN>.',
        tags: ['health'],
        responses: {
          200: {
            description: 'Prometheus text exposition format 0.0.4',
            content: { 'text/plain': { schema: { type: 'string', example: '# TYPE ivs_fanout_viewers gauge\nivs_fanout_viewers 12\n' } } },
          },
        },
      },
    },
  )
}
