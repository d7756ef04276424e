import { createPrivateKey, createPublicKey, type webcrypto } from 'node:crypto'
import { isIP } from 'node:net'
import type { ConfigResult, Env } from '../config/env'
import { DEFAULT_PUBLISHER_TOKEN_TTL_MIN, DEFAULT_VIEWER_TOKEN_TTL_MIN, MAX_TOKEN_TTL_MIN } from '../config/ivs-access'
import { fanoutWarnings, type ServeConfig } from '../config/serve'

/**
 * `ivs-fanout doctor`'s checks that need no I/O: each turns what the configuration says (and what a
 * probe found) into one line. The runner (doctor.ts) does the probing.
 */

/** ok: sound; fail: a fault (doctor exits non-zero); warn: works, but worth a look; skip: not checked (why is in `detail`). */
export type CheckStatus = 'ok' | 'fail' | 'warn' | 'skip'

export interface CheckResult {
  name: string
  status: CheckStatus
  detail: string
}

export const ok = (name: string, detail: string): CheckResult => ({ name, status: 'ok', detail })
export const fail = (name: string, detail: string): CheckResult => ({ name, status: 'fail', detail })
export const skip = (name: string, detail: string): CheckResult => ({ name, status: 'skip', detail })
export const warn = (name: string, detail: string): CheckResult => ({ name, status: 'warn', detail })

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
    ['PUBLISHER_TOKEN_TTL_MIN', DEFAULT_PUBLISHER_TOKEN_TTL_MIN],
    ['VIEWER_TOKEN_TTL_MIN', DEFAULT_VIEWER_TOKEN_TTL_MIN],
  ] as const) {
    const raw = env[variable]?.trim()
    const minutes = raw ? Number(raw) : fallback
    if (!Number.isInteger(minutes) || minutes < 1) faults.push(`${variable} must be a whole number of minutes, got "${raw}"`)
    else if (minutes > MAX_TOKEN_TTL_MIN)
      faults.push(`${variable} ${minutes} min is longer than IVS allows for a participant token (14 days = ${MAX_TOKEN_TTL_MIN} min)`)
    else read.push(`${variable} ${minutes} min`)
  }
  return faults.length > 0 ? fail(name, faults.join('; ')) : ok(name, `${read.join(', ')} (IVS: at most ${MAX_TOKEN_TTL_MIN})`)
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

/** FANOUT_MODE against what IVS can do: serve's own warnings about it (fanoutWarnings), each a fault here. */
export function fanoutCheck(config: Pick<ServeConfig, 'fanoutMode' | 'maxStages' | 'replicationReconnectWindowSeconds' | 'provider'>): CheckResult {
  const name = 'fan-out mode'
  const faults = fanoutWarnings(config)
  if (faults.length > 0) return fail(name, faults.join('; '))
  if (config.fanoutMode === 'relay') return ok(name, 'relay: the relay publishes into every stage')
  return ok(name, `${config.fanoutMode}: ${config.maxStages} stages at most, reconnect window ${config.replicationReconnectWindowSeconds} s`)
}

/**
 * The warnings the mode's loader gives at start (among them API_SECRET_KEY_PREVIOUS while it is
 * accepted), each a ⚠ line; `except`: those another check reports.
 */
export function configWarnings(config: { warnings: readonly string[] }, except: readonly string[] = []): CheckResult[] {
  return config.warnings.filter((w) => !except.includes(w)).map((w) => warn('warning', w))
}

/** IVS_PRIVATE_KEY given as a file: only its owner may read it (`mode`: the file's, from stat). */
export function keyFileCheck(path: string, mode: number): CheckResult {
  const name = 'key file'
  const bits = (mode & 0o777).toString(8).padStart(4, '0')
  const open = mode & 0o077
  if (open === 0) return ok(name, `IVS_PRIVATE_KEY ${path} is its owner's only (mode ${bits})`)
  const who = [open & 0o070 ? 'its group' : '', open & 0o007 ? 'everyone else' : ''].filter(Boolean).join(' and ')
  return fail(name, `IVS_PRIVATE_KEY ${path} has mode ${bits}, open to ${who}: only serve's user should read the key that signs tokens; fix: chmod 600 ${path}`)
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
