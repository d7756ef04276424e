import { resolve } from 'node:path'
import type { IVSRealTimeClient } from '@aws-sdk/client-ivs-realtime'
import type { Clock } from '../clock'
import type { Env } from '../config/env'
import { MAX_TOKEN_TTL_MIN } from '../config/ivs-access'
import { type KeysConfig, loadKeysConfig } from '../config/keys'
import { AppError, describeError } from '../errors'
import { PUBLIC_KEY_ARN_PATTERN } from '../ivs/arn'
import { createIvsRealTimeClient, type IvsClientOptions, IvsRealTimeApi } from '../ivs/aws-api'
import { IvsPublicKeys } from '../ivs/public-keys'
import { generateKeyPair, type KeyPairPem } from '../ivs/signer'
import { createKeyFile } from './key-file'
import {
  describeLifetime,
  type KeyView,
  newKeyIdentity,
  retireDecision,
  rotationRefusal,
  type TokenLifetime,
  tokenLifetime,
  viewKeys,
  WAIT_FROM,
} from './key-policy'
import { envLines, keyLine, listHeader } from './key-text'

export const KEYS_USAGE = `Usage: ivs-fanout keys <command> [--token-minutes N]

  list                 the Region's IVS public keys, one a line: ARN, name, age, whether ivs-fanout
                       made it, and the one in use (IVS_PUBLIC_KEY_ARN)
  rotate [--private-key-file PATH]
                       import a new P-384 public key and print the IVS_PUBLIC_KEY_ARN= and
                       IVS_PRIVATE_KEY= lines to deploy (refused when the Region holds 3 keys); with
                       --private-key-file, the private key goes to PATH (a new file, mode 0600) and
                       IVS_PRIVATE_KEY=PATH is printed instead of the key
  retire ARN [--force] delete an old key: never the one in use; without --force only once its
                       successor is older than the longest token lifetime

  --token-minutes N    the longest lifetime your callers request for tokens (POST /api/token/publisher's
                       durationMinutes), at least PUBLISHER_TOKEN_TTL_MIN and VIEWER_TOKEN_TTL_MIN;
                       default ${MAX_TOKEN_TTL_MIN} (14 days, the longest any token can be issued with)

Reads AWS_REGION, AWS credentials, IVS_ENDPOINT (or AWS_ENDPOINT_URL_IVS_REALTIME),
IVS_PUBLIC_KEY_ARN, PUBLISHER_TOKEN_TTL_MIN and VIEWER_TOKEN_TTL_MIN like serve. See README.md,
"Rotating keys".
`

export const EXIT_OK = 0
export const EXIT_REFUSED = 1
export const EXIT_USAGE = 2

export interface KeysDeps {
  env: Env
  /** For key ages (IVS's own pacing keeps real time). */
  clock: Clock
  out(text: string): void
  err(text: string): void
  /** The SDK client for the configured region and endpoint (default: the SDK's credential chain). */
  client?(options: IvsClientOptions): IVSRealTimeClient
  generateKeyPair?(): Promise<KeyPairPem>
}

type Command =
  | { name: 'list'; tokenMinutes: number | null }
  | { name: 'rotate'; tokenMinutes: number | null; privateKeyFile: string | null }
  | { name: 'retire'; tokenMinutes: number | null; arn: string; force: boolean }
  | { name: 'help' }

/** serve's readPem takes a path of at most this many characters. */
const MAX_KEY_PATH = 512

