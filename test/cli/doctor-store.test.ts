import { afterAll, describe, expect, test } from 'bun:test'
import { beforeAllOrFail } from '../support/hooks'
import { BUN, bareEnv, ROOT } from '../support/process'
import { makeTlsFiles, type RedisCluster, type RedisServer, startRedis, startRedisCluster, type TlsFiles } from '../support/redis'
import { startUpstashStack, type UpstashStack } from '../support/upstash-server'

/**
 * doctor's store line names the store and its mode, as a process against real servers: a TLS
 * redis-server with a password (the password nowhere in the output), a local 3-master cluster
 * (found by asking, and as configured), Upstash's REST protocol, and memory. A TLS server whose
 * certificate the configured CA did not sign is ✗ store naming the certificate, within the deadline.
 * Local stages, so no IVS is needed: the store is the only thing reached.
 */

const PASSWORD = 'SECRET-tlspw/3b5d@7f9a1c'
let tls: TlsFiles
let otherCa: TlsFiles
let tlsRedis: RedisServer
let cluster: RedisCluster
let upstash: UpstashStack

beforeAllOrFail(async () => {
  ;[tls, otherCa] = await Promise.all([makeTlsFiles(), makeTlsFiles()])
  ;[tlsRedis, cluster, upstash] = await Promise.all([startRedis({ tls, password: PASSWORD }), startRedisCluster(), startUpstashStack()])
})
afterAll(async () => {
  await Promise.all([tlsRedis?.stop(), cluster?.stop(), upstash?.stop()])
})

async function doctor(env: Record<string, string>) {
  const started = performance.now()
  const proc = Bun.spawn([BUN, 'src/main.ts', 'doctor'], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe', env: bareEnv({ IVS_PROVIDER: 'local', ...env }) })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, out, err, ms: performance.now() - started }
}

const storeLines = (out: string) => out.split('\n').filter((l) => / store: /.test(l))

describe('doctor: the store and its mode', () => {
  test('TLS with a password (rediss:// and REDIS_TLS_CA_FILE): ✓ store … (standalone, TLS, AUTH); the password nowhere, nothing scrubbed', async () => {
    const r = await doctor({ REDIS_URL: `rediss://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${tlsRedis.port}`, REDIS_TLS_CA_FILE: tls.caCert })
    expect(storeLines(r.out)).toEqual([`✓ store: redis 127.0.0.1:${tlsRedis.port} (standalone, TLS, AUTH) answers`])
    expect(r.code).toBe(0)
    // The same server as REDIS_HOST + REDIS_TLS + REDIS_PASSWORD.
    const split = await doctor({
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(tlsRedis.port),
      REDIS_TLS: 'true',
      REDIS_TLS_CA_FILE: tls.caCert,
      REDIS_PASSWORD: PASSWORD,
    })
    expect(storeLines(split.out)).toEqual([`✓ store: redis 127.0.0.1:${tlsRedis.port} (standalone, TLS, AUTH) answers`])
    for (const text of [r.out, r.err, split.out, split.err]) {
      expect(text).not.toContain(PASSWORD)
      expect(text).not.toContain(encodeURIComponent(PASSWORD))
      expect(text).not.toContain('[redacted]')
    }
  }, 30_000)

  test('TLS with a CA that did not sign the server’s certificate: ✗ store naming the certificate and REDIS_TLS_CA_FILE, no hang', async () => {
    const r = await doctor({ REDIS_URL: `rediss://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${tlsRedis.port}`, REDIS_TLS_CA_FILE: otherCa.caCert })
    const lines = storeLines(r.out)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(
      new RegExp(
        `^✗ store: TLS to Redis at 127\\.0\\.0\\.1:${tlsRedis.port} failed \\(self[- ]signed certificate in certificate chain\\): check REDIS_TLS \\(the server must speak TLS on that port\\) and REDIS_TLS_CA_FILE$`,
      ),
    )
    expect(r.out.trim().split('\n').at(-1)).toBe('doctor: 1 fault: store')
    expect(r.code).toBe(1)
    expect(r.ms).toBeLessThan(10_000)
    expect(r.out + r.err).not.toContain(PASSWORD)
  }, 30_000)

  test('a cluster, found by asking (REDIS_CLUSTER unset) and as configured (REDIS_CLUSTER=true): ✓ store … (cluster, plain)', async () => {
    const asked = await doctor({ REDIS_URL: `redis://127.0.0.1:${cluster.port}` })
    expect(storeLines(asked.out)).toEqual([`✓ store: redis 127.0.0.1:${cluster.port} (cluster, plain) answers`])
    expect(asked.code).toBe(0)
    const configured = await doctor({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(cluster.nodes[1]!.port), REDIS_CLUSTER: 'true' })
    expect(storeLines(configured.out)).toEqual([`✓ store: redis 127.0.0.1:${cluster.nodes[1]!.port} (cluster, plain) answers`])
    expect(configured.code).toBe(0)
  }, 30_000)

  test('Upstash: ✓ store: upstash host', async () => {
    const r = await doctor({ UPSTASH_REDIS_REST_URL: upstash.rest.url, UPSTASH_REDIS_REST_TOKEN: upstash.rest.token })
    expect(storeLines(r.out)).toEqual([`✓ store: upstash ${new URL(upstash.rest.url).host} answers`])
    expect(r.out + r.err).not.toContain(upstash.rest.token)
    expect(r.code).toBe(0)
  }, 30_000)

  test('no store configured: ✓ store: memory (this process only), the run sound with no warning', async () => {
    const r = await doctor({})
    expect(storeLines(r.out)).toEqual(['✓ store: memory (this process only) answers'])
    expect(r.out.trim().split('\n').at(-1)).toBe('doctor: the serve configuration is sound')
    expect(r.code).toBe(0)
  }, 30_000)
})
