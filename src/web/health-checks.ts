import { describeError } from '../errors'

export interface HealthCheck {
  name: string
  kind: string
  check(): Promise<void>
}

export interface CheckResult {
  ok: boolean
  kind: string
  latencyMs: number
  error?: string
}

const CHECK_TIMEOUT_MS = 2_000
/** Unauthenticated probes must not turn into a stream of calls to dependencies (IVS, the API server): results are reused this long. */
const CHECK_CACHE_MS = 2_000

const round = (ms: number) => Math.round(ms * 100) / 100

async function runCheck(check: HealthCheck): Promise<CheckResult> {
  const started = performance.now()
  let timer: Timer | undefined
  try {
    await Promise.race([
      check.check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)
      }),
    ])
    return { ok: true, kind: check.kind, latencyMs: round(performance.now() - started) }
  } catch (error) {
    return { ok: false, kind: check.kind, latencyMs: round(performance.now() - started), error: describeError(error) }
  } finally {
    clearTimeout(timer)
  }
}

/** Runs every check (each bounded by a timeout), reusing the last results for a short while. */
export function cachedChecks(checks: HealthCheck[]): () => Promise<Record<string, CheckResult>> {
  let cached: { at: number; results: Promise<Record<string, CheckResult>> } | null = null
  return () => {
    const now = performance.now()
    if (!cached || now - cached.at > CHECK_CACHE_MS) {
      cached = { at: now, results: Promise.all(checks.map(async (c) => [c.name, await runCheck(c)] as const)).then(Object.fromEntries) }
    }
    return cached.results
  }
}

/** Seconds, rounded to hundredths. */
export const uptimeSeconds = (nowMs: number, startedAtMs: number) => round((nowMs - startedAtMs) / 1000)
