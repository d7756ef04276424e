type Requirement = Record<string, string[]>[]

/** OpenAPI security requirements, named after the schemes in docs.ts. */
export const SECURITY = {
  apiKey: [{ apiKey: [] }] as Requirement,
  media: [{ apiKey: [], mediaAuth: [] }] as Requirement,
  viewer: [{ apiKey: [] }, { viewerSession: [] }] as Requirement,
}
