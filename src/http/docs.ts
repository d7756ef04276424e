import { swagger } from '@elysiajs/swagger'

export function docs(version: string) {
  return swagger({
    path: '/swagger',
    exclude: ['/swagger', '/swagger/json'],
    documentation: {
      // Our schemas use 3.1 keywords (const, patternProperties, type arrays for null).
      openapi: '3.1.0',
      info: {
        title: 'ivs-fanout API',
        version,
        description:
          'Tokens, stage assignment, presence and stats for one broadcaster fanned out over many Amazon IVS real-time stages. Every response is an envelope: {success, data, timestamp} or {success: false, error: {code, message, details}, timestamp}.',
      },
      tags: [
        { name: 'tokens', description: 'IVS participant tokens' },
        { name: 'viewers', description: 'presence, heartbeats and watch time' },
        { name: 'stages', description: 'the fleet of stages' },
        { name: 'stats', description: 'live numbers' },
        { name: 'relay', description: 'control plane of the media relay' },
        { name: 'health', description: 'liveness and readiness' },
      ],
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'API_SECRET_KEY' },
          mediaAuth: { type: 'apiKey', in: 'header', name: 'x-media-auth', description: 'MEDIA_SERVER_SECRET (relay routes, when configured)' },
          viewerSession: { type: 'http', scheme: 'bearer', description: 'the viewerSession returned with a viewer token' },
        },
      },
    },
  })
}
