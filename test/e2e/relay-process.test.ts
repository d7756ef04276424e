import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eventually } from '../support/eventually'
import { BUN, bareEnv, freePort, spawnProcess } from '../support/process'
import { TestPublisher } from '../support/publisher'
import { startTestServer, type TestServer } from '../support/serve'
import { startWhipEndpoint, type WhipEndpoint } from '../support/whip-endpoint'

let whip: WhipEndpoint
let serve: TestServer
beforeAll(async () => {
  whip = await startWhipEndpoint()
  serve = await startTestServer({ LOCAL_WHIP_URL: whip.url })
})
afterAll(async () => {
  await serve.stop()
  await whip.stop()
})

describe('ivs-fanout relay as a process', () => {
  test('missing API_SECRET_KEY: exit 2 naming it', async () => {
    const p = spawnProcess([BUN, 'run', 'src/main.ts', 'relay'], bareEnv({ API_PORT: String(await freePort()) }))
    expect(await p.proc.exited).toBe(2)
    expect(p.stderr()).toContain('API_SECRET_KEY')
  })

  test('the relay refuses what serve refuses: a 5-character MEDIA_SERVER_SECRET exits 2 in both modes, naming it', async () => {
    for (const mode of ['serve', 'relay']) {
      const env = { API_PORT: String(await freePort()), API_SECRET_KEY: 'k'.repeat(24), MEDIA_SERVER_SECRET: 'short' }
      const p = spawnProcess([BUN, 'run', 'src/main.ts', mode], bareEnv(env))
      expect({ mode, code: await p.proc.exited }).toEqual({ mode, code: 2 })
      expect(p.stderr()).toContain('MEDIA_SERVER_SECRET must be at least 16 characters')
      expect(p.stderr()).not.toContain('short')
    }
  })

  test('registers; with a broadcaster publishes into the master stage; on SIGTERM sends WHIP DELETE and exits 0', async () => {
    const port = await freePort()
    const p = spawnProcess(
      [BUN, 'run', 'src/main.ts', 'relay'],
      bareEnv({ API_PORT: String(port), API_SERVER_URL: serve.url, API_SECRET_KEY: serve.apiKey, SERVER_ID: 'relay-proc' }),
    )
    let publisher: TestPublisher | null = null
    try {
      const [, secret] = await p.waitFor(/publish secret \(WHIP bearer token\) is (\S+)/)
      expect(secret!.length).toBeGreaterThan(16)
      const master = (await serve.stages.master()).arn
      await eventually(
        'ready',
        () =>
          fetch(`http://127.0.0.1:${port}/health/ready`).then(
            (r) => r.status === 200,
            () => false,
          ),
        10_000,
      )
      // No broadcaster: no stage session (one feeding relay: only the relay holding the broadcaster feeds).
      const idle = await (await fetch(`http://127.0.0.1:${port}/health`)).json()
      expect([idle.feeding, idle.stats, idle.data.stages]).toEqual([false, { publisherActive: false, connectedStages: 0, activeConnections: 0 }, []])
      expect(whip.record(master).sessions).toBe(0)
      publisher = new TestPublisher(`http://127.0.0.1:${port}`, secret!)
      await publisher.start()
      await eventually(
        'master stage live at the relay',
        async () => {
          const health = await fetch(`http://127.0.0.1:${port}/health`).then(
            (r) => r.json(),
            () => null,
          )
          return health?.data?.stages?.some((s: { stageArn: string; state: string }) => s.stageArn === master && s.state === 'live') ?? false
        },
        10_000,
      )
      const health = await (await fetch(`http://127.0.0.1:${port}/health`)).json()
      expect(health).toMatchObject({ success: true, status: 'healthy', service: 'ivs-fanout-relay', serverId: 'relay-proc' })
      expect(health.stats).toEqual({ publisherActive: true, connectedStages: 1, activeConnections: 2 })
      expect(health.feeding).toBe(true)
      expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200)
      expect((await (await serve.api('/api/stats/publisher')).json()).data.relays.map((r: { serverId: string }) => r.serverId)).toContain('relay-proc')
      p.kill('SIGTERM')
      expect(await p.proc.exited).toBe(0)
      expect(whip.record(master).deletes).toBe(1)
      expect(p.stdout()).toContain('"msg":"relay stopped"')
    } finally {
      await publisher?.stop()
      if (p.proc.exitCode === null) p.kill('SIGKILL')
    }
  }, 30_000)
})
