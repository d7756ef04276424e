import { Elysia } from 'elysia'
import { AppError } from '../errors'
import type { GuessBudget } from './guess-budget'

interface Peer {
  requestIP(request: Request): { address: string } | null
}

/** Did this error come from a wrong or missing secret (not, say, a valid session acting for someone else)? */
export const isCredentialFailure = (error: AppError) => error.code === 'UNAUTHORIZED' || error.details?.credential !== undefined

/**
 * Guards every route that takes a secret with a GuessBudget: a locked-out address gets 429 before
 * its credentials are even looked at, and every credential failure is charged to its address. The
 * plugin does the first; `observe` (given to the envelope, which sees every error) does the second.
 */
export function guessGuard(budget: GuessBudget, options: { clientOf(request: Request, peer: Peer | null): string; guards(path: string): boolean }) {
  const clients = new WeakMap<Request, string>()
  const plugin = new Elysia({ name: 'guess-guard' }).onRequest(({ request, server }) => {
    const path = request.url.slice(request.url.indexOf('/', 8))
    if (!options.guards(path)) return
    const client = options.clientOf(request, server)
    clients.set(request, client)
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
  })
  const observe = (error: AppError, request: Request) => {
    const client = clients.get(request)
    if (client !== undefined && isCredentialFailure(error)) void budget.fail(client)
  }
  return { plugin, observe }
}
