/**
 * One feeding relay (issue 21): which relay publishes into the stages. Pure: the same records give
 * the same answer on every serve instance, so whichever instance decides, they agree.
 */

/** What the decision reads of a relay. */
export interface FeedCandidate {
  serverId: string
  /** Heard from within MEDIA_SERVER_TIMEOUT_MS. */
  online: boolean
  publisherActive: boolean
  /**
   * When its current publisher connected (serve's clock, ms); null: none connected yet (an offer
   * still being answered, or no publisher); absent: the relay does not say (the original media
   * server), taken as older than any that does.
   */
  publisherSince?: number | null
}

/** Publishers that connected within this of each other are a tie: the current feeder keeps the stages. */
export const FEED_TIE_MS = 1_000

const since = (r: FeedCandidate) => r.publisherSince ?? Number.NEGATIVE_INFINITY

/**
 * The feeding relay: an online relay holding a connected publisher. When several do, the one whose
 * publisher connected most recently (the broadcaster moved there: the other relay has not noticed
 * yet that its publisher is gone, or it died holding one); the current feeder keeps the stages while
 * it holds a publisher that is not older than the newest by more than FEED_TIE_MS; equal times go to
 * the lowest serverId. Null when no relay holds a publisher.
 */
export function decideFeeder(relays: readonly FeedCandidate[], current: string | null): string | null {
  const holding = relays.filter((r) => r.online && r.publisherActive && r.publisherSince !== null)
  if (holding.length === 0) return null
  const newest = holding.reduce((a, b) => (since(b) > since(a) || (since(b) === since(a) && b.serverId < a.serverId) ? b : a))
  const incumbent = holding.find((r) => r.serverId === current)
  if (incumbent && (since(incumbent) === since(newest) || since(newest) - since(incumbent) <= FEED_TIE_MS)) return incumbent.serverId
  return newest.serverId
}
