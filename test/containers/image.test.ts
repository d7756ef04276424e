import { afterAll, describe, expect, test } from 'bun:test'
import { DEBIAN_IMAGE, IMAGE, must, prepareBaseImages, requirePodman, run } from '../support/containers'
import { eventually } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { freePort } from '../support/process'

/**
 * The unchanged Dockerfile, built with podman from locally made base images, and both modes run
 * in the image it makes. Fails (never skips) when podman cannot run here.
 */
const API_KEY = 'container-api-key-0123456789'
const PUBLISH_SECRET = 'container-publish-secret-0123'
const containers: string[] = []

async function start(name: string, args: string[]): Promise<string> {
  await run(['podman', 'rm', '-f', name])
  containers.push(name)
  await must(['podman', 'run', '-d', '--name', name, '--network', 'host', ...args])
  return name
}

const alive = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
    (r) => r.ok,
    () => false,
  )

/** The image's layers above its base (the Debian image), newest first, with their sizes. */
async function addedLayers(): Promise<{ size: number; createdBy: string }[]> {
  type Layer = { size: number; CreatedBy: string }
  const history = (image: string) => must(['podman', 'history', '--format', 'json', image]).then((out) => JSON.parse(out) as Layer[])
  const [ours, base] = await Promise.all([history(IMAGE), history(DEBIAN_IMAGE)])
  return ours.slice(0, ours.length - base.length).map((layer) => ({ size: layer.size, createdBy: layer.CreatedBy }))
}

