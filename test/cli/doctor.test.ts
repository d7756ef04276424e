import { afterAll, describe, expect, test } from 'bun:test'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '../../src/ivs/signer'
import { beforeAllOrFail } from '../support/hooks'
import { awsModeEnv, type IvsServer, startIvsServer } from '../support/ivs-server'
import { BUN, bareEnv, freePort, ROOT } from '../support/process'
import { type RedisServer, startRedis } from '../support/redis'
import { startTestServer, type TestServer } from '../support/serve'

/**
 * `ivs-fanout doctor` as a process against the IVS test server, a real redis-server and a real serve:
 * a sound configuration exits 0 with every line ✓; each fault is one ✗ line, named again in the
 * last line, and exit 1; a silent endpoint fails its check within the deadline; no secret is printed.
 */

let ivs: IvsServer
let redis: RedisServer
let serve: TestServer
let masterArn: string
let keyArn: string
let privateKeyPem: string
let keyDir: string
const API_KEY = 'doctor-test-api-key-0123456789'
const MEDIA_SECRET = 'doctor-test-media-secret-0123'

beforeAllOrFail(async () => {
  // Doctor runs follow each other faster than IVS's 5 calls a second per operation: no throttling here.
  ivs = await startIvsServer({ tps: { ListStages: 1000, GetStage: 1000, GetPublicKey: 1000 } })
  redis = await startRedis()
  masterArn = ivs.seedStage({ name: 'doctor-master' }).arn
  const pair = await generateKeyPair()
  privateKeyPem = pair.privateKeyPem
  keyArn = ivs.seedPublicKey({ publicKeyMaterial: pair.publicKeyPem.trim(), name: 'doctor' }).arn
  serve = await startTestServer({ API_SECRET_KEY: API_KEY, MEDIA_SERVER_SECRET: MEDIA_SECRET })
  keyDir = mkdtempSync(join(tmpdir(), 'doctor-key-'))
})
afterAll(async () => {
  if (keyDir) rmSync(keyDir, { recursive: true, force: true })
  await serve?.stop()
  await redis?.stop()
  await ivs?.stop()
})

async function doctor(args: string[], env: Record<string, string>) {
  const started = performance.now()
  const proc = Bun.spawn([BUN, 'src/main.ts', 'doctor', ...args], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe', env: bareEnv(env) })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, out, err, ms: performance.now() - started }
}

/** The private key in a file of this mode. */
function keyFile(name: string, mode: number): string {
  const path = join(keyDir, name)
  writeFileSync(path, privateKeyPem)
  chmodSync(path, mode)
  return path
}

/** serve's sound configuration: AWS mode on the IVS test server, native Redis, self-signed tokens. */
const sound = (): Record<string, string> => ({
  ...awsModeEnv(ivs),
  API_SECRET_KEY: API_KEY,
  REDIS_URL: redis.url,
  MASTER_STAGE_ARN: masterArn,
  IVS_PUBLIC_KEY_ARN: keyArn,
  IVS_PRIVATE_KEY: privateKeyPem,
})

const relayEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
  API_SERVER_URL: serve.url,
  API_SECRET_KEY: API_KEY,
  MEDIA_SERVER_SECRET: MEDIA_SECRET,
  SERVER_IP: '203.0.113.7',
  ...extra,
})

const failed = (out: string) =>
  out
    .split('\n')
    .filter((l) => l.startsWith('✗'))
    .map((l) => l.slice(2, l.indexOf(':')))

