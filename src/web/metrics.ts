import { Elysia, t } from 'elysia'
import { AppError } from '../errors'
import type { CounterSample } from '../metrics/counters'
import { type Histogram, type MetricFamily, renderFamilies } from '../metrics/prometheus'
import { bearerOf, SecretCheck } from './credentials'

const snake = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()

/**
 * A counter a process always exports, counted or not: its help, and the label sets known in advance,
 * each exported at 0 until counted (`[{}]` for a counter without labels). Prometheus then sees every
 * family from the first scrape, and a first count is an increase from 0 rather than a new series
 * that `rate()` and `increase()` would not see. Label sets not known in advance (an error code, an
 * IVS operation) appear when first counted.
 */
export interface CounterSpec {
  help: string
  zeros?: readonly Record<string, string>[]
}

/** The counter every HTTP pipeline keeps (src/web/envelope.ts), serve's and the relay's. */
export const ERROR_COUNTERS: Record<string, CounterSpec> = {
  Errors: { help: 'error responses by code' },
}

const sameLabels = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v)

/**
 * In-process counters as Prometheus counters: TokensIssued{kind} → ivs_fanout_tokens_issued_total{kind}.
 * The `declared` ones come first, with their help, whether counted yet or not; any other counted name follows.
 */
export function counterFamilies(samples: CounterSample[], declared: Record<string, CounterSpec> = {}): MetricFamily[] {
  const families = new Map<string, MetricFamily>()
  for (const [counter, spec] of Object.entries(declared)) {
    const counted = samples.filter((s) => s.name === counter)
    const zeros = (spec.zeros ?? []).filter((labels) => !counted.some((s) => sameLabels(s.dimensions, labels)))
    families.set(counter, {
      name: `ivs_fanout_${snake(counter)}_total`,
      help: `${spec.help} (this instance, since start)`,
      type: 'counter',
      samples: [...zeros.map((labels) => ({ labels: { ...labels }, value: 0 })), ...counted.map((s) => ({ labels: s.dimensions, value: s.value }))],
    })
  }
  for (const s of samples) {
    if (s.name in declared) continue
    let family = families.get(s.name)
    if (!family) {
      family = { name: `ivs_fanout_${snake(s.name)}_total`, help: `${s.name} since start (this instance)`, type: 'counter', samples: [] }
      families.set(s.name, family)
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
