import { GetPublicKeyCommand } from '@aws-sdk/client-ivs-realtime'
import type { ServeConfig } from '../config/serve'
import { AppError, describeError } from '../errors'
import { AwsStageProvider } from '../ivs/aws'
import { createIvsRealTimeClient, IvsRealTimeApi } from '../ivs/aws-api'
import { type CheckResult, fail, keyMatchCheck, ok, skip } from './doctor-checks'

/** Runs `work` within the check's deadline, or throws saying how long nothing came. */
export type Within = <T>(work: Promise<T>) => Promise<T>

const regionOf = (arn: string) => arn.split(':')[3] ?? ''

/**
 * IVS with serve's credentials and region: it answers (ListStages), the master stage exists
 * (GetStage), and IVS_PRIVATE_KEY belongs to IVS_PUBLIC_KEY_ARN (GetPublicKey). One attempt per
 * call, each bounded by `within`.
 */
export async function ivsChecks(
  config: ServeConfig,
  deps: { within: Within; timeoutMs: number; recordedMaster: () => Promise<string | null> },
): Promise<CheckResult[]> {
  if (config.provider === 'local') return [skip('IVS', 'IVS_PROVIDER=local: stages are kept in the store, no IVS call is made')]
  const api = new IvsRealTimeApi({
    client: createIvsRealTimeClient({ region: config.awsRegion, endpoint: config.ivsEndpoint }),
    attemptTimeoutMs: deps.timeoutMs,
    retry: { maxAttempts: 1 },
  })
  const { within } = deps
  const provider = new AwsStageProvider(api, { pageSize: 1 })
  const results: CheckResult[] = []
  try {
    try {
      await within(provider.ping())
      results.push(ok('IVS', `answers in ${config.awsRegion} with these credentials (ListStages)`))
    } catch (error) {
      results.push(fail('IVS', `${config.awsRegion}: ${describeError(error)}`))
      return [...results, skip('master stage', 'IVS does not answer'), skip('token key', 'IVS does not answer')]
    }
    results.push(await masterCheck(config, provider, deps))
    results.push(await keyCheck(config, api, within))
    return results
  } finally {
    api.client.destroy()
  }
}

async function masterCheck(
  config: ServeConfig,
  provider: AwsStageProvider,
  deps: { within: Within; recordedMaster: () => Promise<string | null> },
): Promise<CheckResult> {
  const name = 'master stage'
  const arn = config.masterStageArn ?? (await deps.recordedMaster().catch(() => null))
  if (arn === null) return ok(name, 'MASTER_STAGE_ARN unset and none recorded in the store: serve creates the master at its first start')
  const source = config.masterStageArn ? 'MASTER_STAGE_ARN' : 'the master recorded in the store'
  try {
    const stage = await deps.within(provider.getStage(arn))
    if (stage) return ok(name, `${source} ${arn} exists (GetStage)`)
    const elsewhere = regionOf(arn) !== config.awsRegion ? ` (its ARN is in ${regionOf(arn)}, AWS_REGION is ${config.awsRegion})` : ''
    return fail(name, `${source} ${arn} is not at IVS in ${config.awsRegion}${elsewhere}: serve would refuse to start`)
  } catch (error) {
    return fail(name, `GetStage ${arn}: ${describeError(error)}`)
  }
}

async function keyCheck(config: ServeConfig, api: IvsRealTimeApi, within: Within): Promise<CheckResult> {
  const name = 'token key'
  const arn = config.ivsPublicKeyArn
  if (!arn || !config.ivsPrivateKeyPem) return ok(name, 'no IVS_PUBLIC_KEY_ARN and IVS_PRIVATE_KEY: tokens come from CreateParticipantToken (50 per second)')
  try {
    const answer = await within(
      api.call('GetPublicKey', (abortSignal) => api.client.send(new GetPublicKeyCommand({ arn }), { abortSignal }), {
        subject: `public key ${arn}`,
        maxAttempts: 1,
      }),
    )
    const material = answer.publicKey?.publicKeyMaterial
    if (!material) return fail(name, `IVS answered GetPublicKey for ${arn} without the key's material`)
    return keyMatchCheck(config.ivsPrivateKeyPem, material, arn)
  } catch (error) {
    if (error instanceof AppError && error.code === 'NOT_FOUND')
      return fail(name, `IVS_PUBLIC_KEY_ARN ${arn} is not a public key IVS holds in ${config.awsRegion}: import it (ivs-fanout keys) and set its ARN`)
    return fail(name, `GetPublicKey ${arn}: ${describeError(error)}`)
  }
}
