import { Elysia } from 'elysia'
import { AppError } from '../errors'
import type { Peer } from './client-address'
import type { GuessBudget } from './guess-budget'
import { canonicalPath } from './request-path'

/**
 * Did this error come from a wrong or missing secret? Not a valid session acting for someone else,
 * and not an honest session that merely expired (its signature is right: nobody guessed anything).
 */
export const isCredentialFailure = (error: AppError) =>
  error.details?.credential !== undefined || (error.code === 'UNAUTHORIZED' && error.details?.reason !== 'session-expired')

/** Throws 429 (reason "authentication-failures", with Retry-After) while `client` is locked out. */
export function refuseIfLocked(budget: GuessBudget, client: string): void {
  const waitMs = budget.lockedFor(client)
  if (waitMs > 0) {
    const seconds = Math.ceil(waitMs / 1000)
    throw new AppError(
      'RATE_LIMITED',
      `too many failed authentications from this address; retry in ${seconds} s`,
      { reason: 'authentication-failures' },
      seconds,
    )
  }
}

export interface GuessGuardOptions {
  clientOf(request: Request, peer: Peer | null): string
  /** The path `guards` and `check` decide by (default: the canonical path, however it is spelled). */
  pathOf?(request: Request): string
  /** Paths whose requests take a secret. */
  guards(path: string): boolean
  /** The request's credentials, from its headers only (throws AppError to refuse); routes may check more. */
  check?(request: Request, path: string): void
}

/**
 * Guards every route that takes a secret with a GuessBudget, in three places:
 * - `gate`, first: a locked-out address gets 429 before anything else is done for it (no store call);
 * - `verify`, after the (possibly awaited, fleet-wide) rate limit: the lock is checked again and the
 *   credentials are checked and a failure charged in one synchronous step, so requests that waited
 *   together on the store cannot all get past a budget that the first of them used up;
 * - `observe` (given to the envelope, which sees every error): failures found later, by a route's
 *   own checks, are charged too.
 */
export function guessGuard(budget: GuessBudget, options: GuessGuardOptions) {
  const clients = new WeakMap<Request, string>()
  const charged = new WeakSet<Request>()
  const pathOf = options.pathOf ?? ((request: Request) => canonicalPath(request.url))
  const gate = new Elysia().onRequest(({ request, server }) => {
    if (request.method === 'OPTIONS' || !options.guards(pathOf(request))) return
    const client = options.clientOf(request, server)
    clients.set(request, client)
    refuseIfLocked(budget, client)
  })
  const verify = new Elysia().onRequest(({ request }) => {
    const client = clients.get(request)
    if (client === undefined || !options.check) return
    refuseIfLocked(budget, client)
    try {
      options.check(request, pathOf(request))
    } catch (error) {
      if (error instanceof AppError && isCredentialFailure(error)) {
        charged.add(request)
        void budget.fail(client)
      }
      throw error
    }
  })
  const observe = (error: AppError, request: Request) => {
    const client = clients.get(request)
    if (client !== undefined && !charged.has(request) && isCredentialFailure(error)) void budget.fail(client)
  }
  return { gate, verify, observe }
}
