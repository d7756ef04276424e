import { loadRelayConfig } from '../../relay/config'
import { type RelayHandle, type RelayOptions, startRelay } from '../../relay/main'
import { createLogger, silentLogger } from '../../src/log'
import { startTestServer, type TestServer } from './serve'
import { startWhipEndpoint, type WhipEndpoint, type WhipEndpointOptions } from './whip-endpoint'

export interface RelayStack {
  serve: TestServer
  relay: RelayHandle
  whip: WhipEndpoint
  stop(): Promise<void>
}

export const PUBLISH_SECRET = 'publish-secret-0123456789'

/**
 * serve (local provider, stages' WHIP URL = the test endpoint) + relay, both in this process, on
 * loopback. The relay holds its stage sessions without a publisher too (`feedWithoutPublisher`, as
 * every relay did before issue 21), so a test of stage sessions needs no broadcaster; pass
 * `relay: { feedWithoutPublisher: false }` for the product's rule (only with a publisher).
 */
export async function startRelayStack(
  options: {
    serveEnv?: Record<string, string>
    relayEnv?: Record<string, string>
    whip?: WhipEndpointOptions
    repair?: boolean
    /** More of startRelay's options (e.g. a shorter publisher connect timeout). */
    relay?: Partial<RelayOptions>
  } = {},
): Promise<RelayStack> {
  const whip = await startWhipEndpoint(options.whip)
  const serve = await startTestServer({ LOCAL_WHIP_URL: whip.url, MEDIA_SERVER_SECRET: 'media-secret-0123456789', ...options.serveEnv })
  const config = loadRelayConfig(
    {
      API_PORT: '0',
      API_SERVER_URL: serve.url,
      API_SECRET_KEY: serve.apiKey,
      MEDIA_SERVER_SECRET: 'media-secret-0123456789',
      PUBLISH_SECRET,
      SERVER_ID: 'relay-test',
      HEARTBEAT_INTERVAL: '1000',
      STAGE_SYNC_INTERVAL: '2000',
      RATE_LIMIT_MAX_REQUESTS: '100000',
      AUTH_FAILURE_LIMIT: '100000',
      ...options.relayEnv,
    },
    'test',
  )
  if (!config.ok) throw new Error(config.errors.join('; '))
  const logger = process.env.TEST_LOG ? createLogger('debug', { mode: 'relay' }) : silentLogger
  const relay = await startRelay({
    config: config.config,
    logger,
    bindAddress: '127.0.0.1',
    backoff: { baseMs: 100, capMs: 1_000 },
    controlBackoff: { baseMs: 100, capMs: 1_000 },
    feedbackTimeoutMs: 2_000,
    mediaTimeoutMs: 1_500,
    repair: options.repair,
    feedWithoutPublisher: true,
    ...options.relay,
  })
  return {
    serve,
    relay,
    whip,
    async stop() {
      await relay.stop()
      await serve.stop()
      await whip.stop()
    },
  }
}
