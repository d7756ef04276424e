import { afterAll, describe, expect, test } from 'bun:test'
import { copyFileSync, rmSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { composeFile, interpolate } from '../support/compose-file'
import { IMAGE, must, prepareBaseImages, requirePodman, run } from '../support/containers'
import { eventually } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { tempDir } from '../support/leftovers'

/**
 * `podman-compose up` of the real docker-compose.yml: two serve replicas on one Redis, the relay
 * on the host network. Fails (never skips) when podman cannot run here.
 */
const PROJECT = 'ivsf-ci'
const API_KEY = 'compose-api-key-0123456789'
const env = { API_SECRET_KEY: API_KEY, PUBLISH_SECRET: 'compose-publish-secret-0123', MEDIA_SERVER_SECRET: 'compose-media-secret-0123' }
const REPLICAS = { 'serve-1': 'http://127.0.0.1:3000', 'serve-2': 'http://127.0.0.1:3002' } as const
const RELAY = 'http://127.0.0.1:3001'

/**
 * Polls once a second: the stack's API rate limit (100 a minute per key and address, counted
 * fleet-wide in Redis) is the real one, and the test's own requests must stay under it.
 */
const POLL_MS = 1_000

/**
 * podman-compose runs the real file from a scratch folder (so no .env of this checkout is read)
 * with the secrets in its environment, as docker compose reads them from .env; AWS settings of
 * the machine running the tests are blanked, so the stack is the local-provider one.
 */
const workdir = tempDir('ivsf-compose-')
copyFileSync('docker-compose.yml', join(workdir, 'docker-compose.yml'))
const composeEnv = {
  ...env,
  AWS_ACCESS_KEY_ID: '',
  AWS_SECRET_ACCESS_KEY: '',
  AWS_SESSION_TOKEN: '',
  AWS_PROFILE: '',
  MASTER_STAGE_ARN: '',
  IVS_PUBLIC_KEY_ARN: '',
  IVS_PRIVATE_KEY: '',
}
const composeRun = (args: string[], timeoutMs = 300_000) =>
  run(['podman-compose', '-p', PROJECT, '-f', join(workdir, 'docker-compose.yml'), ...args], { timeoutMs, cwd: workdir, env: composeEnv })

/**
 * Starts the file's `relay` service as docker compose would. podman-compose 1.0.3 cannot start a
 * `network_mode: host` service: it always adds `--network-alias`, which podman refuses outside
 * bridge networks. So this one service is run from its own definition in the file (image, command,
 * environment, host network, restart policy), under the name and label podman-compose gives its
 * containers, so that `podman-compose down` removes it like the others.
 */
async function startHostNetworkService(service: string): Promise<void> {
  const file = composeFile()
  const definition = file.services[service]
  if (definition?.network_mode !== 'host') throw new Error(`docker-compose.yml has no host-network service ${service}`)
  const vars: Record<string, string | undefined> = { ...process.env, ...composeEnv }
  const environment = Object.entries(definition.environment ?? {}).flatMap(([name, value]) => ['-e', `${name}=${interpolate(value ?? '', vars)}`])
  await must([
    'podman',
    'run',
    '-d',
    `--name=${PROJECT}_${service}_1`,
    '--label',
    `io.podman.compose.project=${PROJECT}`,
    '--network',
    'host',
    ...(definition.restart ? ['--restart', definition.restart] : []),
    ...environment,
    definition.image,
    ...(definition.command ?? []),
  ])
}

const portInUse = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection(port, '127.0.0.1')
    socket.once('connect', () => resolve(!!socket.destroy()))
    socket.once('error', () => resolve(false))
  })

const api = (base: string, path: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, {
    ...init,
    headers: { 'x-api-key': API_KEY, 'content-type': 'application/json', ...init.headers },
    signal: AbortSignal.timeout(5_000),
  })

const ready = (base: string) =>
  fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(1_000) }).then(
    (r) => r.ok,
    () => false,
  )

async function leader(base: string): Promise<number | null> {
  const response = await api(base, '/metrics').catch(() => null)
  if (!response?.ok) return null
  const line = (await response.text()).split('\n').find((l) => l.startsWith('ivs_fanout_leader '))
  return line ? Number(line.split(' ')[1]) : null
}

const projectContainers = async () =>
  (await must(['podman', 'ps', '-a', '--filter', `label=io.podman.compose.project=${PROJECT}`, '--format', '{{.Names}}'])).trim().split('\n').filter(Boolean)

