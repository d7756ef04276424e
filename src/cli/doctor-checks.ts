import { createPrivateKey, createPublicKey, type webcrypto } from 'node:crypto'
import { isIP } from 'node:net'
import type { ConfigResult, Env } from '../config/env'
import type { ServeConfig } from '../config/serve'

/**
 * `ivs-fanout doctor`'s checks that need no I/O: each turns what the configuration says (and what a
 * probe found) into one line. The runner (doctor.ts) does the probing.
 */

/** ok: sound; fail: a fault (doctor exits non-zero); skip: not checked (why is in `detail`). */
export type CheckStatus = 'ok' | 'fail' | 'skip'

export interface CheckResult {
  name: string
  status: CheckStatus
  detail: string
}

export const ok = (name: string, detail: string): CheckResult => ({ name, status: 'ok', detail })
export const fail = (name: string, detail: string): CheckResult => ({ name, status: 'fail', detail })
export const skip = (name: string, detail: string): CheckResult => ({ name, status: 'skip', detail })

/** IVS: a participant token lives at most 14 days (CreateParticipantToken's duration, a JWT's exp − iat). */
export const IVS_MAX_TOKEN_MINUTES = 14 * 24 * 60
/** IVS replicates one participant into at most 5 stages, so replicate mode feeds 6 stages at most. */
export const IVS_REPLICATE_MAX_STAGES = 6
/** The longest reconnect window StartParticipantReplication takes. */
export const IVS_MAX_RECONNECT_WINDOW = 60

export function variablesCheck(name: string, result: ConfigResult<unknown>): CheckResult {
  if (result.ok) return ok(name, 'every variable parses')
  return fail(name, result.errors.join('; '))
}

/** PUBLISHER_TOKEN_TTL_MIN and VIEWER_TOKEN_TTL_MIN against IVS's 14 days, read as written (the loader's bounds aside). */
export function tokenLifetimeCheck(env: Env): CheckResult {
  const name = 'token lifetimes'
  const faults: string[] = []
  const read: string[] = []
  for (const [variable, fallback] of [
    ['PUBLISHER_TOKEN_TTL_MIN', 240],
    ['VIEWER_TOKEN_TTL_MIN', 60],
  ] as const) {
    const raw = env[variable]?.trim()
    const minutes = raw ? Number(raw) : fallback
    if (!Number.isInteger(minutes) || minutes < 1) faults.push(`${variable} must be a whole number of minutes, got "${raw}"`)
    else if (minutes > IVS_MAX_TOKEN_MINUTES)
      faults.push(`${variable} ${minutes} min is longer than IVS allows for a participant token (14 days = ${IVS_MAX_TOKEN_MINUTES} min)`)
    else read.push(`${variable} ${minutes} min`)
  }
  return faults.length > 0 ? fail(name, faults.join('; ')) : ok(name, `${read.join(', ')} (IVS: at most ${IVS_MAX_TOKEN_MINUTES})`)
}

export function capacityCheck(config: Pick<ServeConfig, 'maxStages' | 'stageCapacity' | 'ivsMaxSubscriptions'>): CheckResult {
  const seats = config.maxStages * config.stageCapacity
  const sum = `MAX_STAGES ${config.maxStages} × STAGE_CAPACITY ${config.stageCapacity} = ${seats}`
  if (seats > config.ivsMaxSubscriptions)
    return fail(
      'capacity',
      `${sum} seats, more than IVS_MAX_SUBSCRIPTIONS ${config.ivsMaxSubscriptions} (the account's concurrent subscriptions): viewers past it are refused; lower MAX_STAGES or STAGE_CAPACITY, or raise the quota and IVS_MAX_SUBSCRIPTIONS`,
    )
  return ok('capacity', `${sum} seats, within IVS_MAX_SUBSCRIPTIONS ${config.ivsMaxSubscriptions}`)
}

