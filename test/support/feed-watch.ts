import { decodeJwt } from 'jose'
import { type IvsServer, peakCount, startIvsServer } from './ivs-server'
import { startWhipEndpoint, type WhipEndpoint } from './whip-endpoint'

/**
 * What feeds each stage, seen from outside the fleet, for the fan-out mode tests: the WHIP sessions
 * that are up on the stage endpoint double (`onSession`: the broadcaster's own, `direct`, or a relay's,
 * `relay`) and the replications the IVS test server runs into it (`replica`), sampled every
 * `everyMs`. A stage's feeds over time give the longest run with two feeds or more (an overlap) and
 * with none (a gap), and every change of feed.
 */
export interface Feed {
  kind: 'direct' | 'relay' | 'replica'
  /** The participant: the token's jti (direct, relay) or the replicated participant. */
  participantId: string
  /** replica: the stage it is replicated from. */
  sourceStageArn?: string
}

export interface FeedSample {
  at: number
  /** Stage ARN → its feeds (stages without any are absent). */
  feeds: Map<string, Feed[]>
}

export const feedLabel = (f: Feed) => (f.kind === 'replica' ? `replica:${f.sourceStageArn}/${f.participantId}` : `${f.kind}:${f.participantId}`)

export class FeedWatch {
  readonly samples: FeedSample[] = []
  /** Sessions up now, per stage: session key → feed. */
  private readonly sessions = new Map<string, Map<string, Feed>>()
  private timer: Timer | null = null

  constructor(
    private readonly ivs: IvsServer,
    private readonly everyMs = 20,
  ) {}

  /** The stage endpoint's onSession, after the IVS test server's (link both). */
  onSession(stageArn: string, token: string, state: 'up' | 'down'): void {
    const claims = decodeJwt(token) as { jti?: string; user_id?: string }
    const participantId = claims.jti ?? 'unknown'
    const kind = claims.user_id?.startsWith('relay-') ? 'relay' : 'direct'
    let held = this.sessions.get(stageArn)
    if (!held) this.sessions.set(stageArn, (held = new Map()))
    if (state === 'up') held.set(token, { kind, participantId })
    else held.delete(token)
    this.sample()
  }

  start(): void {
    this.timer ??= setInterval(() => this.sample(), this.everyMs)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** The feeds now. */
  now(): Map<string, Feed[]> {
    const feeds = new Map<string, Feed[]>()
    const add = (arn: string, feed: Feed) => feeds.set(arn, [...(feeds.get(arn) ?? []), feed])
    for (const [arn, held] of this.sessions) for (const feed of held.values()) if (this.ivs.stages.has(arn)) add(arn, feed)
    for (const r of this.ivs.replications()) {
      if (r.state === 'ACTIVE') add(r.destinationStageArn, { kind: 'replica', participantId: r.participantId, sourceStageArn: r.sourceStageArn })
    }
    return feeds
  }

  feedsOf(arn: string): Feed[] {
    return this.now().get(arn) ?? []
  }

  sample(): void {
    this.samples.push({ at: performance.now(), feeds: this.now() })
  }

  /**
   * Between `from` and `to` (performance.now()): the longest run with two feeds or more on the stage,
   * and the longest with none, each from the first sample that saw it to the first that did not
   * (to within one sampling interval).
   */
  runs(arn: string, from: number, to = performance.now()): { overlapMs: number; gapMs: number } {
    const longest = { 0: 0, 1: 0, 2: 0 }
    let state: 0 | 1 | 2 | null = null
    let since = from
    const close = (at: number) => {
      if (state !== null) longest[state] = Math.max(longest[state], at - since)
    }
    for (const s of this.samples) {
      if (s.at < from || s.at > to) continue
      const n = Math.min(2, s.feeds.get(arn)?.length ?? 0) as 0 | 1 | 2
      if (n === state) continue
      close(s.at)
      state = n
      since = s.at
    }
    close(Math.min(to, this.samples.at(-1)?.at ?? to))
    return { overlapMs: longest[2], gapMs: longest[0] }
  }

  /** The stage's distinct feed sets in order (labels sorted, joined by '+'; '' for none), from `from` on. */
  history(arn: string, from = 0): string[] {
    const out: string[] = []
    for (const s of this.samples) {
      if (s.at < from) continue
      const label = (s.feeds.get(arn) ?? []).map(feedLabel).sort().join('+')
      if (out.at(-1) !== label) out.push(label)
    }
    return out
  }

  /** When the stage first had a feed matching `match` (performance.now()), or null. */
  firstAt(arn: string, match: (f: Feed) => boolean, from = 0): number | null {
    this.sample()
    return this.samples.find((s) => s.at >= from && (s.feeds.get(arn) ?? []).some(match))?.at ?? null
  }
}

/** The IVS operations that count against the account's 5 TPS of stage operations (all but CreateParticipantToken). */
const isStageOperation = (operation: string) => operation !== 'CreateParticipantToken'

/** The calls IVS received between `from` and `to`: per operation and all stage operations together, the peak in any 1 s and the average rate. */
export function ivsRates(ivs: IvsServer, from: number, to = performance.now()) {
  const requests = ivs.requests.filter((r) => r.at >= from && r.at <= to && isStageOperation(r.operation))
  const seconds = Math.max(0.001, (to - from) / 1000)
  const times = (list: typeof requests) => list.map((r) => r.at).sort((a, b) => a - b)
  const perOperation: Record<string, { calls: number; peak: number }> = {}
  for (const op of new Set(requests.map((r) => r.operation))) {
    const list = requests.filter((r) => r.operation === op)
    perOperation[op] = { calls: list.length, peak: peakCount(times(list), 1000) }
  }
  return {
    seconds,
    calls: requests.length,
    perSecond: requests.length / seconds,
    peakTotal: peakCount(times(requests), 1000),
    perOperation,
    throttled: requests.filter((r) => r.status === 429).length,
  }
}

export function describeRates(label: string, rates: ReturnType<typeof ivsRates>): string {
  const ops = Object.entries(rates.perOperation)
    .map(([op, r]) => `${op} ${r.calls} (peak ${r.peak}/s)`)
    .join(', ')
  return (
    `${label}: ${rates.calls} IVS stage operations in ${rates.seconds.toFixed(1)} s = ${rates.perSecond.toFixed(2)}/s on average, ` +
    `peak ${rates.peakTotal} in any 1 s (all operations together), ${rates.throttled} throttled; ${ops}`
  )
}

export interface WatchedIvs {
  ivs: IvsServer
  whip: WhipEndpoint
  watch: FeedWatch
}

/**
 * The IVS test server with the stage WHIP endpoint double linked to it (a session up there is its
 * participant publishing; stages made from now on name the double as their WHIP endpoint) and a
 * FeedWatch following both, not yet started.
 */
export async function startWatchedIvs(): Promise<WatchedIvs> {
  const ivs = await startIvsServer()
  const watch = new FeedWatch(ivs)
  const whip = await startWhipEndpoint({
    onSession: (arn, token, state) => {
      ivs.control.whipSession(arn, token, state)
      watch.onSession(arn, token, state)
    },
  })
  ivs.control.whipUrl = whip.url
  return { ivs, whip, watch }
}
