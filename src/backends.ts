import type { Clock } from './clock'
import type { ServeConfig } from './config/serve'
import { describeError } from './errors'
import { randomAlphanumeric } from './ids'
import { ApiTokenIssuer } from './ivs/api-tokens'
import { AwsStageProvider } from './ivs/aws'
import { createIvsRealTimeClient, type IvsCallObserver, IvsRealTimeApi } from './ivs/aws-api'
import { LOCAL_ACCOUNT_ID, LocalStageProvider } from './ivs/local'
import { generateKeyPair, importPrivateKey, SelfSignedTokenIssuer } from './ivs/signer'
import type { StageProvider, TokenIssuer } from './ivs/types'
import type { Logger } from './log'
import { MemoryStore } from './store/memory'
import { RedisStore } from './store/redis'
import { RedisConfigError } from './store/redis-client'
import type { Store } from './store/types'
import { UpstashStore } from './store/upstash'

/** A configuration problem found while building the backends: serve exits 2 with its message. */
export class StartupError extends Error {}

/** How long start waits for a store that does not answer before serving without it (live 200, ready 503). */
const STORE_START_WAIT_MS = 2_000

/**
 * The store the configuration names. A store that is down at start (refused, silent, or accepted
 * and dropped by a proxy in front of it) is not fatal: the server listens, /health/ready says why,
 * requests answer 503, and the client reconnects with backoff. A store that refuses the
 * configuration (credentials, TLS) is: exit 2.
 */
export async function openStore(config: ServeConfig, logger: Logger, fatal: (error: Error) => void): Promise<Store> {
  // STAGE_CAPACITY enters here: the store seats by it and every stage it reads carries it.
  const options = { stageCapacity: config.stageCapacity, historyRetentionMs: config.watchHistoryTtlMs }
  if (config.redis) {
    const store = new RedisStore({ ...options, connection: config.redis, prefix: config.redisKeyPrefix, logger, onConfigError: fatal })
    try {
      if ((await store.open(STORE_START_WAIT_MS)) === 'unreachable')
        logger.warn('store not reachable at start; answering 503 until it is', { store: store.describe() })
      else await store.loadScripts().catch(() => {})
    } catch (error) {
      if (error instanceof RedisConfigError) throw new StartupError(error.message)
      throw error
    }
    return store
  }
  if (!config.upstash) return new MemoryStore(options)
  const store = new UpstashStore({ ...config.upstash, ...options, prefix: config.redisKeyPrefix, logger })
  await store.loadScripts().catch(() => logger.warn('store not reachable at start; answering 503 until it is', { store: store.describe() }))
  return store
}

/**
 * Local mode: stages kept in the store (no media unless LOCAL_WHIP_URL names a WHIP endpoint) and
 * self-signed tokens (generated key unless one is given).
 * AWS mode: IVS stages; self-signed tokens when a key is configured, else CreateParticipantToken,
 * both sharing one IVS client paced to the account's quotas.
 */
export async function stageBackend(
  config: ServeConfig,
  deps: { logger: Logger; clock: Clock; store: Store; observer?: IvsCallObserver },
): Promise<{ provider: StageProvider; tokens: TokenIssuer; api: IvsRealTimeApi | null }> {
  const { logger, clock } = deps
  if (config.provider === 'local') {
    // The stages live in the store, so instances sharing it share them and a restart keeps them.
    const provider = new LocalStageProvider({ region: config.awsRegion, whipUrl: config.localWhipUrl, stages: deps.store.localStages })
    const keyId = config.ivsPublicKeyArn ?? `arn:aws:ivs:${config.awsRegion}:${LOCAL_ACCOUNT_ID}:public-key/${randomAlphanumeric(12)}`
    return { provider, tokens: await selfSignedIssuer(config.ivsPrivateKeyPem ?? (await generateKeyPair()).privateKeyPem, keyId, clock), api: null }
  }
  // Every IVS call of every instance is paced through the shared store's quota windows.
  const api = new IvsRealTimeApi({
    client: createIvsRealTimeClient({ region: config.awsRegion, endpoint: config.ivsEndpoint }),
    logger: logger.child({ component: 'ivs' }),
    clock,
    limits: deps.store.limits,
    scope: config.awsRegion,
    observer: deps.observer,
  })
  const provider = new AwsStageProvider(api)
  const tokens =
    config.ivsPublicKeyArn && config.ivsPrivateKeyPem ? await selfSignedIssuer(config.ivsPrivateKeyPem, config.ivsPublicKeyArn, clock) : new ApiTokenIssuer(api)
  return { provider, tokens, api }
}

async function selfSignedIssuer(pem: string, keyId: string, clock: Clock): Promise<TokenIssuer> {
  try {
    return new SelfSignedTokenIssuer((await importPrivateKey(pem)).key, keyId, clock)
  } catch (error) {
    throw new StartupError(`IVS_PRIVATE_KEY cannot be used: ${describeError(error)}`)
  }
}
