import type { Server } from 'bun'
import { Elysia } from 'elysia'
import { errorBody } from './envelope'
import { pathOf } from './request-path'

/**
 * A graceful stop as load balancers expect it (both modes): readiness turns 503 at once, requests
 * are still answered for the drain period, each with `Connection: close` so keep-alive clients
 * open their next connection elsewhere; only then does the server stop accepting, let in-flight
 * requests finish (up to the grace) and close what is left. Stopping at the signal instead resets
 * requests already on their way over kept-alive connections (ECONNRESET: the caller cannot tell
 * whether its request was done).
 */
export class Drain {
  #since: number | null = null
  /** Listeners being replaced (a certificate reload): their answers close the connection too. */
  readonly #retired = new WeakSet<object>()

  get draining(): boolean {
    return this.#since !== null
  }

  /** Since when (epoch ms), or null. */
  get since(): number | null {
    return this.#since
  }

  begin(now = Date.now()): void {
    this.#since ??= now
  }

  /** Connections of this server are told to close after their next answer (it is about to stop). */
  retire(server: object): void {
    this.#retired.add(server)
  }

  closes(server: object | null): boolean {
    return this.#since !== null || (server !== null && this.#retired.has(server))
  }
}

export interface StopOptions {
  /** How long to keep answering after readiness turned 503 (SHUTDOWN_GRACE_MS on a signal; default 0). */
  drainMs?: number
  /** Then how long in-flight requests may take before their connections are closed (default 10 s). */
  graceMs?: number
}

export const DEFAULT_STOP_GRACE_MS = 10_000

/**
 * The app side of the drain: `app.store.drain` is the switch. While draining, every response
 * carries `Connection: close` (WebSocket upgrades excepted), and `/health/ready` answers 503 with
 * reason "draining" whatever the dependencies say. Use it right after the request id hook: the
 * header is then set before any other hook can answer (CORS preflights), and the readiness answer
 * comes after all of them (security headers).
 */
export function drainable(drain = new Drain()) {
  return new Elysia()
    .state({ drain }) // not .state('drain', drain): Elysia drops an object with no enumerable keys
    .onRequest(({ request, set, server }) => {
      if (drain.closes(server) && !request.headers.has('upgrade')) set.headers.connection = 'close'
    })
    .onBeforeHandle({ as: 'global' }, ({ request, set }) => {
      if (!drain.draining || request.method !== 'GET' || pathOf(request.url) !== '/health/ready') return
      set.status = 503
      set.headers['content-type'] = 'application/json'
      return errorBody('UPSTREAM_UNAVAILABLE', 'draining: this instance is shutting down; send new requests to another instance', {
        reason: 'draining',
        drainingSince: new Date(drain.since!).toISOString(),
      })
    })
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Turns readiness off and keeps answering for `drainMs` (with Connection: close). */
export async function drainFor(drain: Drain, drainMs: number): Promise<void> {
  drain.begin()
  if (drainMs > 0) await wait(drainMs)
}

/** Stops accepting (idle keep-alive connections close), waits up to `graceMs` for in-flight requests, then closes the rest. */
export async function stopServer(server: Server<unknown>, graceMs: number): Promise<void> {
  let timer: Timer | undefined
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs)
  })
  await Promise.race([server.stop(false), grace])
  clearTimeout(timer)
  await server.stop(true)
}
