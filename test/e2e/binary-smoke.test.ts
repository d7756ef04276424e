import { afterAll, describe, expect, test } from 'bun:test'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eventually } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { BUN, bareEnv, freePort, ROOT, type Spawned, spawnProcess } from '../support/process'
import { TestPublisher } from '../support/publisher'
import { startRedis } from '../support/redis'
import { startWhipEndpoint, type WhipEndpoint } from '../support/whip-endpoint'

// The executable `bun run build` produces (and the Dockerfile copies), run alone from an empty folder.
let dir: string
let binary: string
let whip: WhipEndpoint
const running: Spawned[] = []

beforeAllOrFail(async () => {
  const build = Bun.spawnSync([BUN, 'run', 'build'], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
  if (build.exitCode !== 0) throw new Error(`bun run build failed:\n${build.stderr.toString()}`)
  dir = mkdtempSync(join(tmpdir(), 'ivs-fanout-bin-'))
  binary = join(dir, 'ivs-fanout')
  copyFileSync(join(ROOT, 'dist/ivs-fanout'), binary)
  Bun.spawnSync(['chmod', '+x', binary])
  whip = await startWhipEndpoint()
}, 60_000)

afterAll(async () => {
  for (const p of running) if (p.proc.exitCode === null) p.kill('SIGKILL')
  await whip?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

function run(args: string[], env: Record<string, string>) {
  const p = spawnProcess([binary, ...args], bareEnv(env), dir)
  running.push(p)
  return p
}

/** Milliseconds from spawn until /health/live answers. */
async function readyIn(port: number, started: number): Promise<number> {
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/health/live`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) return performance.now() - started
    if (performance.now() - started > 10_000) throw new Error('not ready within 10 s')
    await Bun.sleep(2)
  }
}

describe('the compiled executable, alone in an empty folder', () => {
  test('version and --help', () => {
    const version = Bun.spawnSync([binary, 'version'], { cwd: dir, env: bareEnv() })
    expect(version.stdout.toString().trim()).toMatch(/^\d+\.\d+\.\d+$/)
    const help = Bun.spawnSync([binary, '--help'], { cwd: dir, env: bareEnv() })
    expect(help.stdout.toString()).toContain('relay')
  })

  test('serve + relay: ready fast, tokens work, and a publisher reaches the stage through the relay', async () => {
    const servePort = await freePort()
    const key = 'smoke-test-api-key-0123456789'
    let started = performance.now()
    const serve = run(['serve'], { API_PORT: String(servePort), API_SECRET_KEY: key, LOCAL_WHIP_URL: whip.url, LOG_LEVEL: 'warn' })
    const serveReady = await readyIn(servePort, started)
    const health = (await (await fetch(`http://127.0.0.1:${servePort}/health`)).json()).data
    expect(health).toMatchObject({ status: 'ok', mode: 'serve' })
    const token = await fetch(`http://127.0.0.1:${servePort}/api/token/viewer`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: '{"userId":"smoke"}',
    })
    expect(token.status).toBe(200)

    expect(Bun.spawnSync([binary, 'healthcheck'], { cwd: dir, env: bareEnv({ API_PORT: String(servePort) }) }).exitCode).toBe(0)
    expect(Bun.spawnSync([binary, 'healthcheck', String(await freePort())], { cwd: dir, env: bareEnv() }).exitCode).toBe(1)

    const relayPort = await freePort()
    started = performance.now()
    const relay = run(['relay'], {
      API_PORT: String(relayPort),
      API_SERVER_URL: `http://127.0.0.1:${servePort}`,
      API_SECRET_KEY: key,
      PUBLISH_SECRET: 'smoke-publish-secret-0123',
    })
    const relayReady = await readyIn(relayPort, started)
    console.log(`compiled binary ready in: serve ${serveReady.toFixed(0)} ms, relay ${relayReady.toFixed(0)} ms (spawn to /health/live answering)`)
    // Typically well under a second here; 3 s leaves a loaded CI machine room and still fails a start that waits on something.
    expect(serveReady).toBeLessThan(3_000)
    expect(relayReady).toBeLessThan(3_000)

    const master = (await (await fetch(`http://127.0.0.1:${servePort}/api/stage/master/info`, { headers: { 'x-api-key': key } })).json()).data.stage.stageArn
    // The relay publishes into the stages once it holds the broadcaster (one feeding relay).
    const publisher = new TestPublisher(`http://127.0.0.1:${relayPort}`, 'smoke-publish-secret-0123')
    await publisher.start()
    await eventually(
      'relay live on the master stage',
      async () => {
        const h = (await (await fetch(`http://127.0.0.1:${relayPort}/health`)).json()).data
        return h.stages.some((s: { stageArn: string; state: string }) => s.stageArn === master && s.state === 'live')
      },
      10_000,
    )
    await eventually('media at the stage', () => whip.record(master).videoPackets > 20, 5_000)
    expect(whip.record(master).badPackets).toBe(0)
    await publisher.stop()

    relay.kill('SIGTERM')
    serve.kill('SIGTERM')
    expect(await relay.proc.exited).toBe(0)
    expect(await serve.proc.exited).toBe(0)
    expect(whip.record(master).deletes).toBe(1)
  }, 60_000)

  test('serve on native Redis: the Redis client is inside the executable too', async () => {
    const redis = await startRedis()
    try {
      const port = await freePort()
      const key = 'smoke-test-api-key-0123456789'
      const serve = run(['serve'], { API_PORT: String(port), API_SECRET_KEY: key, REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port), LOG_LEVEL: 'warn' })
      await readyIn(port, performance.now())
      const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()).data
      expect(health.checks.store).toMatchObject({ ok: true, kind: 'redis' })
      const token = await fetch(`http://127.0.0.1:${port}/api/token/viewer`, {
        method: 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
        body: '{"userId":"smoke"}',
      })
      expect(token.status).toBe(200)
      serve.kill('SIGTERM')
      expect(await serve.proc.exited).toBe(0)
    } finally {
      await redis.stop()
    }
  }, 30_000)
})
