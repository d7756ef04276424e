import type { RelayConfig } from '../../relay/config'
import { describeError } from '../errors'
import { type CheckResult, fail, ok, skip } from './doctor-checks'

/**
 * A relay's link to its API server: /health answers, and GET /api/media/stages (read-only) accepts
 * the relay's API key and media secret, each within `timeoutMs`.
 */
export async function relayLinkChecks(
  config: Pick<RelayConfig, 'apiServerUrl' | 'apiSecretKey' | 'mediaServerSecret'>,
  timeoutMs: number,
): Promise<CheckResult[]> {
  const base = config.apiServerUrl
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(timeoutMs) })
  let health: Response
  try {
    health = await get('/health')
  } catch (error) {
    const why = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : describeError(error)
    return [fail('API server', `${base}/health: ${why}`), skip('API key', 'the API server does not answer')]
  }
  const body = (await health.json().catch(() => null)) as { status?: unknown } | null
  const state = typeof body?.status === 'string' ? ` (${body.status})` : ''
  const results = [
    health.status === 200 ? ok('API server', `${base}/health answers 200${state}`) : fail('API server', `${base}/health answers ${health.status}${state}`),
  ]
  try {
    const headers: Record<string, string> = { 'x-api-key': config.apiSecretKey }
    if (config.mediaServerSecret) headers['x-media-auth'] = config.mediaServerSecret
    const res = await get('/api/media/stages', headers)
    const answer = (await res.json().catch(() => null)) as {
      data?: { stages?: unknown[] }
      error?: { code?: string; message?: string; details?: { credential?: unknown } }
    } | null
    if (res.status === 200) results.push(ok('API key', `accepted by ${base} (GET /api/media/stages: ${answer?.data?.stages?.length ?? 0} stages)`))
    else
      results.push(
        fail(
          'API key',
          `${base} refused GET /api/media/stages: ${res.status}${answer?.error?.code ? ` ${answer.error.code}` : ''}${refusalHint(res.status, answer?.error, config)}`,
        ),
      )
  } catch (error) {
    results.push(fail('API key', `GET /api/media/stages: ${describeError(error)}`))
  }
  return results
}

/** What to fix for a refusal: which of the relay's credentials serve did not take. */
function refusalHint(
  status: number,
  error: { message?: string; details?: { credential?: unknown } } | undefined,
  config: Pick<RelayConfig, 'mediaServerSecret'>,
): string {
  if (status === 401) return ` (API_SECRET_KEY${config.mediaServerSecret ? ' or MEDIA_SERVER_SECRET' : ''} is not serve's)`
  if (status !== 403) return ''
  if (error?.details?.credential === 'x-media-auth')
    return ` (MEDIA_SERVER_SECRET is not serve's: the API key was accepted, the media secret it sends as x-media-auth was not; set MEDIA_SERVER_SECRET to serve's value)`
  return typeof error?.message === 'string' ? ` (${error.message})` : ''
}
