type Requirement = Record<string, string[]>[]

/** OpenAPI security requirements, named after the schemes in docs.ts. */
export const SECURITY = {
  apiKey: [{ apiKey: [] }] as Requirement,
  media: [{ apiKey: [], mediaAuth: [] }] as Requirement,
  viewer: [{ apiKey: [] }, { viewerSession: [] }] as Requirement,
}

/** Routes whose answers carry a participant token or a viewer session: never stored by a cache. */
export const TOKEN_ROUTES = [
  '/api/token/publisher',
  '/api/token/viewer',
  '/api/token/mediaserver',
  '/api/media/token',
  '/api/viewer/rejoin',
  '/api/viewer/heartbeat',
]
