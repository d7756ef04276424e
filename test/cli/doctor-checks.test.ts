import { describe, expect, test } from 'bun:test'
import { generateKeyPairSync } from 'node:crypto'
import { formatReport, runDoctor, scrubSecrets } from '../../src/cli/doctor'
import { capacityCheck, fanoutCheck, keyMatchCheck, serverIpCheck, tokenLifetimeCheck, variablesCheck } from '../../src/cli/doctor-checks'

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

  test('fan-out mode: replicate feeds 6 stages at most, a replication’s window is at most 60 s, replication needs IVS', () => {
    const config = { fanoutMode: 'replicate' as const, maxStages: 6, replicationReconnectWindowSeconds: 60, provider: 'aws' as const }
    expect(fanoutCheck(config).status).toBe('ok')
    expect(fanoutCheck({ ...config, maxStages: 7 }).detail).toContain('MAX_STAGES 7 is more than replicate can feed (6')
    expect(fanoutCheck({ ...config, maxStages: 7 }).status).toBe('fail')
    expect(fanoutCheck({ ...config, fanoutMode: 'hybrid', maxStages: 200 }).status).toBe('ok')
    const window = fanoutCheck({ ...config, fanoutMode: 'hybrid', replicationReconnectWindowSeconds: 61 })
    expect([window.status, window.detail]).toEqual(['fail', 'REPLICATION_RECONNECT_WINDOW_SECONDS 61 is more than IVS takes (60): replications would get 60'])
    expect(fanoutCheck({ ...config, provider: 'local' }).status).toBe('fail')
    expect(fanoutCheck({ ...config, fanoutMode: 'relay', maxStages: 500, replicationReconnectWindowSeconds: 300 }).status).toBe('ok')
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
  })

  test('secrets are scrubbed from every line: the secret variables and a password in REDIS_URL', () => {
    const env = { API_SECRET_KEY: 'key-AAAA-1111-zzzz', REDIS_URL: 'redis://user:p%40ss-BBBB@host:6379', AWS_SECRET_ACCESS_KEY: 'aws-CCCC-secret' }
    expect(scrubSecrets('a key-AAAA-1111-zzzz b p@ss-BBBB c aws-CCCC-secret', env)).toBe('a [redacted] b [redacted] c [redacted]')
  })

  test('an unknown target is a fault, not a guess', async () => {
    const report = await runDoctor(['server'], { env: {}, hostname: 'h', localAddresses: () => [] })
    expect(report.code).toBe(1)
    expect(report.text).toContain('✗ arguments: unknown "server"')
  })
})
