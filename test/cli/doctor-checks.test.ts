import { describe, expect, test } from 'bun:test'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatReport, runDoctor, scrubSecrets } from '../../src/cli/doctor'
import {
  capacityCheck,
  configWarnings,
  fanoutCheck,
  keyFileCheck,
  keyMatchCheck,
  serverIpCheck,
  tokenLifetimeCheck,
  variablesCheck,
} from '../../src/cli/doctor-checks'
import { PREVIOUS_API_KEY_WARNING } from '../../src/config/hardening'
import { DEFAULT_PUBLISHER_TOKEN_TTL_MIN, DEFAULT_VIEWER_TOKEN_TTL_MIN, MAX_TOKEN_TTL_MIN } from '../../src/config/ivs-access'
import { fanoutWarnings, IVS_MAX_RECONNECT_WINDOW_SECONDS, loadServeConfig } from '../../src/config/serve'
import { REPLICATE_MAX_STAGES } from '../../src/fleet/admission'

const p384 = () =>
  generateKeyPairSync('ec', { namedCurve: 'P-384', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } })
const ARN = 'arn:aws:ivs:eu-west-1:123456789012:public-key/AbCdEfGhIjKl'

describe('doctor checks (pure)', () => {
  test('variables: the loader’s errors, all of them', () => {
    expect(variablesCheck('variables', { ok: true, config: {} }).status).toBe('ok')
    const bad = variablesCheck('variables', { ok: false, errors: ['A is bad', 'B is bad'] })
    expect([bad.status, bad.detail]).toEqual(['fail', 'A is bad; B is bad'])
  })

  test('token lifetimes: at most 14 days (20160 min), read as written', () => {
    expect(tokenLifetimeCheck({}).status).toBe('ok')
    expect(tokenLifetimeCheck({ PUBLISHER_TOKEN_TTL_MIN: '20160', VIEWER_TOKEN_TTL_MIN: '20160' }).status).toBe('ok')
    const long = tokenLifetimeCheck({ VIEWER_TOKEN_TTL_MIN: '20161' })
    expect(long.status).toBe('fail')
    expect(long.detail).toContain('VIEWER_TOKEN_TTL_MIN 20161 min is longer than IVS allows')
    expect(tokenLifetimeCheck({ PUBLISHER_TOKEN_TTL_MIN: 'a week' }).status).toBe('fail')
    expect(tokenLifetimeCheck({ PUBLISHER_TOKEN_TTL_MIN: '0' }).status).toBe('fail')
  })

  test('capacity: MAX_STAGES × STAGE_CAPACITY within IVS_MAX_SUBSCRIPTIONS', () => {
    expect(capacityCheck({ maxStages: 20, stageCapacity: 1000, ivsMaxSubscriptions: 20_000 }).status).toBe('ok')
    const over = capacityCheck({ maxStages: 21, stageCapacity: 1000, ivsMaxSubscriptions: 20_000 })
    expect(over.status).toBe('fail')
    expect(over.detail).toContain('MAX_STAGES 21 × STAGE_CAPACITY 1000 = 21000 seats, more than IVS_MAX_SUBSCRIPTIONS 20000')
  })

  test('token lifetimes: the defaults and the bound are serve’s loader’s', () => {
    const loaded = loadServeConfig({})
    expect(loaded.ok && [loaded.config.publisherTokenTtlMin, loaded.config.viewerTokenTtlMin]).toEqual([
      DEFAULT_PUBLISHER_TOKEN_TTL_MIN,
      DEFAULT_VIEWER_TOKEN_TTL_MIN,
    ])
    expect(tokenLifetimeCheck({}).detail).toBe(
      `PUBLISHER_TOKEN_TTL_MIN ${DEFAULT_PUBLISHER_TOKEN_TTL_MIN} min, VIEWER_TOKEN_TTL_MIN ${DEFAULT_VIEWER_TOKEN_TTL_MIN} min (IVS: at most ${MAX_TOKEN_TTL_MIN})`,
    )
  })

  test('doctor defines none of serve’s limits itself: no 14 days, 6 stages, 60 s or default TTL as a number in its source', () => {
    const source = readFileSync(join(import.meta.dir, '../../src/cli/doctor-checks.ts'), 'utf8')
    for (const literal of [/\b20160\b/, /14 \* 24 \* 60/, /=\s*6\b/, /\b60\b/, /\b240\b/]) expect(source).not.toMatch(literal)
  })

  test('fan-out mode: serve’s own warnings about the mode (replicate’s stage limit, the reconnect window, local stages), each a fault', () => {
    const config = {
      fanoutMode: 'replicate' as const,
      maxStages: REPLICATE_MAX_STAGES,
      replicationReconnectWindowSeconds: IVS_MAX_RECONNECT_WINDOW_SECONDS,
      provider: 'aws' as const,
    }
    expect(fanoutCheck(config).status).toBe('ok')
    const over = { ...config, maxStages: REPLICATE_MAX_STAGES + 1 }
    expect([fanoutCheck(over).status, fanoutCheck(over).detail]).toEqual(['fail', fanoutWarnings(over).join('; ')])
    expect(fanoutCheck(over).detail).toContain(`MAX_STAGES (${REPLICATE_MAX_STAGES + 1}) is more than FANOUT_MODE=replicate can feed`)
    expect(fanoutCheck({ ...config, fanoutMode: 'hybrid', maxStages: 200 }).status).toBe('ok')
    const window = { ...config, fanoutMode: 'hybrid' as const, replicationReconnectWindowSeconds: IVS_MAX_RECONNECT_WINDOW_SECONDS + 1 }
    expect([fanoutCheck(window).status, fanoutCheck(window).detail]).toEqual(['fail', fanoutWarnings(window).join('; ')])
    const local = { ...config, provider: 'local' as const }
    expect([fanoutCheck(local).status, fanoutCheck(local).detail]).toEqual(['fail', fanoutWarnings(local).join('; ')])
    expect(fanoutCheck({ ...config, fanoutMode: 'relay', maxStages: 500, replicationReconnectWindowSeconds: 300 }).status).toBe('ok')
  })

  test('warnings: the loader’s, each a ⚠ line (but those another check reports), API_SECRET_KEY_PREVIOUS’s among them', () => {
    expect(configWarnings({ warnings: [] })).toEqual([])
    const results = configWarnings({ warnings: ['A is odd', 'B is reported elsewhere'] }, ['B is reported elsewhere'])
    expect(results).toEqual([{ name: 'warning', status: 'warn', detail: 'A is odd' }])
    const loaded = loadServeConfig({ API_SECRET_KEY: 'the-new-api-key-0123456789', API_SECRET_KEY_PREVIOUS: 'the-old-api-key-0123456789' })
    expect(loaded.ok && configWarnings(loaded.config).map((r) => r.detail)).toEqual([PREVIOUS_API_KEY_WARNING])
    expect(PREVIOUS_API_KEY_WARNING).toContain('remove API_SECRET_KEY_PREVIOUS once ivs_fanout_api_key_previous_used_total stops rising')
  })

  test('key file: IVS_PRIVATE_KEY’s file open to its group or others is a fault naming the chmod', () => {
    expect(keyFileCheck('/etc/ivs/key.pem', 0o100600)).toEqual({
      name: 'key file',
      status: 'ok',
      detail: "IVS_PRIVATE_KEY /etc/ivs/key.pem is its owner's only (mode 0600)",
    })
    expect(keyFileCheck('/k.pem', 0o100400).status).toBe('ok')
    for (const [mode, who] of [
      [0o100640, 'its group'],
      [0o100604, 'everyone else'],
      [0o100644, 'its group and everyone else'],
      [0o100620, 'its group'],
    ] as const) {
      const r = keyFileCheck('/k.pem', mode)
      expect(r.status).toBe('fail')
      expect(r.detail).toContain(`has mode 0${(mode & 0o777).toString(8)}, open to ${who}`)
      expect(r.detail).toEndWith('fix: chmod 600 /k.pem')
    }
  })

  test('token key: the private key’s public half against GetPublicKey’s material; neither key is printed', () => {
    const mine = p384()
    const other = p384()
    expect(keyMatchCheck(mine.privateKey, mine.publicKey, ARN).status).toBe('ok')
    const mismatch = keyMatchCheck(mine.privateKey, other.publicKey, ARN)
    expect(mismatch.status).toBe('fail')
    expect(mismatch.detail).toContain(`IVS_PRIVATE_KEY does not belong to IVS_PUBLIC_KEY_ARN ${ARN}`)
    expect(keyMatchCheck(mine.privateKey, 'not a key', ARN).status).toBe('fail')
    expect(keyMatchCheck('not a key', mine.publicKey, ARN).detail).toBe('IVS_PRIVATE_KEY is not a usable private key')
    for (const r of [mismatch, keyMatchCheck(mine.privateKey, mine.publicKey, ARN)]) expect(r.detail).not.toContain('BEGIN')
  })

  test('SERVER_IP: set, an address of this machine, or a plausible public address or name', () => {
    const local = ['127.0.0.1', '10.1.2.3']
    expect(serverIpCheck(undefined, local).status).toBe('fail')
    expect(serverIpCheck('10.1.2.3', local).detail).toBe('10.1.2.3 is an address of this machine')
    expect(serverIpCheck('203.0.113.7', local).status).toBe('ok')
    expect(serverIpCheck('relay.example.com', local).status).toBe('ok')
    for (const bad of ['127.0.0.1', '0.0.0.0', '::', 'not a host!']) expect(serverIpCheck(bad, []).status).toBe('fail')
  })

  test('the report: a line per check, exit 1 naming every fault, 0 when sound', () => {
    const report = formatReport(
      [
        { name: 'store', status: 'ok', detail: 'memory' },
        { name: 'IVS', status: 'fail', detail: 'down' },
        { name: 'capacity', status: 'fail', detail: 'over' },
        { name: 'token key', status: 'skip', detail: 'IVS does not answer' },
      ],
      'serve',
    )
    expect(report).toEqual({
      code: 1,
      text: '✓ store: memory\n✗ IVS: down\n✗ capacity: over\n– token key: IVS does not answer\ndoctor: 2 faults: IVS, capacity\n',
    })
    expect(formatReport([{ name: 'store', status: 'ok', detail: 'x' }], 'relay')).toEqual({
      code: 0,
      text: '✓ store: x\ndoctor: the relay configuration is sound\n',
    })
    expect(
      formatReport(
        [
          { name: 'store', status: 'ok', detail: 'x' },
          { name: 'warning', status: 'warn', detail: 'odd' },
        ],
        'serve',
      ),
    ).toEqual({ code: 0, text: '✓ store: x\n⚠ warning: odd\ndoctor: the serve configuration is sound (1 warning)\n' })
  })

  test('secrets are scrubbed from every line: the secret variables and a password in REDIS_URL, as set and URL-encoded', () => {
    const env = { API_SECRET_KEY: 'key-AAAA/1111+zzzz', REDIS_URL: 'redis://user:p%40ss-BBBB@host:6379', AWS_SECRET_ACCESS_KEY: 'aws-CCCC-secret' }
    expect(scrubSecrets('a key-AAAA/1111+zzzz b p@ss-BBBB c aws-CCCC-secret d p%40ss-BBBB e key-AAAA%2F1111%2Bzzzz', env)).toBe(
      'a [redacted] b [redacted] c [redacted] d [redacted] e [redacted]',
    )
  })

  test('a private key is scrubbed in its PEM body forms; a key file’s path is no secret, its PEM is', () => {
    const pem = p384().privateKey
    const body = pem.split('\n').filter((l) => l && !l.startsWith('-----'))
    const text = `one ${body[1]} two ${body.join('')} three`
    expect(scrubSecrets(text, { IVS_PRIVATE_KEY: pem.replace(/\n/g, '\\n') })).toBe('one [redacted] two [redacted] three')
    const dir = mkdtempSync(join(tmpdir(), 'doctor-scrub-'))
    try {
      const file = join(dir, 'key.pem')
      writeFileSync(file, pem)
      expect(scrubSecrets(`${file}: ${text}`, { IVS_PRIVATE_KEY: file })).toBe(`${file}: one [redacted] two [redacted] three`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('an unknown target is a fault, not a guess', async () => {
    const report = await runDoctor(['server'], { env: {}, hostname: 'h', localAddresses: () => [] })
    expect(report.code).toBe(1)
    expect(report.text).toContain('✗ arguments: unknown "server"')
  })
})