describe('doctor: serve', () => {
  test('a sound configuration: every check ✓, exit 0', async () => {
    const r = await doctor([], sound())
    expect(r.out).not.toContain('✗')
    expect(r.code).toBe(0)
    expect(r.out).toContain(`✓ store: redis 127.0.0.1:${redis.port} (standalone, plain) answers`)
    expect(r.out).toContain('✓ IVS: answers in eu-west-1 with these credentials (ListStages)')
    expect(r.out).toContain(`✓ master stage: MASTER_STAGE_ARN ${masterArn} exists (GetStage)`)
    expect(r.out).toContain(`✓ token key: IVS_PRIVATE_KEY is the private half of ${keyArn}`)
    expect(r.out.trim().split('\n').at(-1)).toBe('doctor: the serve configuration is sound')
  }, 30_000)

  const refusals: [string, Record<string, string>, string[], string][] = [
    ['a bad variable', { STAGE_CAPACITY: 'lots' }, ['variables'], 'STAGE_CAPACITY must be a whole number, got "lots"'],
    [
      'a token lifetime over 14 days',
      { PUBLISHER_TOKEN_TTL_MIN: '30000' },
      ['variables', 'token lifetimes'],
      'PUBLISHER_TOKEN_TTL_MIN 30000 min is longer than IVS allows',
    ],
    [
      'more seats than subscriptions',
      { MAX_STAGES: '30', STAGE_CAPACITY: '1000', SCALE_UP_THRESHOLD: '900' },
      ['capacity'],
      '30000 seats, more than IVS_MAX_SUBSCRIPTIONS 20000',
    ],
    [
      'replicate over 6 stages',
      { FANOUT_MODE: 'replicate', MAX_STAGES: '8' },
      ['fan-out mode'],
      '✗ fan-out mode: MAX_STAGES (8) is more than FANOUT_MODE=replicate can feed',
    ],
    ['the master stage missing', { MASTER_STAGE_ARN: 'arn:aws:ivs:eu-west-1:123456789012:stage/Missing00000' }, ['master stage'], 'is not at IVS in eu-west-1'],
  ]
  for (const [what, extra, faults, message] of refusals) {
    test(`${what}: ✗ ${faults.join(', ')}, exit 1`, async () => {
      const r = await doctor([], { ...sound(), ...extra })
      expect(failed(r.out)).toEqual(faults)
      expect(r.out).toContain(message)
      expect(r.out).toContain(`doctor: ${faults.length} fault${faults.length === 1 ? '' : 's'}: ${faults.join(', ')}`)
      expect(r.code).toBe(1)
    }, 30_000)
  }

  test('IVS_PRIVATE_KEY as a file: ✓ key file at 0600; at 0640 or 0604 ✗ key file naming the chmod, the path printed as it is', async () => {
    const owner = keyFile('owner.pem', 0o600)
    const sound600 = await doctor([], { ...sound(), IVS_PRIVATE_KEY: owner })
    expect(sound600.out).toContain(`✓ key file: IVS_PRIVATE_KEY ${owner} is its owner's only (mode 0600)`)
    expect(sound600.out).toContain('✓ token key: IVS_PRIVATE_KEY is the private half')
    expect(sound600.code).toBe(0)
    for (const [mode, who] of [
      [0o640, 'its group'],
      [0o604, 'everyone else'],
    ] as const) {
      const path = keyFile(`open-${mode.toString(8)}.pem`, mode)
      const r = await doctor([], { ...sound(), IVS_PRIVATE_KEY: path })
      expect(failed(r.out)).toEqual(['key file'])
      expect(r.out).toContain(`✗ key file: IVS_PRIVATE_KEY ${path} has mode 0${mode.toString(8)}, open to ${who}`)
      expect(r.out).toContain(`fix: chmod 600 ${path}\n`)
      expect(r.code).toBe(1)
    }
    const inline = await doctor([], sound())
    expect(inline.out).toContain('– key file: IVS_PRIVATE_KEY is given inline, not as a file')
  }, 30_000)

  test('serve’s own warnings and API_SECRET_KEY_PREVIOUS: ⚠ lines, exit 0; a fan-out warning is its check’s ✗ only', async () => {
    const r = await doctor([], { ...sound(), SERVER_ID: 'relay-1', API_SECRET_KEY_PREVIOUS: 'doctor-test-old-api-key-0123' })
    expect(r.out).toContain('⚠ warning: SERVER_ID is a relay setting, read by `ivs-fanout relay`')
    const previous = r.out.split('\n').filter((l) => l.includes('API_SECRET_KEY_PREVIOUS'))
    expect(previous).toEqual([
      '⚠ warning: accepting the previous API key: remove API_SECRET_KEY_PREVIOUS once ivs_fanout_api_key_previous_used_total stops rising',
    ])
    expect(r.out).not.toContain('✗')
    expect(r.out.trim().split('\n').at(-1)).toBe('doctor: the serve configuration is sound (2 warnings)')
    expect(r.code).toBe(0)

    const replicate = await doctor([], { ...sound(), FANOUT_MODE: 'replicate', MAX_STAGES: '8' })
    expect(replicate.out.split('\n').filter((l) => l.includes('MAX_STAGES (8) is more than FANOUT_MODE=replicate can feed'))).toHaveLength(1)
    expect(replicate.out).not.toContain('⚠')
  }, 30_000)

  test('a private key that is not IVS_PUBLIC_KEY_ARN’s: ✗ token key', async () => {
    const other = (await generateKeyPair()).privateKeyPem
    const r = await doctor([], { ...sound(), IVS_PRIVATE_KEY: other })
    expect(failed(r.out)).toEqual(['token key'])
    expect(r.out).toContain(`IVS_PRIVATE_KEY does not belong to IVS_PUBLIC_KEY_ARN ${keyArn}`)
    expect(r.code).toBe(1)
  }, 30_000)

  test('the store unreachable: ✗ store, within its deadline', async () => {
    const r = await doctor([], { ...sound(), REDIS_URL: `redis://127.0.0.1:${await freePort()}` })
    expect(failed(r.out)).toEqual(['store'])
    expect(r.out).toMatch(/✗ store: redis 127\.0\.0\.1:\d+ .*not reachable/)
    expect(r.code).toBe(1)
    expect(r.ms).toBeLessThan(15_000)
  }, 30_000)

  test('an IVS endpoint that accepts and never answers: ✗ IVS within the deadline, the rest skipped', async () => {
    const silent = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
    try {
      const r = await doctor([], { ...sound(), IVS_ENDPOINT: `http://127.0.0.1:${silent.port}` })
      expect(failed(r.out)).toEqual(['IVS'])
      expect(r.out).toContain('– master stage: IVS does not answer')
      expect(r.code).toBe(1)
      expect(r.ms).toBeLessThan(15_000)
    } finally {
      silent.stop(true)
    }
  }, 30_000)
})

