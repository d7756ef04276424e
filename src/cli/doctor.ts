import { existsSync, readFileSync, statSync } from 'node:fs'
import { loadRelayConfig } from '../../relay/config'
import { openStore } from '../backends'
import type { Env } from '../config/env'
import { fanoutWarnings, loadServeConfig, type ServeConfig } from '../config/serve'
import { describeError } from '../errors'
import { silentLogger } from '../log'
import type { Store } from '../store/types'
import {
  type CheckResult,
  capacityCheck,
  configWarnings,
  fail,
  fanoutCheck,
  keyFileCheck,
  ok,
  serverIpCheck,
  skip,
  tokenLifetimeCheck,
  variablesCheck,
} from './doctor-checks'
import { ivsChecks, type Within } from './doctor-ivs'
import { relayLinkChecks } from './doctor-relay'

/**
 * `ivs-fanout doctor [relay]`: checks a configuration the way serve (or, with `relay`, the relay)
 * will use it, one line per check, and exits non-zero naming every fault. Each probe has a deadline,
 * so a dead endpoint fails its check instead of hanging; no secret is printed (every line is also
 * scrubbed of the configured secrets' values).
 */

export interface DoctorDeps {
  env: Env
  hostname: string
  /** This machine's interface addresses (SERVER_IP's check). */
  localAddresses: () => string[]
  /** Per probe (default 5 s). */
  timeoutMs?: number
}

export interface DoctorReport {
  code: number
  results: CheckResult[]
  /** The printed lines, secrets scrubbed. */
  text: string
}

/** The variables whose values must never appear in doctor's output. */
export const SECRET_VARIABLES = [
  'API_SECRET_KEY',
  'API_SECRET_KEY_PREVIOUS',
  'MEDIA_SERVER_SECRET',
  'PUBLISH_SECRET',
  'METRICS_TOKEN',
  'UPSTASH_REDIS_REST_TOKEN',
  'REDIS_PASSWORD',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'IVS_PRIVATE_KEY',
] as const

/** The forms a secret could be printed in: as set, URL-encoded, and a PEM's body (each line, the lines joined, `\n`-escaped). */
function secretForms(value: string): string[] {
  const forms = [value, encodeURIComponent(value)]
  if (value.includes('-----BEGIN')) {
    const pem = value.replace(/\\n/g, '\n')
    const body = pem
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line.length >= 16 && !line.startsWith('-----'))
    forms.push(pem, pem.replace(/\r?\n/g, '\\n'), body.join(''), ...body)
  }
  return forms
}

/** IVS_PRIVATE_KEY's secret: the PEM given inline, or the one in the file it names (the path is no secret). */
function privateKeyText(value: string): string {
  if (value.includes('-----BEGIN') || value.length > 512 || !existsSync(value)) return value
  try {
    return readFileSync(value, 'utf8')
  } catch {
    return ''
  }
}

/** Every configured secret (and a password in REDIS_URL), in each of its forms, replaced by [redacted]. */
export function scrubSecrets(text: string, env: Env): string {
  const secrets: string[] = []
  for (const name of SECRET_VARIABLES) {
    const value = env[name]?.trim()
    if (value) secrets.push(...secretForms(name === 'IVS_PRIVATE_KEY' ? privateKeyText(value) : value))
  }
  try {
    if (env.REDIS_URL) {
      const password = new URL(env.REDIS_URL).password
      secrets.push(password, ...secretForms(decodeURIComponent(password)))
    }
  } catch {}
  let out = text
  for (const secret of secrets.filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) out = out.split(secret).join('[redacted]')
  return out
}

const MARK = { ok: '✓', fail: '✗', warn: '⚠', skip: '–' } as const

export function formatReport(results: readonly CheckResult[], what: string): { code: number; text: string } {
  const lines = results.map((r) => `${MARK[r.status]} ${r.name}: ${r.detail}`)
  const faults = results.filter((r) => r.status === 'fail').map((r) => r.name)
  const warnings = results.filter((r) => r.status === 'warn').length
  const noted = warnings === 0 ? '' : ` (${warnings} warning${warnings === 1 ? '' : 's'})`
  lines.push(
    faults.length === 0
      ? `doctor: the ${what} configuration is sound${noted}`
      : `doctor: ${faults.length} fault${faults.length === 1 ? '' : 's'}: ${faults.join(', ')}${noted}`,
  )
  return { code: faults.length === 0 ? 0 : 1, text: `${lines.join('\n')}\n` }
}

