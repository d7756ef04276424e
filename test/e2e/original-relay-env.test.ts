/**
 * A relay started with the original media server's documented .env (SERVER_IP=localhost and all),
 * as a process, against serve with MEDIA_SERVER_SECRET set: it registers, answers the documented
 * /health body and becomes ready.
 */
import { afterEach, expect, test } from 'bun:test'
import { eventually, until } from '../support/eventually'
import { BUN, bareEnv, freePort, type Spawned, spawnProcess } from '../support/process'
import { startTestServer } from '../support/serve'

const running: Spawned[] = []
afterEach(() => {
  for (const p of running.splice(0)) if (p.proc.exitCode === null) p.kill('SIGKILL')
})

/** The media server document's .env, as an operator would copy it (values filled in). */
const ORIGINAL_ENV = (api: string, port: number) => `
API_SERVER_URL=${api}
API_SECRET_KEY=your-api-secret-key-0123456789
MEDIA_SERVER_SECRET=your-media-server-secret-0123
SERVER_ID=media-server-01
SERVER_IP=localhost
PORT=${port}
WHIP_ENDPOINT=https://global.whip.live-video.net
PUBLISH_SECRET=your-publish-secret-0123456789
HEARTBEAT_INTERVAL=30000
STAGE_SYNC_INTERVAL=60000
ENABLE_AUTO_SYNC=true
`

function parseEnv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  )
}

test("the original media server's .env: the relay registers (SERVER_IP=localhost), serves the documented /health and is ready", async () => {
  const server = await startTestServer({ API_SECRET_KEY: 'your-api-secret-key-0123456789', MEDIA_SERVER_SECRET: 'your-media-server-secret-0123' })
  try {
    const port = await freePort()
    const relay = spawnProcess([BUN, 'run', 'src/main.ts', 'relay'], bareEnv(parseEnv(ORIGINAL_ENV(server.url, port))))
    running.push(relay)
    await eventually(
      'the relay is ready',
      () =>
        fetch(`http://127.0.0.1:${port}/health/ready`).then(
          (r) => r.status === 200,
          () => false,
        ),
      15_000,
      100,
    )
    // The document's WHIP_ENDPOINT (IVS's global endpoint) is not reachable from here, so the master
    // stage's first connection fails and its session backs off. Error texts are for operators: the
    // API key opens the detailed view.
    const health = await until(
      "the master stage's session has failed once",
      async () => {
        const body = await (await fetch(`http://127.0.0.1:${port}/health`, { headers: { 'x-api-key': 'your-api-secret-key-0123456789' } })).json()
        return body.status === 'healthy' ? null : body
      },
      15_000,
      100,
    )
    // The documented fields at the top level: degraded, with the reason.
    expect([health.status, health.service, health.serverId, typeof health.uptime, typeof health.version]).toEqual([
      'degraded',
      'ivs-fanout-relay',
      'media-server-01',
      'number',
      'string',
    ])
    expect(health.stats).toEqual({ publisherActive: false, connectedStages: 0, activeConnections: 0 })
    expect(health.data.reasons.join()).toContain('global.whip.live-video.net')
    expect(health.success).toBe(true)
    const relays = (await (await server.api('/api/stats/publisher')).json()).data.relays
    expect(relays).toEqual([expect.objectContaining({ serverId: 'media-server-01', state: 'online' })])
    expect((await server.relays.list())[0]!.ipAddress).toBe('localhost')
  } finally {
    await server.stop()
  }
}, 30_000)
