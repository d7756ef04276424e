import { MAX_TOKEN_TTL_MIN } from '../config/ivs-access'
import type { PublicKeySummary } from '../ivs/public-keys'

/**
 * The rules of `ivs-fanout keys` (no I/O): how a key made by `rotate` is named and tagged, how old a
 * key is, whether a rotation may import one more, and which key may be retired and why.
 *
 * IVS keeps at most 3 public keys per Region (a fixed quota) and reports no creation time, so
 * `rotate` writes it into the key's tags and name. IVS checks a token only when it is used to join,
 * so a key must outlive the tokens signed with it: a key is retired only once its successor (the
 * next newer key) is older than the longest token lifetime. That is the longest any token can be
 * issued with (POST /api/token/publisher's durationMinutes: 14 days) unless the operator states a
 * shorter one their callers keep to (--token-minutes), never below the TTLs serve issues by default.
 */

/** Public keys per account and Region (fixed; ImportPublicKey answers 402 beyond). */
export const PUBLIC_KEY_QUOTA = 3
/** `true` on keys `rotate` imported. Tag keys and values may use letters, digits, spaces and `_ . : / = + - @`. */
export const MANAGED_TAG = 'ivs-fanout:managed'
/** When `rotate` imported the key, as RFC 3339 UTC to the second. */
export const CREATED_TAG = 'ivs-fanout:created'
const NAME_PREFIX = 'ivs-fanout-'
const NAME_TIME = /^ivs-fanout-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/
const TAG_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/

export interface KeyView {
  arn: string
  name: string
  /** Epoch ms, from the tag or the name `rotate` gave it; null: unknown. */
  createdAt: number | null
  managed: boolean
  inUse: boolean
}

/** The name (IVS: `[a-zA-Z0-9-_]{0,128}`) and tags of a key imported at `now`. */
export function newKeyIdentity(now: number): { name: string; tags: Record<string, string> } {
  const iso = new Date(Math.floor(now / 1000) * 1000).toISOString().replace('.000Z', 'Z')
  return { name: `${NAME_PREFIX}${iso.replace(/[-:]/g, '')}`, tags: { [MANAGED_TAG]: 'true', [CREATED_TAG]: iso } }
}

