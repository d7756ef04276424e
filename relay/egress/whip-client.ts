import { describeError } from '../../src/errors'

export class WhipError extends Error {
  constructor(
    message: string,
    readonly status: number | null = null,
  ) {
    super(message)
  }
}

export interface WhipResource {
  /** The session's resource URL (absolute), for DELETE. */
  resourceUrl: string
  answer: string
  etag: string | null
}

const REDIRECTS = new Set([301, 302, 307, 308])

export interface WhipClientOptions {
  timeoutMs?: number
  maxRedirects?: number
}

/**
 * Where the stage token may go: https anywhere (IVS's global endpoint redirects to a regional one),
 * or the configured endpoint's own origin (a local or test endpoint on plain http).
 */
const trusted = (target: URL, endpoint: URL) => target.protocol === 'https:' || target.origin === endpoint.origin

/**
 * POSTs an SDP offer to a WHIP endpoint. Redirects are followed by hand (IVS answers 307, maybe
 * more than once) so the Authorization header and body go to every hop, but only to https or the
 * endpoint's own origin (anything else is refused before a byte is sent there); `Location` is
 * resolved against the URL that answered. Success is 201 with the answer and a Location (held to
 * the same rule: the DELETE carries the token).
 */
export async function whipPublish(url: string, token: string, offer: string, options: WhipClientOptions = {}): Promise<WhipResource> {
  const maxRedirects = options.maxRedirects ?? 5
  const signal = AbortSignal.timeout(options.timeoutMs ?? 10_000)
  const endpoint = new URL(url)
  let target = url
  for (let hop = 0; ; hop++) {
    let response: Response
    try {
      response = await fetch(target, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/sdp' },
        body: offer,
        redirect: 'manual',
        signal,
      })
    } catch (error) {
      throw new WhipError(`WHIP POST to ${new URL(target).origin} failed: ${describeError(error)}`)
    }
    if (REDIRECTS.has(response.status)) {
      await response.body?.cancel()
      const location = response.headers.get('location')
      if (!location) throw new WhipError(`WHIP endpoint answered ${response.status} without a Location`, response.status)
      if (hop >= maxRedirects) throw new WhipError(`WHIP endpoint redirected more than ${maxRedirects} times`, response.status)
      const next = new URL(location, target)
      if (!trusted(next, endpoint))
        throw new WhipError(
          `WHIP endpoint ${new URL(target).origin} answered ${response.status}: refused a redirect to ${next.origin} (only https or ${endpoint.origin} get the stage token)`,
          response.status,
        )
      target = next.toString()
      continue
    }
    if (response.status !== 201) {
      const detail = (await response.text().catch(() => '')).slice(0, 200)
      throw new WhipError(`WHIP endpoint answered ${response.status}${detail ? `: ${detail}` : ''}`, response.status)
    }
    const location = response.headers.get('location')
    if (!location) throw new WhipError('WHIP endpoint answered 201 without a Location', 201)
    const resource = new URL(location, target)
    if (!trusted(resource, endpoint)) {
      await response.body?.cancel()
      throw new WhipError(
        `WHIP endpoint answered 201: refused a session resource on ${resource.origin} (only https or ${endpoint.origin} get the stage token)`,
        201,
      )
    }
    return { resourceUrl: resource.toString(), answer: await response.text(), etag: response.headers.get('etag') }
  }
}

/** Ends a WHIP session; a resource that is already gone (404) is fine. */
export async function whipDelete(resourceUrl: string, token: string, timeoutMs = 5_000): Promise<void> {
  const response = await fetch(resourceUrl, { method: 'DELETE', headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) })
  await response.body?.cancel()
  if (!response.ok && response.status !== 404) throw new WhipError(`WHIP DELETE answered ${response.status}`, response.status)
}