/** `ivs-fanout keys …`: the exit code (0 done, 1 refused or IVS failed, 2 bad arguments or configuration). */
export async function runKeys(args: readonly string[], deps: KeysDeps): Promise<number> {
  const parsed = parseArgs(args)
  if ('error' in parsed) {
    deps.err(`ivs-fanout keys: ${parsed.error}\n\n${KEYS_USAGE}`)
    return EXIT_USAGE
  }
  if (parsed.name === 'help') {
    deps.out(KEYS_USAGE)
    return EXIT_OK
  }
  const loaded = loadKeysConfig(deps.env)
  if (!loaded.ok) {
    deps.err(`ivs-fanout keys: bad configuration:\n${loaded.errors.map((e) => `  - ${e}`).join('\n')}\n`)
    return EXIT_USAGE
  }
  const config = loaded.config
  const lifetime = tokenLifetime(parsed.tokenMinutes, config)
  if ('error' in lifetime) {
    deps.err(`ivs-fanout keys: ${lifetime.error}\n\n${KEYS_USAGE}`)
    return EXIT_USAGE
  }
  if (parsed.name === 'retire') {
    const region = parsed.arn.split(':')[3]
    if (region !== config.awsRegion) {
      deps.err(`ivs-fanout keys: ${parsed.arn} is a key of ${region}, but AWS_REGION is ${config.awsRegion}: run with AWS_REGION=${region}\n`)
      return EXIT_USAGE
    }
  }
  const makeClient = deps.client ?? createIvsRealTimeClient
  const keys = new IvsPublicKeys(new IvsRealTimeApi({ client: makeClient({ region: config.awsRegion, endpoint: config.ivsEndpoint }) }))
  const context: Context = { deps, config, keys, lifetime }
  try {
    if (parsed.name === 'list') return await list(context)
    if (parsed.name === 'rotate') return await rotate(context, parsed.privateKeyFile)
    return await retire(context, parsed.arn, parsed.force)
  } catch (error) {
    deps.err(`ivs-fanout keys: ${error instanceof AppError ? error.message : `unexpected failure: ${describeError(error)}`}\n`)
    return EXIT_REFUSED
  }
}