export function fanoutCheck(config: Pick<ServeConfig, 'fanoutMode' | 'maxStages' | 'replicationReconnectWindowSeconds' | 'provider'>): CheckResult {
  const name = 'fan-out mode'
  const mode = config.fanoutMode
  if (mode === 'relay') return ok(name, 'relay: the relay publishes into every stage')
  const faults: string[] = []
  if (mode === 'replicate' && config.maxStages > IVS_REPLICATE_MAX_STAGES)
    faults.push(
      `MAX_STAGES ${config.maxStages} is more than replicate can feed (${IVS_REPLICATE_MAX_STAGES}: the master and 5 replicas, IVS's limit per participant); use FANOUT_MODE=hybrid or MAX_STAGES=${IVS_REPLICATE_MAX_STAGES}`,
    )
  if (config.replicationReconnectWindowSeconds > IVS_MAX_RECONNECT_WINDOW)
    faults.push(
      `REPLICATION_RECONNECT_WINDOW_SECONDS ${config.replicationReconnectWindowSeconds} is more than IVS takes (${IVS_MAX_RECONNECT_WINDOW}): replications would get ${IVS_MAX_RECONNECT_WINDOW}`,
    )
  if (config.provider === 'local') faults.push(`FANOUT_MODE=${mode} needs IVS: local stages cannot be replicated`)
  if (faults.length > 0) return fail(name, faults.join('; '))
  return ok(name, `${mode}: ${config.maxStages} stages at most, reconnect window ${config.replicationReconnectWindowSeconds} s`)
}

function publicJwk(pem: string, priv: boolean): webcrypto.JsonWebKey {
  const key = priv ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem)
  return key.export({ format: 'jwk' })
}

/** Whether the private key's public half is the material IVS holds for IVS_PUBLIC_KEY_ARN (never printing either). */
export function keyMatchCheck(privateKeyPem: string, publicKeyMaterial: string, arn: string): CheckResult {
  const name = 'token key'
  let mine: webcrypto.JsonWebKey
  let theirs: webcrypto.JsonWebKey
  try {
    mine = publicJwk(privateKeyPem, true)
  } catch {
    return fail(name, 'IVS_PRIVATE_KEY is not a usable private key')
  }
  try {
    theirs = publicJwk(publicKeyMaterial, false)
  } catch {
    return fail(name, `IVS answered GetPublicKey for ${arn} with material that is not a public key`)
  }
  if (mine.crv === theirs.crv && mine.x === theirs.x && mine.y === theirs.y)
    return ok(name, `IVS_PRIVATE_KEY is the private half of ${arn} (compared with GetPublicKey's publicKeyMaterial)`)
  return fail(
    name,
    `IVS_PRIVATE_KEY does not belong to IVS_PUBLIC_KEY_ARN ${arn}: IVS would refuse every self-signed token; set the ARN of the key this private key's public half was imported as`,
  )
}

/** SERVER_IP: what the relay reports when it registers. Set, and an address of this machine or a plausible public one or name. */
export function serverIpCheck(raw: string | undefined, localAddresses: readonly string[]): CheckResult {
  const name = 'SERVER_IP'
  const value = raw?.trim()
  if (!value) return fail(name, 'not set: the relay reports 127.0.0.1 to the API server; set the address the relay is reached at')
  if (localAddresses.includes(value)) return ok(name, `${value} is an address of this machine`)
  const family = isIP(value)
  if (family === 0) {
    const hostname = /^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/
    return hostname.test(value)
      ? ok(name, `${value} is a host name (not checked against this machine)`)
      : fail(name, `"${value}" is neither an IP address nor a host name`)
  }
  if (value === '0.0.0.0' || value === '::') return fail(name, `${value} is the unspecified address, which nobody can reach`)
  if (value.startsWith('127.') || value === '::1') return fail(name, `${value} is a loopback address of no machine but the relay's own`)
  return ok(name, `${value} is not an address of this machine: fine behind a 1:1 NAT (an Elastic IP), otherwise check it`)
}
