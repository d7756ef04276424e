import { Elysia, t } from 'elysia'
import type { Clock } from '../../clock'
import { AppError } from '../../errors'
import type { FleetStats } from '../../fleet/stats'
import type { ViewerSessionClaims } from '../../fleet/viewer-session'
import { bearerOf } from '../../web/credentials'
import type { Authenticator } from '../auth'
import { UserId } from '../schemas'
import { CLIENT_TYPES, type ClientType, type HubClient, type SocketHub } from './hub'

const Query = t.Object(
  {
    type: t.Union(
      CLIENT_TYPES.map((c) => t.Literal(c)),
      { error: 'type must be media-server, dashboard or viewer' },
    ),
    userId: t.Optional(UserId),
    apiKey: t.Optional(t.String({ maxLength: 256 })),
    viewerSession: t.Optional(t.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
)

const SOCKET_KEY_REQUIRED = 'send the API key as x-api-key or the apiKey query parameter'

/**
 * The pipeline's check of a `/ws` request's credentials, from its URL and headers alone (before the
 * route), so a failed socket login is charged in the one synchronous step every credential takes:
 * media servers and dashboards need the API key (x-api-key or `apiKey`); viewers their session
 * (Bearer or `viewerSession`) or the API key. Other types are left to the route (400, no key checked).
 */
export function requireSocketCredential(auth: Authenticator, request: Request): void {
  const start = request.url.indexOf('?')
  const query = new URLSearchParams(start === -1 ? '' : request.url.slice(start + 1))
  const type = query.get('type')
  const apiKey = request.headers.get('x-api-key') ?? query.get('apiKey') ?? undefined
  if (type === 'viewer') {
    const session = bearerOf({ authorization: request.headers.get('authorization') ?? undefined }) ?? query.get('viewerSession')
    auth.requireViewerCredential(session ? { authorization: `Bearer ${session}` } : { 'x-api-key': apiKey ?? '' })
  } else if (type === 'media-server' || type === 'dashboard') {
    if (!auth.checkSocketKey(apiKey, undefined)) throw new AppError('UNAUTHORIZED', SOCKET_KEY_REQUIRED)
  }
}

interface Connection {
  id: string
  data: { query: { type: ClientType; userId?: string }; request: Request }
  send(message: string): unknown
  close(code?: number, reason?: string): unknown
}

/**
 * `/ws?type=media-server|dashboard|viewer`. Media servers and dashboards authenticate with the API
 * key (header, or `apiKey` for browsers); viewers with their viewerSession (Bearer header or
 * `viewerSession`) or the API key, and must name their `userId`. A socket opened with a viewer
 * session is closed with 4401 when that session expires (the client reconnects with a fresh one).
 */
export function socketRoutes(deps: { hub: SocketHub; auth: Authenticator; clock: Clock; currentStats: () => Promise<FleetStats> }) {
  const clients = new Map<string, HubClient>()
  /** The viewer session an upgrade was authenticated with, from beforeHandle to open. */
  const sessions = new WeakMap<Request, ViewerSessionClaims>()
  return new Elysia({ name: 'ws' }).ws('/ws', {
    query: Query,
    detail: {
      summary: 'Live events',
      description:
        'WebSocket: stage_created, stage_deleted, stats_update, publisher_state, rejoin_required, media_server_offline, feeding_relay, replication_started, replication_stopped, relay_stages.',
      tags: ['events'],
    },
    beforeHandle({ query, headers, request }) {
      const apiKey = headers['x-api-key'] ?? query.apiKey
      if (query.type !== 'viewer') {
        if (!deps.auth.checkSocketKey(apiKey, undefined)) throw new AppError('UNAUTHORIZED', SOCKET_KEY_REQUIRED)
        return
      }
      if (!query.userId) throw new AppError('VALIDATION_ERROR', 'userId is required for type=viewer', { field: 'userId' })
      const session = bearerOf(headers) ?? query.viewerSession
      const claims = deps.auth.requireViewer(session ? { authorization: `Bearer ${session}` } : { 'x-api-key': apiKey ?? '' }, query.userId)
      if (claims) sessions.set(request, claims)
    },
    async open(ws) {
      const conn = ws as unknown as Connection
      const client: HubClient = {
        type: conn.data.query.type,
        userId: conn.data.query.userId ?? null,
        send: (message) => void conn.send(message),
        close: (code, reason) => void conn.close(code, reason),
      }
      clients.set(conn.id, client)
      const claims = sessions.get(conn.data.request)
      sessions.delete(conn.data.request)
      deps.hub.add(client, claims ? claims.exp * 1000 - deps.clock.now() : undefined)
      if (client.type === 'dashboard') {
        const stats = await deps.currentStats().catch(() => null)
        if (stats) deps.hub.sendStats(client, stats)
      }
    },
    message(ws, message) {
      if (message && typeof message === 'object' && (message as { type?: string }).type === 'ping') ws.send(JSON.stringify({ type: 'pong', data: {} }))
    },
    close(ws) {
      const id = (ws as unknown as Connection).id
      const client = clients.get(id)
      if (client) deps.hub.remove(client)
      clients.delete(id)
    },
  })
}
