import type { IVSRealTimeClient } from '@aws-sdk/client-ivs-realtime'
import type { Clock } from '../clock'
import type { Env } from '../config/env'
import { type KeysConfig, loadKeysConfig } from '../config/keys'
import { AppError, describeError } from '../errors'
import { PUBLIC_KEY_ARN_PATTERN } from '../ivs/arn'
import { createIvsRealTimeClient, type IvsClientOptions, IvsRealTimeApi } from '../ivs/aws-api'
import { IvsPublicKeys } from '../ivs/public-keys'
import { generateKeyPair, type KeyPairPem } from '../ivs/signer'
import { type KeyView, newKeyIdentity, retireDecision, rotationRefusal, viewKeys } from './key-policy'
import { envLines, keyLine, listHeader } from './key-text'

export const KEYS_USAGE = `Usage: ivs-fanout keys <command>

  list                 the Region's IVS public keys, one a line: ARN, name, age, whether ivs-fanout
                       made it, and the one in use (IVS_PUBLIC_KEY_ARN)
  rotate               import a new P-384 public key and print the IVS_PUBLIC_KEY_ARN= and
                       IVS_PRIVATE_KEY= lines to deploy (refused when the Region holds 3 keys)
  retire ARN [--force] delete an old key: never the one in use; without --force only once its
                       successor is older than the longest token lifetime

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

type Command = { name: 'list' } | { name: 'rotate' } | { name: 'retire'; arn: string; force: boolean } | { name: 'help' }

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
  if (parsed.name === 'retire') {
    const region = parsed.arn.split(':')[3]
    if (region !== config.awsRegion) {
      deps.err(`ivs-fanout keys: ${parsed.arn} is a key of ${region}, but AWS_REGION is ${config.awsRegion}: run with AWS_REGION=${region}\n`)
      return EXIT_USAGE
    }
  }
  const makeClient = deps.client ?? createIvsRealTimeClient
  const keys = new IvsPublicKeys(new IvsRealTimeApi({ client: makeClient({ region: config.awsRegion, endpoint: config.ivsEndpoint }) }))
  const context: Context = { deps, config, keys, ttlMin: Math.max(config.publisherTokenTtlMin, config.viewerTokenTtlMin) }
  try {
    if (parsed.name === 'list') return await list(context)
    if (parsed.name === 'rotate') return await rotate(context)
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
  if (name === 'list' || name === 'rotate') return rest.length === 0 ? { name } : { error: `${name} takes no arguments, got "${rest.join(' ')}"` }
  if (name !== 'retire') return { error: `unknown command "${name}"` }
  const force = rest.includes('--force')
  const others = rest.filter((a) => a !== '--force')
  const unknownFlag = others.find((a) => a.startsWith('-'))
  if (unknownFlag) return { error: `unknown option "${unknownFlag}"` }
  if (others.length !== 1) return { error: 'retire takes one public key ARN' }
  const arn = others[0]!
  if (!PUBLIC_KEY_ARN_PATTERN.test(arn)) return { error: `"${arn}" is not an IVS public key ARN (arn:aws:ivs:<region>:<account>:public-key/<id>)` }
  return { name: 'retire', arn, force }
}

interface Context {
  deps: KeysDeps
  config: KeysConfig
  keys: IvsPublicKeys
  /** The longest token lifetime, in minutes. */
  ttlMin: number
}

async function current(context: Context): Promise<KeyView[]> {
  return viewKeys(await context.keys.list(), context.config.ivsPublicKeyArn)
}

function printKeys(context: Context, views: readonly KeyView[], write: (text: string) => void): void {
  const now = context.deps.clock.now()
  write(`${listHeader(context.config.awsRegion, views.length, context.ttlMin)}\n`)
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

async function rotate(context: Context): Promise<number> {
  const { deps, config } = context
  const before = await current(context)
  const refusal = rotationRefusal(before, config.awsRegion)
  if (refusal) return refuseRotation(context, refusal, before)
  const pair = await (deps.generateKeyPair ?? generateKeyPair)()
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
  deps.out(envLines({ region: config.awsRegion, key: imported, privateKeyPem: pair.privateKeyPem, oldArn: config.ivsPublicKeyArn, ttlMin: context.ttlMin }))
  return EXIT_OK
}

function refuseRotation(context: Context, reason: string, views: readonly KeyView[]): number {
  context.deps.err(`ivs-fanout keys: rotate refused: ${reason}.\n`)
  printKeys(context, views, context.deps.err)
  return EXIT_REFUSED
}

async function retire(context: Context, arn: string, force: boolean): Promise<number> {
  const { deps, config } = context
  const views = await current(context)
  const decision = retireDecision({ arn, keys: views, inUseArn: config.ivsPublicKeyArn, tokenTtlMin: context.ttlMin, now: deps.clock.now(), force })
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
  deps.out(`Retired ${arn}: IVS no longer accepts tokens signed with it.\n`)
  return EXIT_OK
}
