import { loadServeConfig, type ServeConfig } from '../../src/config/serve'
import { createLogger, type Logger, silentLogger } from '../../src/log'
import { type ServeHandle, type ServeOptions, startServe } from '../../src/serve'

/** Serve-mode config from an env map, on a free port, failing loudly if the env is invalid. */
export function testConfig(env: Record<string, string> = {}): ServeConfig {
  const result = loadServeConfig({ API_PORT: '0', IVS_PROVIDER: 'local', RATE_LIMIT_MAX_REQUESTS: '100000', AUTH_FAILURE_LIMIT: '100000', ...env })
  if (!result.ok) throw new Error(`test config invalid: ${result.errors.join('; ')}`)
  return result.config
}

export interface TestServer extends ServeHandle {
  /** fetch against the server with the API key (unless headers override it). */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>
}

/** Starts the real server in this process on a free port (real sockets, real HTTP). */
export async function startTestServer(env: Record<string, string> = {}, options: Partial<ServeOptions> = {}): Promise<TestServer> {
  const logger: Logger = process.env.TEST_LOG ? createLogger('debug') : silentLogger
  const handle = await startServe({ config: testConfig(env), logger, ...options })
  return Object.assign(handle, {
    api(path: string, init: RequestInit & { json?: unknown } = {}) {
      const headers = new Headers(init.headers)
      if (!headers.has('x-api-key')) headers.set('x-api-key', handle.apiKey)
      let body = init.body
      if (init.json !== undefined) {
        body = JSON.stringify(init.json)
        if (!headers.has('content-type')) headers.set('content-type', 'application/json')
      }
      return fetch(handle.url + path, { ...init, headers, body })
    },
  })
}

/** A test server that stops itself at the end of the block: `await using server = await freshServer(env)`. */
export type FreshServer = TestServer & AsyncDisposable

/** startTestServer, disposable: a server of its own for one test, on an empty store unless the env names a shared one. */
export async function freshServer(env: Record<string, string> = {}, options: Partial<ServeOptions> = {}): Promise<FreshServer> {
  const server = await startTestServer(env, options)
  return Object.assign(server, { [Symbol.asyncDispose]: () => server.stop() })
}

export const enc = encodeURIComponent