function parseArgs(args: readonly string[]): Command | { error: string } {
  const [name, ...rest] = args
  if (name === undefined) return { error: 'name a command' }
  if (name === '--help' || name === '-h' || name === 'help') return { name: 'help' }
  if (name !== 'list' && name !== 'rotate' && name !== 'retire') return { error: `unknown command "${name}"` }
  const allowed = { list: [], rotate: ['--private-key-file'], retire: ['--force'] }[name]
  const options = new Map<string, string | true>()
  const operands: string[] = []
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    if (!arg.startsWith('-')) {
      operands.push(arg)
      continue
    }
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined]
    if (flag !== '--token-minutes' && !(allowed as string[]).includes(flag)) return { error: `${name} takes no option "${flag}"` }
    if (options.has(flag)) return { error: `${flag} given twice` }
    if (flag === '--force') {
      if (inline !== undefined) return { error: '--force takes no value' }
      options.set(flag, true)
      continue
    }
    const value = inline ?? rest[++i]
    if (value === undefined || value === '') return { error: `${flag} needs a value` }
    options.set(flag, value)
  }
  const minutes = options.get('--token-minutes')
  if (typeof minutes === 'string' && !/^\d{1,9}$/.test(minutes)) return { error: `--token-minutes must be a whole number of minutes, got "${minutes}"` }
  const tokenMinutes = typeof minutes === 'string' ? Number(minutes) : null
  if (name === 'list') return operands.length === 0 ? { name, tokenMinutes } : { error: `list takes no arguments, got "${operands.join(' ')}"` }
  if (name === 'rotate') {
    if (operands.length > 0) return { error: `rotate takes no arguments, got "${operands.join(' ')}"` }
    const file = options.get('--private-key-file')
    if (typeof file !== 'string') return { name, tokenMinutes, privateKeyFile: null }
    const path = resolve(file)
    if (/['\r\n]/.test(path)) return { error: '--private-key-file must name a path without quotes or line breaks' }
    if (path.length > MAX_KEY_PATH) return { error: `--private-key-file must name a path of at most ${MAX_KEY_PATH} characters (serve reads no longer one)` }
    return { name, tokenMinutes, privateKeyFile: path }
  }
  if (operands.length !== 1) return { error: 'retire takes one public key ARN' }
  const arn = operands[0]!
  if (!PUBLIC_KEY_ARN_PATTERN.test(arn)) return { error: `"${arn}" is not an IVS public key ARN (arn:aws:ivs:<region>:<account>:public-key/<id>)` }
  return { name: 'retire', tokenMinutes, arn, force: options.has('--force') }
}

interface Context {
  deps: KeysDeps
  config: KeysConfig
  keys: IvsPublicKeys
  /** How long a token signed with an old key may still be presented. */
  lifetime: TokenLifetime
}

async function current(context: Context): Promise<KeyView[]> {
  return viewKeys(await context.keys.list(), context.config.ivsPublicKeyArn)
}

function printKeys(context: Context, views: readonly KeyView[], write: (text: string) => void): void {
  const now = context.deps.clock.now()
  write(`${listHeader(context.config.awsRegion, views.length, context.lifetime)}\n`)
  for (const view of views) write(`${keyLine(view, now)}\n`)
}

async function list(context: Context): Promise<number> {
  const views = await current(context)
  const { deps, config } = context
  printKeys(context, views, deps.out)
  if (config.ivsPublicKeyArn === null) deps.out('IVS_PUBLIC_KEY_ARN is not set here: no key is marked in use.\n')
  else if (!views.some((v) => v.inUse)) {
    deps.out(`IVS_PUBLIC_KEY_ARN (${config.ivsPublicKeyArn}) is not among these keys: IVS refuses tokens signed for it.\n`)
  }
  return EXIT_OK
}

async function rotate(context: Context, privateKeyFile: string | null): Promise<number> {
  const { deps, config } = context
  // The file first: a path that cannot take the key is refused before IVS is called.
  const file = privateKeyFile === null ? null : createKeyFile(privateKeyFile)
  if (file !== null && 'error' in file) {
    deps.err(`ivs-fanout keys: rotate refused: ${file.error}; nothing was imported.\n`)
    return EXIT_REFUSED
  }
  let done = false
  try {
    const before = await current(context)
    const refusal = rotationRefusal(before, config.awsRegion)
    if (refusal) return refuseRotation(context, refusal, before)
    const pair = await (deps.generateKeyPair ?? generateKeyPair)()
    // On disk before IVS holds the public half: a key whose private half was lost is never imported.
    file?.write(pair.privateKeyPem)
    let imported: Awaited<ReturnType<IvsPublicKeys['import']>>
    try {
      imported = await context.keys.import({ publicKeyMaterial: pair.publicKeyPem, ...newKeyIdentity(deps.clock.now()) })
    } catch (error) {
      // Another rotation took the last slot between the listing and the import.
      if (error instanceof AppError && error.code === 'CAPACITY_EXHAUSTED') {
        const after = await current(context).catch(() => before)
        return refuseRotation(context, rotationRefusal(after, config.awsRegion) ?? `IVS refused the import: ${error.message}`, after)
      }
      throw error
    }
    const privateKey = file === null ? { pem: pair.privateKeyPem } : { file: file.path }
    deps.out(envLines({ region: config.awsRegion, key: imported, privateKey, oldArn: config.ivsPublicKeyArn, lifetime: context.lifetime }))
    done = true
    return EXIT_OK
  } finally {
    if (!done) file?.discard()
  }
}

function refuseRotation(context: Context, reason: string, views: readonly KeyView[]): number {
  context.deps.err(`ivs-fanout keys: rotate refused: ${reason}.\n`)
  printKeys(context, views, context.deps.err)
  return EXIT_REFUSED
}

async function retire(context: Context, arn: string, force: boolean): Promise<number> {
  const { deps, config } = context
  const views = await current(context)
  const decision = retireDecision({ arn, keys: views, inUseArn: config.ivsPublicKeyArn, lifetime: context.lifetime, now: deps.clock.now(), force })
  if (!decision.ok) {
    deps.err(`ivs-fanout keys: retire refused: ${decision.reason}.\n`)
    if (!views.some((v) => v.arn === arn)) printKeys(context, views, deps.err)
    return EXIT_REFUSED
  }
  try {
    await context.keys.delete(arn)
  } catch (error) {
    if (error instanceof AppError && error.code === 'NOT_FOUND') {
      deps.err(`ivs-fanout keys: ${arn} was deleted meanwhile (IVS no longer has it).\n`)
      return EXIT_REFUSED
    }
    throw error
  }
  deps.out(
    force
      ? `Retired ${arn} (--force: its age was not checked): IVS no longer accepts tokens signed with it.\n`
      : `Retired ${arn}: IVS no longer accepts tokens signed with it. Its successor was imported longer ago than ${describeLifetime(context.lifetime)}; ${WAIT_FROM}.\n`,
  )
  return EXIT_OK
}
