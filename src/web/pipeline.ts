import { Elysia } from 'elysia'
import type { ErrorAction } from '../errors'
import type { Logger } from '../log'
import type { Counters } from '../metrics/counters'
import type { Peer } from './client-address'
import { type CorsPolicy, cors } from './cors'
import { drainable } from './drain'
import { envelope } from './envelope'
import type { GuessBudget } from './guess-budget'
import { guessGuard } from './guess-guard'
import { type BodyOptions, jsonBodies } from './json-bodies'
import { enforce, type RateCounter } from './rate-limiter'
import { requestLimits } from './request-limits'
import { canonicalPath } from './request-path'
import { securityHeaders } from './security-headers'

export interface PipelineOptions {
  logger: Logger
  counters: Counters
  /** What a caller should do for a domain error's `details.action` (serve's routes; the relay has none). */
  actionHint?(action: ErrorAction): string | undefined
  /** Path of each HTML page → its Content-Security-Policy; paths whose answers carry a secret (no-store). */
  pages: Record<string, string>
  noStore?: readonly string[]
  cors: { policy: CorsPolicy; exposeHeaders: string[] }
  /** The client's address for limits (clientOfRequest with TRUST_PROXY), worked out once per request. */
  clientOf: ClientOf
  /**
   * The paths that take a secret: guarded by the guess budget and counted by the rate limit. Given the
   * canonical path (request-path.ts canonicalPath: `/metrics/.`, `//metrics` and `/%6Detrics` are `/metrics`).
   */
  credentialed(path: string): boolean
  /** The request's credentials from its headers (and URL) alone, before any body is read (throws AppError to refuse); the canonical path. */
  checkCredentials(request: Request, path: string): void
  guesses: GuessBudget
  rateLimit: {
    counter: RateCounter
    /** The bucket a request counts in (default: its client address). */
    keyOf?(request: Request, client: string): string
  }
  body?: BodyOptions
  /** Refuses a client by its address before anything else is done for it (serve's API_ALLOWED_CIDRS); throws AppError. */
  admitClient?(request: Request, path: string, server: Peer | null): void
}

/**
 * The one ordered request pipeline of both modes, so a defence written once holds in each:
 * 1. envelope: a request id, and every error (ours, Elysia's, unexpected) as the JSON envelope;
 * 2. drain: after SIGTERM, `Connection: close` on every answer and readiness 503;
 * 3. security headers and 4. CORS, before anything that can refuse, so refusals carry them too;
 * 5. request limits (line + headers ≤ 16 KB, 431);
 * 6. client address (TRUST_PROXY), worked out once, and the mode's address allow-list; 7. guess guard: a locked-out address is refused
 *    before any store call; 8. rate limit (possibly counted fleet-wide, so awaited); then the guess
 *    guard checks the credentials and charges a failure in one synchronous step;
 * 9. body admission: declared lengths refused before reading, bodies on a deadline, JSON only
 *    (or the mode's text types).
 * `app.store.drain` is the drain switch.
 */
export function httpPipeline(options: PipelineOptions) {
  const { clientOf } = options
  // The path every decision below is made on, worked out once: its canonical form (however it is spelled).
  const paths = new WeakMap<Request, string>()
  const pathFor = (request: Request) => {
    let path = paths.get(request)
    if (path === undefined) {
      path = canonicalPath(request.url)
      paths.set(request, path)
    }
    return path
  }
  const guard = guessGuard(options.guesses, { clientOf, pathOf: pathFor, guards: options.credentialed, check: options.checkCredentials })
  const { counter, keyOf } = options.rateLimit
  const rateLimit = new Elysia({ name: 'rate-limit' }).onRequest(async ({ request, server, set }) => {
    // Every request to a credentialed path counts, OPTIONS too (CORS preflights were answered above).
    if (!options.credentialed(pathFor(request))) return
    const client = clientOf(request, server)
    enforce(await counter.hit(keyOf ? keyOf(request, client) : client), set)
  })
  return new Elysia({ name: 'http-pipeline' })
    .use(envelope({ logger: options.logger, counters: options.counters, actionHint: options.actionHint, observe: guard.observe }))
    .use(drainable())
    .use(securityHeaders({ pages: options.pages, noStore: options.noStore }))
    .use(cors(options.cors.policy, { exposeHeaders: options.cors.exposeHeaders }))
    .use(requestLimits())
    .onRequest(({ request, server }) => options.admitClient?.(request, pathFor(request), server))
    .use(guard.gate)
    .use(rateLimit)
    .use(guard.verify)
    .use(jsonBodies(options.body))
}

/** The client address of a request as the limits key it (TRUST_PROXY applied). */
export type ClientOf = (request: Request, server: Peer | null) => string
