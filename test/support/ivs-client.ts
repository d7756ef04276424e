import { createIvsRealTimeClient, IvsRealTimeApi, type IvsRealTimeApiOptions } from '../../src/ivs/aws-api'
import type { IvsServer } from './ivs-server'

/** Shaped like real keys, so tests can check they never surface in errors. */
export const TEST_CREDENTIALS = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
}

export interface TestIvsApi {
  api: IvsRealTimeApi
  /** Backoff sleeps requested so far (when the sleep is injected). */
  sleeps: number[]
}

/**
 * The real SDK client pointed at the test server (as IVS_ENDPOINT would), wrapped in IvsRealTimeApi.
 * Backoff sleeps are recorded and skipped unless `realSleep` is set.
 */
export function testIvsApi(server: IvsServer, options: Partial<IvsRealTimeApiOptions> & { realSleep?: boolean } = {}): TestIvsApi {
  const sleeps: number[] = []
  const { realSleep, ...rest } = options
  const client = createIvsRealTimeClient({ region: server.region, endpoint: server.url, credentials: TEST_CREDENTIALS })
  const api = new IvsRealTimeApi({
    client,
    sleep: async (ms) => {
      sleeps.push(ms)
      if (realSleep) await Bun.sleep(ms)
    },
    ...rest,
  })
  return { api, sleeps }
}