function deadline(timeoutMs: number): Within {
  return <T>(work: Promise<T>) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    })
    return Promise.race([work, late]).finally(() => clearTimeout(timer))
  }
}

export async function runDoctor(args: readonly string[], deps: DoctorDeps): Promise<DoctorReport> {
  const target = args[0] === 'relay' || args[0] === '--relay' ? 'relay' : args.length === 0 || args[0] === 'serve' ? 'serve' : null
  if (target === null) {
    const results = [fail('arguments', `unknown "${args.join(' ')}": doctor checks serve's configuration, doctor relay the relay's`)]
    return { results, ...formatReport(results, 'serve') }
  }
  const timeoutMs = deps.timeoutMs ?? 5_000
  const results = target === 'relay' ? await relayDoctor(deps, timeoutMs) : await serveDoctor(deps, timeoutMs)
  const report = formatReport(results, target)
  return { results, code: report.code, text: scrubSecrets(report.text, deps.env) }
}

async function serveDoctor(deps: DoctorDeps, timeoutMs: number): Promise<CheckResult[]> {
  const loaded = loadServeConfig(deps.env)
  const results = [variablesCheck('variables', loaded), tokenLifetimeCheck(deps.env), ...keyFile(deps.env)]
  if (!loaded.ok) {
    for (const name of ['capacity', 'fan-out mode', 'store', 'IVS']) results.push(skip(name, 'the variables do not parse'))
    return results
  }
  const config = loaded.config
  results.push(capacityCheck(config), fanoutCheck(config), ...configWarnings(config, fanoutWarnings(config)))
  const within = deadline(timeoutMs)
  const { result, store } = await storeCheck(config, within)
  results.push(result)
  const recordedMaster = async () => (store ? ((await within(store.listStages())).find((s) => s.isMaster)?.arn ?? null) : null)
  try {
    results.push(...(await ivsChecks(config, { within, timeoutMs, recordedMaster })))
  } finally {
    await store?.close().catch(() => {})
  }
  return results
}

/** IVS_PRIVATE_KEY as a file: its mode (none when unset; a PEM given inline has no file to check). */
function keyFile(env: Env): CheckResult[] {
  const value = env.IVS_PRIVATE_KEY?.trim()
  if (!value) return []
  if (value.includes('-----BEGIN')) return [skip('key file', 'IVS_PRIVATE_KEY is given inline, not as a file')]
  try {
    return [keyFileCheck(value, statSync(value).mode)]
  } catch (error) {
    return [skip('key file', `IVS_PRIVATE_KEY names no file this process can see (${(error as NodeJS.ErrnoException).code ?? 'error'})`)]
  }
}

async function storeCheck(config: ServeConfig, within: Within): Promise<{ result: CheckResult; store: Store | null }> {
  let store: Store
  try {
    store = await within(openStore(config, silentLogger, () => {}))
  } catch (error) {
    return { result: fail('store', describeError(error)), store: null }
  }
  try {
    await within(store.ping())
    return { result: ok('store', `${store.describe()} answers`), store }
  } catch (error) {
    await store.close().catch(() => {})
    return { result: fail('store', `${store.describe()}: ${describeError(error)}`), store: null }
  }
}

async function relayDoctor(deps: DoctorDeps, timeoutMs: number): Promise<CheckResult[]> {
  const loaded = loadRelayConfig(deps.env, deps.hostname)
  const results = [variablesCheck('variables', loaded)]
  if (!loaded.ok) results.push(skip('API server', 'the variables do not parse'))
  else results.push(...configWarnings(loaded.config), ...(await relayLinkChecks(loaded.config, timeoutMs)))
  results.push(serverIpCheck(deps.env.SERVER_IP, deps.localAddresses()))
  return results
}
