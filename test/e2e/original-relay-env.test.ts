/**
 * A relay started with the original media server's documented .env (SERVER_IP=localhost and all),
 * as a process, against serve with MEDIA_SERVER_SECRET set: it registers, answers the documented
 * /health body and becomes ready. serve runs local stages without LOCAL_WHIP_URL: they carry no
 * media, so the relay does not POST to the .env's WHIP_ENDPOINT (IVS's, which knows no local stage).
 */
import { afterEach, expect, test } from 'bun:test'
import { NO_MEDIA_NOTICE } from '../../relay/egress/stage-session'
import { eventually, until } from '../support/eventually'
import { parseLogs } from '../support/fleet-cluster'
import { BUN, bareEnv, freePort, type Spawned, spawnProcess } from '../support/process'
import { TestPublisher } from '../support/publisher'
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
  let publisher: TestPublisher | null = null
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
    // No broadcaster yet: no stage session (one feeding relay), and not feeding.
    const idle = await (await fetch(`http://127.0.0.1:${port}/health`)).json()
    expect([idle.feeding, idle.data.stageCounts.total]).toEqual([false, 0])
    // With one, the relay feeds. The master is a local stage without a WHIP endpoint: the relay says so
    // instead of trying the document's WHIP_ENDPOINT (IVS's global endpoint) over and over. The API key
    // opens the detailed view.
    publisher = new TestPublisher(`http://127.0.0.1:${port}`, 'your-publish-secret-0123456789')
    await publisher.start()
    const master = (await server.stages.master()).arn
    const health = await until(
      'the master stage is known to carry no media',
      async () => {
        const body = await (await fetch(`http://127.0.0.1:${port}/health`, { headers: { 'x-api-key': 'your-api-secret-key-0123456789' } })).json()
        return body.data.stages.some((s: { stageArn: string; state: string }) => s.stageArn === master && s.state === 'no-media') ? body : null
      },
      15_000,
      100,
    )
    // The documented fields at the top level: healthy (nothing is wrong with the relay), and why no stage is connected.
    expect([health.status, health.service, health.serverId, typeof health.uptime, typeof health.version]).toEqual([
      'healthy',
      'ivs-fanout-relay',
      'media-server-01',
      'number',
      'string',
    ])
    expect(health.stats).toEqual({ publisherActive: true, connectedStages: 0, activeConnections: 1 })
    expect(health.feeding).toBe(true)
    expect(health.data.reasons).toEqual([])
    expect(health.data.notices).toEqual([expect.stringContaining('LOCAL_WHIP_URL')])
    expect(health.success).toBe(true)
    const logs = parseLogs(relay.stdout())
    expect(logs.filter((l) => l.msg === NO_MEDIA_NOTICE).map((l) => l.stageArn)).toEqual([master])
    expect(logs.filter((l) => l.msg === 'stage connection failed')).toEqual([])
    const relays = (await (await server.api('/api/stats/publisher')).json()).data.relays
    expect(relays).toEqual([expect.objectContaining({ serverId: 'media-server-01', state: 'online' })])
    expect((await server.relays.list())[0]!.ipAddress).toBe('localhost')
  } finally {
    await publisher?.stop()
    await server.stop()
  }
}, 30_000)