describe('doctor relay', () => {
  test('a sound relay configuration: the API server answers and takes the key; SERVER_IP plausible', async () => {
    const r = await doctor(['relay'], relayEnv())
    expect(r.out).toContain(`✓ API server: ${serve.url}/health answers 200`)
    expect(r.out).toContain(`✓ API key: accepted by ${serve.url}`)
    expect(r.out).toContain('✓ SERVER_IP: 203.0.113.7')
    expect(r.code).toBe(0)
  }, 30_000)

  test('the API server down: ✗ API server, the key not tried', async () => {
    const r = await doctor(['relay'], relayEnv({ API_SERVER_URL: `http://127.0.0.1:${await freePort()}` }))
    expect(failed(r.out)).toEqual(['API server'])
    expect(r.out).toContain('– API key: the API server does not answer')
    expect(r.code).toBe(1)
  }, 30_000)

  test('a wrong MEDIA_SERVER_SECRET: ✗ API key (403), naming MEDIA_SERVER_SECRET', async () => {
    const r = await doctor(['relay'], relayEnv({ MEDIA_SERVER_SECRET: 'not-the-servers-media-secret-0123' }))
    expect(failed(r.out)).toEqual(['API key'])
    expect(r.out).toContain(`✗ API key: ${serve.url} refused GET /api/media/stages: 403 FORBIDDEN (MEDIA_SERVER_SECRET is not serve's:`)
    expect(r.code).toBe(1)
  }, 30_000)

  test('the relay’s API_SECRET_KEY_PREVIOUS: a ⚠ line', async () => {
    const r = await doctor(['relay'], relayEnv({ API_SECRET_KEY_PREVIOUS: 'doctor-test-old-api-key-0123' }))
    expect(r.out).toContain('⚠ warning: accepting the previous API key: remove API_SECRET_KEY_PREVIOUS once')
    expect(r.code).toBe(0)
  }, 30_000)

  test('a wrong API key: ✗ API key (401); SERVER_IP unset: ✗ SERVER_IP', async () => {
    const r = await doctor(['relay'], relayEnv({ API_SECRET_KEY: 'not-the-servers-key-0123456789', SERVER_IP: '' }))
    expect(failed(r.out)).toEqual(['API key', 'SERVER_IP'])
    expect(r.out).toContain('refused GET /api/media/stages: 401')
    expect(r.code).toBe(1)
  }, 30_000)
})

