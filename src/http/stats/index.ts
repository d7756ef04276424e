import { Elysia } from 'elysia'
import type { RelayService } from '../../fleet/relays'
import { type StatsReader, utilisation } from '../../fleet/stats'
import { ok, responses } from '../../web/envelope'
import type { Authenticator } from '../auth'
import { iso } from '../schemas'
import { SECURITY } from '../security'
import { IvsStats, PublisherStats, StageStats, Stats, StatsHistory, ViewerStats } from './model'

export function statsRoutes({ reader, relays, auth }: { reader: StatsReader; relays: RelayService; auth: Authenticator }) {
  const current = () => reader.read()
  return (
    new Elysia({ prefix: '/api/stats', tags: ['stats'] })
      // Auth runs before validation: an unauthenticated caller learns nothing about the schemas.
      .onTransform(({ headers }) => auth.requireApiKey(headers))
      .get('', async () => ok(await current()), {
        response: responses(Stats),
        detail: {
          summary: 'Fleet stats',
          description: 'Viewers, stages and publisher state; the same object as the stats_update WebSocket message.',
          security: SECURITY.apiKey,
        },
      })
      .get(
        '/viewers',
        async () => {
          const stats = await current()
          const seats = stats.stages.reduce((sum, s) => (s.status === 'active' ? sum + s.capacity : sum), 0)
          return ok({ totalViewers: stats.totalViewers, seats, utilisation: utilisation(stats.totalViewers, seats) })
        },
        {
          response: responses(ViewerStats),
          detail: { summary: 'Viewer stats', description: 'Present viewers against the seats of active stages.', security: SECURITY.apiKey },
        },
      )
      .get(
        '/stages',
        async () => {
          const stats = await current()
          return ok({
            activeStages: stats.activeStages,
            drainingStages: stats.drainingStages,
            maxStages: reader.limits.maxStages,
            stages: stats.stages.map((s) => ({ ...s, utilisation: utilisation(s.viewers, s.capacity) })),
          })
        },
        { response: responses(StageStats), detail: { summary: 'Stage stats', description: 'Per-stage viewers and utilisation.', security: SECURITY.apiKey } },
      )
      .get(
        '/publisher',
        async () => {
          const [publisher, known] = await Promise.all([relays.publisherState(), relays.list()])
          return ok({
            active: publisher.active,
            updatedAt: iso(publisher.updatedAt),
            serverId: publisher.serverId,
            source: publisher.source ?? null,
            feedingRelay: publisher.source === 'ivs' ? null : publisher.serverId,
            relays: known.map((r) => ({
              serverId: r.serverId,
              state: r.state,
              publisherActive: r.publisherActive,
              publisherSince: r.publisherSince === undefined ? null : iso(r.publisherSince),
              feeding: publisher.source !== 'ivs' && r.serverId === publisher.serverId,
              connectedStages: r.connectedStages,
              lastHeartbeatAt: iso(r.lastHeartbeatAt)!,
              ageMs: r.ageMs,
              ingest: r.ingest ?? null,
              stageSessions: r.stageSessions ?? null,
            })),
          })
        },
        {
          response: responses(PublisherStats),
          detail: {
            summary: 'Publisher stats',
            description:
              "Whether a publisher is live at the relay, which relay feeds the stages (`feedingRelay`: the one holding the broadcaster; the others hold no stage sessions), and the relays' last reports: this project's relays also report their publisher's ingest (loss, repairs, keyframe interval) and their stage sessions by state.",
            security: SECURITY.apiKey,
          },
        },
      )
      .get(
        '/history',
        () => {
          const { settings, now, samples } = reader.history()
          return ok({
            intervalMs: settings.intervalMs,
            windowMs: settings.windowMs,
            now: iso(now)!,
            since: samples.length ? iso(samples[0]!.at)! : null,
            samples: samples.map(({ at, ...figures }) => ({ at: iso(at)!, ...figures })),
          })
        },
        {
          response: responses(StatsHistory),
          detail: {
            summary: 'Stats of the last hour',
            description:
              "The fleet's viewers, open seats and active stages every 10 s over the last hour, as this instance sampled them (in memory: `since` is later while the instance has run less than an hour). What the dashboard's chart starts from; stats_update continues it.",
            security: SECURITY.apiKey,
          },
        },
      )
      .get('/ivs', () => ok(reader.ivs()), {
        response: responses(IvsStats),
        detail: {
          summary: 'IVS API calls',
          description:
            "This instance's IVS API calls since it started, by operation and outcome (ok, throttled, error: every attempt, retries included), and how long they waited for the fleet-wide quota gate that keeps the fleet within IVS's per-operation rate quotas. Per instance (each counts its own calls), so apart from GET /api/stats, whose figures every instance reports alike. With the local stage provider: no calls.",
          security: SECURITY.apiKey,
        },
      })
  )
}