/** When the key was imported, if `rotate` recorded it (the tag first, else the name). */
export function createdAt(key: PublicKeySummary): number | null {
  const tag = key.tags[CREATED_TAG]
  if (tag !== undefined && TAG_TIME.test(tag)) {
    const at = Date.parse(tag)
    if (Number.isFinite(at)) return at
  }
  const m = NAME_TIME.exec(key.name)
  if (!m) return null
  const at = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`)
  return Number.isFinite(at) ? at : null
}

/** The keys, oldest first (unknown ages first, in IVS's order: they may be the oldest). */
export function viewKeys(keys: readonly PublicKeySummary[], inUseArn: string | null): KeyView[] {
  const views = keys.map((key) => ({
    arn: key.arn,
    name: key.name,
    createdAt: createdAt(key),
    managed: key.tags[MANAGED_TAG] === 'true',
    inUse: key.arn === inUseArn,
  }))
  const unknown = views.filter((v) => v.createdAt === null)
  const known = views.filter((v) => v.createdAt !== null).sort((a, b) => a.createdAt! - b.createdAt!)
  return [...unknown, ...known]
}

/** Why `rotate` must not import another key now, or null. */
export function rotationRefusal(keys: readonly KeyView[], region: string): string | null {
  if (keys.length < PUBLIC_KEY_QUOTA) return null
  return `IVS allows ${PUBLIC_KEY_QUOTA} public keys per Region (a fixed quota) and ${region} has ${keys.length}; retire one first (ivs-fanout keys retire ARN), never the one in use`
}

/** How long a token signed with the old key may still be presented, and where that figure comes from. */
export interface TokenLifetime {
  minutes: number
  source: string
}

/**
 * The lifetime `retire` waits out: `stated` (--token-minutes) when given, else the longest any token
 * can be issued with. A stated one shorter than a TTL serve issues by default, or longer than IVS
 * allows, is an error.
 */
export function tokenLifetime(stated: number | null, ttls: { publisherTokenTtlMin: number; viewerTokenTtlMin: number }): TokenLifetime | { error: string } {
  if (stated === null)
    return {
      minutes: MAX_TOKEN_TTL_MIN,
      source: 'the longest durationMinutes POST /api/token/publisher accepts; --token-minutes N if your callers never ask for more than N',
    }
  const configured = Math.max(ttls.publisherTokenTtlMin, ttls.viewerTokenTtlMin)
  if (stated < configured)
    return {
      error: `--token-minutes ${stated} is shorter than the tokens serve issues by default (PUBLISHER_TOKEN_TTL_MIN ${ttls.publisherTokenTtlMin}, VIEWER_TOKEN_TTL_MIN ${ttls.viewerTokenTtlMin}): give at least ${configured}`,
    }
  if (stated > MAX_TOKEN_TTL_MIN) return { error: `--token-minutes ${stated} is longer than any token lives (IVS: at most ${MAX_TOKEN_TTL_MIN}, 14 days)` }
  return { minutes: stated, source: '--token-minutes' }
}

/** "20160 min (14 d 0 h), the source" as the messages name it. */
export function describeLifetime(lifetime: TokenLifetime): string {
  const long = lifetime.minutes >= 60 ? ` = ${formatAge(lifetime.minutes * 60_000)}` : ''
  return `the longest token lifetime (${lifetime.minutes} min${long}: ${lifetime.source})`
}

/** Where the wait is counted from, said wherever the wait is. */
export const WAIT_FROM = 'the wait counts from when every server was signing with the new key; its import time is only a lower bound for that'

export type RetireDecision = { ok: true } | { ok: false; reason: string; forceable: boolean }

export interface RetireInput {
  arn: string
  keys: readonly KeyView[]
  /** IVS_PUBLIC_KEY_ARN (null: not set where the command runs). */
  inUseArn: string | null
  /** How long a token signed with the old key may still be presented. */
  lifetime: TokenLifetime
  now: number
  force: boolean
}

/** Whether the key may be deleted now. The key in use never may; `force` skips the age checks only. */
export function retireDecision(input: RetireInput): RetireDecision {
  const { arn, keys, inUseArn, lifetime, now, force } = input
  const target = keys.find((k) => k.arn === arn)
  if (!target) return refuse(`IVS has no public key ${arn} (unknown ARN)`, false)
  if (target.inUse) {
    return refuse(`${arn} is the key in use (IVS_PUBLIC_KEY_ARN): servers sign tokens with it; rotate, deploy the new key, wait, then retire this one`, false)
  }
  if (force) return { ok: true }
  if (inUseArn === null) {
    return refuse(
      'IVS_PUBLIC_KEY_ARN is not set here, so the key your servers sign with is unknown; set it as on the servers (or use --force if no server signs with this key)',
      true,
    )
  }
  const ttl = describeLifetime(lifetime)
  if (target.createdAt === null) {
    return refuse(
      `the age of ${arn} is unknown (it was not made by ivs-fanout keys rotate), so tokens signed with it may still be used to join; once ${ttl} has passed since your servers stopped signing with it, retire it with --force`,
      true,
    )
  }
  const successor = keys.filter((k) => k.createdAt !== null && k.createdAt > target.createdAt!).sort((a, b) => a.createdAt! - b.createdAt!)[0]
  if (!successor) {
    const unknown = keys.filter((k) => k.createdAt === null).map((k) => k.arn)
    const why =
      unknown.length > 0
        ? `its successor may be ${unknown.join(', ')}, whose age is unknown`
        : 'no newer key exists, so servers may still sign with it (rotate first)'
    return refuse(
      `${arn} may still sign tokens: ${why}; if no server signs with it (e.g. it was never deployed), or ${ttl} has passed since they stopped, retire it with --force`,
      true,
    )
  }
  const until = successor.createdAt! + lifetime.minutes * 60_000
  if (until > now) {
    return refuse(
      `its successor ${successor.arn} is ${formatAge(now - successor.createdAt!)} old, younger than ${ttl}: tokens signed with ${arn} may still be used to join until ${new Date(until).toISOString()} at the earliest (${formatAge(until - now)} from now); ${WAIT_FROM}, so if your servers switched later, wait that much longer; or use --force`,
      true,
    )
  }
  return { ok: true }
}

const refuse = (reason: string, forceable: boolean): RetireDecision => ({ ok: false, reason, forceable })

/** "3 d 4 h", "2 h 5 min", "12 min", "< 1 min". */
export function formatAge(ms: number): string {
  const min = Math.floor(Math.max(0, ms) / 60_000)
  if (min < 1) return '< 1 min'
  if (min < 60) return `${min} min`
  const h = Math.floor(min / 60)
  if (h < 24) return `${h} h ${min % 60} min`
  return `${Math.floor(h / 24)} d ${h % 24} h`
}