describe('the compose stack (podman-compose, the real docker-compose.yml)', () => {
  let podman = false
  beforeAllOrFail(async () => {
    await requirePodman()
    podman = true
    await prepareBaseImages((line) => console.log(line))
    // The image of this checkout (podman's layer cache makes this quick when the image test built it).
    await must(['podman', 'build', '--network', 'host', '--format', 'docker', '-t', IMAGE, '.'], { timeoutMs: 900_000 })
    await composeRun(['down', '-v'])
    for (const port of [3000, 3002, 3001]) {
      if (await portInUse(port)) throw new Error(`port ${port} is taken on this machine: docker-compose.yml publishes it; free it to run this test`)
    }
    const up = await composeRun(['up', '-d', 'redis', 'serve-1', 'serve-2'])
    if (up.code !== 0) throw new Error(`podman-compose up failed:\n${(up.stderr + up.stdout).slice(-3000)}`)
    await startHostNetworkService('relay')
    for (const [name, base] of Object.entries(REPLICAS)) await eventually(`${name} ready`, () => ready(base), 60_000, POLL_MS)
    await eventually('the relay answers', () => ready(RELAY), 60_000, POLL_MS)
  }, 1_800_000)

  afterAll(async () => {
    try {
      if (podman) {
        await composeRun(['down', '-v'])
        await run(['podman', 'network', 'rm', '-f', `${PROJECT}_default`])
      }
    } finally {
      rmSync(workdir, { recursive: true, force: true })
    }
  }, 120_000)

  test('tokens through both replicas share one fleet: stats agree, one leader, the relay registered', async () => {
    for (let i = 0; i < 10; i++) {
      for (const [name, base] of Object.entries(REPLICAS)) {
        const response = await api(base, '/api/token/viewer', { method: 'POST', body: JSON.stringify({ userId: `${name}-viewer-${i}` }) })
        expect(response.status).toBe(200)
      }
    }
    const stats = await Promise.all(Object.values(REPLICAS).map(async (base) => ((await (await api(base, '/api/stats')).json()) as { data: unknown }).data))
    expect(stats[0]).toMatchObject({ totalViewers: 20 })
    expect(stats[1]).toEqual(stats[0])
    const leaders = await Promise.all(Object.values(REPLICAS).map(leader))
    expect(leaders.sort()).toEqual([0, 1])
    await eventually(
      'the relay is online in both replicas',
      async () => {
        const views = await Promise.all(
          Object.values(REPLICAS).map(
            async (base) => ((await (await api(base, '/api/stats/publisher')).json()) as { data: { relays: { state: string }[] } }).data.relays,
          ),
        )
        return views.every((relays) => relays.some((relay) => relay.state === 'online'))
      },
      30_000,
      POLL_MS,
    )
  }, 60_000)

  test('the leader killed: the other replica keeps serving and takes over the lead', async () => {
    const [leading, other] = (await leader(REPLICAS['serve-1'])) === 1 ? (['serve-1', 'serve-2'] as const) : (['serve-2', 'serve-1'] as const)
    const survivor = REPLICAS[other]
    expect(await leader(survivor)).toBe(0)
    const [victim] = (await projectContainers()).filter((name) => name.includes(leading))
    expect(victim).toBeDefined()
    await must(['podman', 'kill', victim!])
    const token = await api(survivor, '/api/token/viewer', { method: 'POST', body: JSON.stringify({ userId: 'after-the-kill' }) })
    expect(token.status).toBe(200)
    // The lease (LEADER_LEASE_MS, 10 s by default) passes to the survivor.
    await eventually(`${other} leads`, async () => (await leader(survivor)) === 1, 30_000, POLL_MS)
    const stats = ((await (await api(survivor, '/api/stats')).json()) as { data: { totalViewers: number } }).data
    expect(stats.totalViewers).toBe(21)
  }, 60_000)

  test('down leaves nothing: no container, volume or network of the project', async () => {
    const down = await composeRun(['down', '-v'])
    expect(down.code).toBe(0)
    expect(await projectContainers()).toEqual([])
    const volumes = (await must(['podman', 'volume', 'ls', '--format', '{{.Name}}'])).split('\n').filter((name) => name.startsWith(PROJECT))
    expect(volumes).toEqual([])
    // podman-compose 1.0.3 leaves the project's network behind (docker compose removes it); nothing is attached to it.
    await run(['podman', 'network', 'rm', `${PROJECT}_default`])
    for (const port of [3000, 3002, 3001]) expect(await portInUse(port)).toBe(false)
  }, 120_000)
})
