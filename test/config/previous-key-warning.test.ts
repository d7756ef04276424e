/**
 * A grace period left in place shows at every start: while API_SECRET_KEY_PREVIOUS is set (and
 * accepted), serve's and the relay's loaders warn, and each process logs the warning when it starts.
 */
import { describe, expect, test } from 'bun:test'
import { loadRelayConfig } from '../../relay/config'
import { PREVIOUS_API_KEY_WARNING } from '../../src/config/hardening'
import { loadServeConfig } from '../../src/config/serve'
import { createLogger } from '../../src/log'
import { startRelayStack } from '../support/relay-stack'
import { freshServer } from '../support/serve'

const NEW = 'the-new-api-key-0123456789'
const OLD = 'the-old-api-key-0123456789'
const RELAY = { API_SERVER_URL: 'http://127.0.0.1:3000' }

function capturedWarnings() {
  const lines: string[] = []
  const logger = createLogger('info', {}, (line) => lines.push(line))
  const warnings = () => lines.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.level === 'warn')
  return { logger, warnings }
}

describe('API_SECRET_KEY_PREVIOUS set: a warning at start', () => {
  test('the text names the variable to remove and the counter to watch', () => {
    expect(PREVIOUS_API_KEY_WARNING).toBe(
      'accepting the previous API key: remove API_SECRET_KEY_PREVIOUS once ivs_fanout_api_key_previous_used_total stops rising',
    )
  })

  test('both loaders warn while it is accepted, and only then (not unset, not when refused)', () => {
    const warningsOf = (result: { ok: boolean; config?: { warnings: string[] } }) => (result.ok ? result.config!.warnings : null)
    expect(warningsOf(loadServeConfig({ API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: OLD }))).toContain(PREVIOUS_API_KEY_WARNING)
    expect(warningsOf(loadRelayConfig({ ...RELAY, API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: OLD }, 'host'))).toContain(PREVIOUS_API_KEY_WARNING)
    expect(warningsOf(loadServeConfig({ API_SECRET_KEY: NEW }))).not.toContain(PREVIOUS_API_KEY_WARNING)
    expect(warningsOf(loadRelayConfig({ ...RELAY, API_SECRET_KEY: NEW }, 'host'))).not.toContain(PREVIOUS_API_KEY_WARNING)
    // Refused (the same key, or no API_SECRET_KEY): an error, not a warning.
    expect(loadServeConfig({ API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: NEW }).ok).toBe(false)
    expect(loadServeConfig({ API_SECRET_KEY_PREVIOUS: OLD }).ok).toBe(false)
  })

  test('serve logs it when it starts, once, never naming a key', async () => {
    const { logger, warnings } = capturedWarnings()
    await using _server = await freshServer({ API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: OLD }, { logger })
    expect(warnings().filter((w) => w.msg === PREVIOUS_API_KEY_WARNING).length).toBe(1)
    expect(JSON.stringify(warnings())).not.toContain(OLD)
    const quiet = capturedWarnings()
    await using _plain = await freshServer({ API_SECRET_KEY: NEW }, { logger: quiet.logger })
    expect(quiet.warnings().map((w) => w.msg)).not.toContain(PREVIOUS_API_KEY_WARNING)
  })

  test('the relay logs it when it starts', async () => {
    const { logger, warnings } = capturedWarnings()
    const stack = await startRelayStack({
      serveEnv: { API_SECRET_KEY: NEW },
      relayEnv: { API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: OLD },
      relay: { logger },
    })
    try {
      expect(warnings().filter((w) => w.msg === PREVIOUS_API_KEY_WARNING).length).toBe(1)
      expect(JSON.stringify(warnings())).not.toContain(OLD)
    } finally {
      await stack.stop()
    }
  }, 30_000)
})