describe('the container image (podman, unchanged Dockerfile)', () => {
  let servePort = 0
  let relayPort = 0
  const serveUrl = () => `http://127.0.0.1:${servePort}`

  beforeAllOrFail(async () => {
    await requirePodman()
    const made = await prepareBaseImages((line) => console.log(line))
    console.log(made.length ? `base images made: ${made.join(', ')}` : 'base images: cached')
    const started = performance.now()
    await must(['podman', 'build', '--network', 'host', '--format', 'docker', '-t', IMAGE, '.'], { timeoutMs: 900_000 })
    console.log(`podman build of the Dockerfile: ${((performance.now() - started) / 1000).toFixed(1)} s`)
    servePort = await freePort()
    relayPort = await freePort()
    // The test's own polling and load must not meet the API rate limit (100 a minute by default).
    await start('ivsf-test-serve', [
      '-e',
      `API_PORT=${servePort}`,
      '-e',
      `API_SECRET_KEY=${API_KEY}`,
      '-e',
      'RATE_LIMIT_MAX_REQUESTS=1000000',
      // Seats for every token the SIGTERM test asks for (20 × 50 filled up on a fast run: 503 CAPACITY_EXHAUSTED).
      '-e',
      'STAGE_CAPACITY=10000',
      IMAGE,
      'serve',
    ])
    await eventually('serve in the image answers /health/live', () => alive(`${serveUrl()}/health/live`), 20_000)
  }, 1_800_000)

  afterAll(async () => {
    if (containers.length) await run(['podman', 'rm', '-f', '-t', '0', ...containers])
  })

  test('the Dockerfile adds the executable and CA certificates: at most 150 MB above the base', async () => {
    const layers = await addedLayers()
    const total = layers.reduce((sum, layer) => sum + layer.size, 0)
    console.log('layers above the base image:')
    for (const layer of layers.filter((l) => l.size > 0))
      console.log(`  ${(layer.size / 1e6).toFixed(1).padStart(7)} MB  ${layer.createdBy.replace(/\s+/g, ' ').slice(0, 90)}`)
    console.log(`  ${(total / 1e6).toFixed(1).padStart(7)} MB  in all`)
    expect(total).toBeLessThanOrEqual(150e6)
    expect(total).toBeGreaterThan(50e6) // the executable is in there
  })

  test('serve in the image: /health, a viewer token, a non-root user, and its own health check', async () => {
    const health = await fetch(`${serveUrl()}/health`)
    expect(health.status).toBe(200)
    expect(((await health.json()) as { data: { mode: string } }).data.mode).toBe('serve')
    const token = await fetch(`${serveUrl()}/api/token/viewer`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'container-viewer' }),
    })
    expect(token.status).toBe(200)
    expect(((await token.json()) as { data: { token: string } }).data.token.split('.')).toHaveLength(3)

    expect((await must(['podman', 'exec', 'ivsf-test-serve', 'id', '-u'])).trim()).toBe('10001')
    expect((await run(['podman', 'exec', 'ivsf-test-serve', 'ivs-fanout', 'healthcheck'])).code).toBe(0)
    // Kept because the image is built in docker format (podman's OCI format drops HEALTHCHECK).
    const inspect = JSON.parse(await must(['podman', 'image', 'inspect', IMAGE]))[0] as { Healthcheck?: { Test: string[] }; Config: { User: string } }
    expect(inspect.Healthcheck?.Test).toEqual(['CMD', 'ivs-fanout', 'healthcheck'])
    expect(inspect.Config.User).toBe('10001')
  })

  test('relay in the image (host network) registers with serve and answers /health', async () => {
    await start('ivsf-test-relay', [
      '-e',
      `API_PORT=${relayPort}`,
      '-e',
      `API_SERVER_URL=${serveUrl()}`,
      '-e',
      `API_SECRET_KEY=${API_KEY}`,
      '-e',
      `PUBLISH_SECRET=${PUBLISH_SECRET}`,
      '-e',
      'SERVER_ID=relay-in-a-container',
      IMAGE,
      'relay',
    ])
    await eventually(
      'the relay registers',
      async () => {
        const response = await fetch(`${serveUrl()}/api/stats/publisher`, { headers: { 'x-api-key': API_KEY } }).catch(() => null)
        const relays = response?.ok ? ((await response.json()) as { data: { relays: { serverId: string; state: string }[] } }).data.relays : []
        return relays.some((relay) => relay.serverId === 'relay-in-a-container' && relay.state === 'online')
      },
      20_000,
    )
    const health = await fetch(`http://127.0.0.1:${relayPort}/health`)
    expect(health.status).toBe(200)
    expect(((await health.json()) as { serverId: string }).serverId).toBe('relay-in-a-container')
    expect((await run(['podman', 'exec', 'ivsf-test-relay', 'ivs-fanout', 'healthcheck'])).code).toBe(0)
  }, 60_000)

  test('SIGTERM (podman stop): requests in flight are answered, exit 0 within the stop timeout; the health check then fails', async () => {
    let answered = 0
    const statuses = new Set<number>()
    const failures: string[] = []
    let closing = false
    // Four keep-alive clients asking for viewer tokens until the server says Connection: close.
    const client = async (id: number) => {
      for (let i = 0; !closing; i++) {
        try {
          const response = await fetch(`${serveUrl()}/api/token/viewer`, {
            method: 'POST',
            headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
            body: JSON.stringify({ userId: `stop-${id}-${i}` }),
          })
          await response.arrayBuffer()
          statuses.add(response.status)
          answered++
          if (response.headers.get('connection') === 'close') closing = true
        } catch (error) {
          failures.push(String(error))
          return
        }
      }
    }
    const clients = Promise.all([0, 1, 2, 3].map(client))
    await Bun.sleep(500)
    const before = answered
    const started = performance.now()
    const stop = await run(['podman', 'stop', '-t', '10', 'ivsf-test-serve'])
    const stopSeconds = (performance.now() - started) / 1000
    await clients
    console.log(
      `podman stop took ${stopSeconds.toFixed(2)} s; ${answered - before} tokens issued after the signal (statuses ${[...statuses].join(', ')}), ${failures.length} failed`,
    )
    expect(stop.code).toBe(0)
    expect(failures).toEqual([])
    // Every answer a token: the drain served real requests, not refusals.
    expect([...statuses]).toEqual([200])
    expect(answered).toBeGreaterThan(before)
    expect(stopSeconds).toBeLessThan(10)
    expect((await must(['podman', 'inspect', '--format', '{{.State.ExitCode}}', 'ivsf-test-serve'])).trim()).toBe('0')
    // Nothing listens there any more: the image's health check says so.
    const check = await run(['podman', 'run', '--rm', '--network', 'host', '-e', `API_PORT=${servePort}`, IMAGE, 'healthcheck'])
    expect(check.code).not.toBe(0)
  }, 60_000)
})