describe('doctor prints no secret', () => {
  // Real keys hold `/`, `+`, `=` and `@`, so their URL-encoded forms differ from them.
  const SECRETS = {
    API_SECRET_KEY: 'SECRET-apikey-7f3a9c1e5b+/=',
    API_SECRET_KEY_PREVIOUS: 'SECRET-previous-2d8e4f6a0c',
    MEDIA_SERVER_SECRET: 'SECRET-media-9b1d3f5e7a@:',
    PUBLISH_SECRET: 'SECRET-publish-4c6e8a0b2d',
    METRICS_TOKEN: 'SECRET-metrics-1a3c5e7f9b',
    AWS_SECRET_ACCESS_KEY: 'SECRET-awssecret+8e0a/2c4d6f',
    AWS_SESSION_TOKEN: 'SECRET-session-5f7b9d1e3a//=',
  }
  const URL_PASSWORD = 'SECRET-urlpw/3b5d@7f9a1c'

  /**
   * Every form a secret could be printed in: as given, URL-encoded, and for a PEM its body (each
   * line, the lines joined, the `\n`-escaped text). The output must hold none, and no `[redacted]`
   * either: the scrub is a last line of defence, so a marker means some line printed a secret.
   */
  function expectNoSecret(text: string, secrets: readonly string[]) {
    expect(text).not.toContain('[redacted]')
    for (const secret of secrets) {
      expect(text).not.toContain(secret)
      expect(text).not.toContain(encodeURIComponent(secret))
    }
    const body = privateKeyPem.split('\n').filter((l) => l && !l.startsWith('-----'))
    for (const form of [...body, body.join(''), body.join('\\n'), 'PRIVATE KEY']) expect(text).not.toContain(form)
  }

  test('serve with Redis AUTH refused, serve with Upstash, a relay with a wrong key: no value of any secret anywhere, nothing scrubbed', async () => {
    const runs = [
      await doctor([], {
        ...sound(),
        ...SECRETS,
        REDIS_URL: '',
        REDIS_HOST: '127.0.0.1',
        REDIS_PORT: String(redis.port),
        REDIS_PASSWORD: 'SECRET-redispw-6d8f0a2c4e',
      }),
      await doctor([], { ...sound(), ...SECRETS, REDIS_URL: `redis://user:${encodeURIComponent(URL_PASSWORD)}@127.0.0.1:${redis.port}` }),
      await doctor([], {
        ...sound(),
        ...SECRETS,
        REDIS_URL: '',
        UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${await freePort()}`,
        UPSTASH_REDIS_REST_TOKEN: 'SECRET-upstash-0e2a4c6d8f',
      }),
      await doctor(['relay'], relayEnv(SECRETS)),
      // The key as a file: its path is printed as it is, its PEM nowhere.
      await doctor([], { ...sound(), ...SECRETS, IVS_PRIVATE_KEY: keyFile('secret-test.pem', 0o600) }),
    ]
    // Each run got as far as the checks that use the secrets.
    for (const r of [...runs.slice(0, 3), runs[4]!]) expect(r.out).toMatch(/^[✓✗] store: .*$/m)
    expect(runs[3]!.out).toContain('✗ API key')
    expect(runs[4]!.out).toContain(`✓ key file: IVS_PRIVATE_KEY ${join(keyDir, 'secret-test.pem')} is its owner's only`)
    for (const r of runs)
      for (const text of [r.out, r.err])
        expectNoSecret(text, [...Object.values(SECRETS), 'SECRET-redispw-6d8f0a2c4e', URL_PASSWORD, 'SECRET-upstash-0e2a4c6d8f'])
  }, 60_000)
})
