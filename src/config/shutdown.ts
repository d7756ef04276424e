import { type ConfigResult, type Env, EnvReader } from './env'

/** SHUTDOWN_GRACE_MS unset: how long a stopping instance keeps answering (readiness already 503). */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000

/**
 * The graceful stop of both modes (read by the command line for `serve` and `relay` alike): on
 * SIGTERM/SIGINT, /health/ready answers 503 at once and requests are still served for
 * SHUTDOWN_GRACE_MS, each with `Connection: close`, before the server stops accepting.
 */
export function loadShutdownConfig(env: Env): ConfigResult<{ shutdownGraceMs: number }> {
  const r = new EnvReader(env)
  const shutdownGraceMs = r.int('SHUTDOWN_GRACE_MS', DEFAULT_SHUTDOWN_GRACE_MS, 0, 600_000)
  return r.result({ shutdownGraceMs })
}
