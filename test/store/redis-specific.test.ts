import { afterAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import { AppError } from '../../src/errors'
import { silentLogger } from '../../src/log'
import { hashTagged, RedisStore } from '../../src/store/redis'
import { RedisConfigError } from '../../src/store/redis-client'
import type { RedisConnection } from '../../src/store/redis-connection'
import { eventually } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { freePort } from '../support/process'
import { makeTlsFiles, type RedisCluster, type RedisServer, startRedis, startRedisCluster, type TlsFiles } from '../support/redis'
import { startTcpProxy } from '../support/tcp-proxy'
import { stageRecord } from './suite'

const T0 = Date.UTC(2026, 10, 23, 12)
let plain: RedisServer
let secured: RedisServer
let tls: TlsFiles
let cluster: RedisCluster
let n = 0
const opened: RedisStore[] = []

beforeAllOrFail(async () => {
  tls = await makeTlsFiles()
  ;[plain, secured, cluster] = await Promise.all([startRedis(), startRedis({ tls, password: 'specific-password' }), startRedisCluster()])
}, 60_000)
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()))
  await Promise.all([plain?.stop(), secured?.stop(), cluster?.stop()])
})

const connection = (port: number, extra: Partial<RedisConnection> = {}): RedisConnection => ({
  host: '127.0.0.1',
  port,
  username: null,
  password: null,
  db: 0,
  tls: null,
  cluster: false,
  ...extra,
})
const store = (c: RedisConnection, prefix = `s${++n}:`, extra: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}) => {
  const s = new RedisStore({ connection: c, prefix, logger: silentLogger, ...extra })
  opened.push(s)
  return s
}
const caPem = () => readFileSync(tls.caCert, 'utf8')

describe('native redis store specifics', () => {
  test('several instances assigning in parallel never exceed capacity (standalone and cluster)', async () => {
    for (const c of [connection(plain.port), connection(cluster.port, { cluster: true })]) {
      const prefix = `multi${++n}:`
      const instances = [0, 1, 2].map(() => store(c, prefix, { stageCapacity: 50 }))
      for (const i of instances) expect(await i.open()).toBe('ready')
      for (let seq = 0; seq < 4; seq++) await instances[0]!.addStage(stageRecord(seq), 10)
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) => instances[i % 3]!.assignViewer({ userId: `v${i}`, participantId: `p${i}`, now: T0 })),
      )
      expect(results.filter((r) => r.ok).length).toBe(200)
      expect((await instances[1]!.listStages()).map((s) => s.viewerCount)).toEqual([50, 50, 50, 50])
    }
  })

  test('every key of a fleet is in one cluster slot (the prefix is a hash tag)', async () => {
    expect(hashTagged('ivsf:')).toBe('{ivsf:}')
    expect(hashTagged('{team}:ivsf:')).toBe('{team}:ivsf:')
    const prefix = `slot${++n}:`
    const s = store(connection(cluster.port, { cluster: true }), prefix)
    await s.open()
    await s.addStage(stageRecord(0), 10)
    await s.assignViewer({ userId: 'u', participantId: 'p', now: T0 })
    await s.leaveViewer('u', (await s.listStages())[0]!.arn, T0 + 10)
    await s.appendEvent({ type: 'stage_created', data: {} })
    await s.putRelay({
      serverId: 'r',
      ipAddress: '::1',
      port: 1,
      publisherActive: false,
      connectedStages: 0,
      stageArns: [],
      registeredAt: T0,
      lastHeartbeatAt: T0,
      offlineSince: null,
    })
    const keys: string[] = []
    for (const node of cluster.nodes) {
      const client = new Redis({ port: node.port })
      keys.push(...(await client.keys(`{${prefix}}*`)).map((k) => `${node.port} ${k}`))
      client.disconnect()
    }
    expect(keys.length).toBeGreaterThanOrEqual(6)
    expect(new Set(keys.map((k) => k.split(' ')[0])).size).toBe(1)
  })

  test('relay records written before stage counts existed (a list in connectedStages) still read', async () => {
    const prefix = `legacy${++n}:`
    const s = store(connection(plain.port), prefix)
    await s.open()
    const admin = new Redis({ port: plain.port })
    await admin.hset(`{${prefix}}relays`, 'old', JSON.stringify({ serverId: 'old', ipAddress: '10.0.0.1', port: 3001, registeredAt: T0 }))
    await admin.hset(`{${prefix}}relayhb`, 'old', JSON.stringify({ publisherActive: true, connectedStages: ['a', 'b'], lastHeartbeatAt: T0 + 5 }))
    admin.disconnect()
    expect(await s.listRelays()).toEqual([
      {
        serverId: 'old',
        ipAddress: '10.0.0.1',
        port: 3001,
        registeredAt: T0,
        publisherActive: true,
        connectedStages: 2,
        stageArns: ['a', 'b'],
        lastHeartbeatAt: T0 + 5,
        offlineSince: null,
      },
    ])
  })

  test('scripts are reloaded after the server forgets them (NOSCRIPT), standalone and cluster', async () => {
    for (const [c, ports] of [
      [connection(plain.port), [plain.port]],
      [connection(cluster.port, { cluster: true }), cluster.nodes.map((x) => x.port)],
    ] as const) {
      const s = store(c)
      await s.open()
      await s.loadScripts()
      await s.addStage(stageRecord(0), 10)
      for (const port of ports) {
        const admin = new Redis({ port })
        await admin.script('FLUSH')
        admin.disconnect()
      }
      expect((await s.listStages()).length).toBe(1)
    }
  })

  test('a blocking read wakes as soon as another connection appends an event', async () => {
    const prefix = `blk${++n}:`
    const reader = store(connection(plain.port), prefix)
    const writer = store(connection(plain.port), prefix)
    await Promise.all([reader.open(), writer.open()])
    expect(reader.blockingReads).toBe(true)
    const last = await reader.lastEventId()
    const started = performance.now()
    const pending = reader.readEvents(last, 10, 5_000)
    await Bun.sleep(50)
    await writer.appendEvent({ type: 'stage_created', data: { stageArn: 'x' } })
    const events = await pending
    const waited = performance.now() - started
    expect(events.map((e) => e.type)).toEqual(['stage_created'])
    expect(waited).toBeLessThan(1_000)
    // Nothing new: the read returns empty after its wait, not an error.
    expect(await reader.readEvents(events[0]!.id, 10, 100)).toEqual([])
  })

  test('Redis unreachable (refused, then hanging) → 503 within 2 s; back → serving, acknowledged writes kept', async () => {
    const proxy = await startTcpProxy(plain.port)
    const s = store(connection(proxy.port), `out${++n}:`)
    expect(await s.open()).toBe('ready')
    const stage = stageRecord(0)
    await s.addStage(stage, 10)
    await s.assignViewer({ userId: 'kept', participantId: 'p', now: T0 })

    proxy.refuse()
    let started = performance.now()
    const refused = await s.listStages().then(
      () => null,
      (e: unknown) => e,
    )
    expect(refused).toBeInstanceOf(AppError)
    expect((refused as AppError).code).toBe('UPSTREAM_UNAVAILABLE')
    expect(performance.now() - started).toBeLessThan(2_000)
    await expect(s.ping()).rejects.toThrow(/Redis at 127\.0\.0\.1:\d+/)

    proxy.restore()
    await eventually('the store answers again', async () => (await s.listStages().catch(() => null))?.length === 1, 10_000, 50)
    expect((await s.findViewer('kept'))?.stageArn).toBe(stage.arn)

    plain.pause() // SIGSTOP: the connection stays open, nothing answers
    try {
      started = performance.now()
      const hung = await s.listStages().then(
        () => null,
        (e: unknown) => e,
      )
      expect((hung as AppError).code).toBe('UPSTREAM_UNAVAILABLE')
      expect(performance.now() - started).toBeLessThan(2_000)
    } finally {
      plain.resume()
    }
    await eventually('the store answers again', async () => (await s.listStages().catch(() => null))?.length === 1, 10_000, 50)
    expect((await s.findViewer('kept'))?.stageArn).toBe(stage.arn)
    proxy.stop()
  }, 30_000)

  test('unreachable at start: open() says so in time, and the store serves once Redis appears', async () => {
    const port = await freePort()
    const s = store(connection(port))
    const started = performance.now()
    expect(await s.open(500)).toBe('unreachable')
    expect(performance.now() - started).toBeLessThan(1_500)
    await expect(s.ping()).rejects.toThrow(/not reachable|not connected/)
    const late = await startRedis({ port })
    try {
      await eventually(
        'the store answers once Redis is up',
        async () =>
          await s.ping().then(
            () => true,
            () => false,
          ),
        10_000,
        50,
      )
      expect(await s.addStage(stageRecord(0), 10)).toBe(true)
    } finally {
      await s.close()
      await late.stop()
    }
  }, 20_000)

  test('configuration errors are named, not retried: wrong password, unknown ACL user, no password, TLS against a plain port and the reverse, an unknown CA', async () => {
    const cases: [string, RedisConnection, RegExp][] = [
      ['wrong password', connection(secured.port, { password: 'not-it', tls: { caPem: caPem() } }), /refused our credentials.*REDIS_PASSWORD/],
      ['unknown ACL user', connection(secured.port, { username: 'nobody', password: 'x', tls: { caPem: caPem() } }), /refused our credentials/],
      ['no password', connection(secured.port, { tls: { caPem: caPem() } }), /refused our credentials/],
      [
        'TLS against a plain port',
        connection(plain.port, { tls: { caPem: null } }),
        /TLS to Redis at 127\.0\.0\.1:\d+ failed: that port answers plain-text Redis; set REDIS_TLS=false/,
      ],
      ['plain against a TLS port', connection(secured.port, { password: 'specific-password' }), /speaks TLS \(in-transit encryption\): set REDIS_TLS=true/],
      ['a CA that did not sign the server', connection(secured.port, { password: 'specific-password', tls: { caPem: null } }), /TLS to Redis/],
    ]
    for (const [name, c, message] of cases) {
      const error = await store(c)
        .open(5_000)
        .then(
          () => null,
          (e: unknown) => e,
        )
      expect([name, error instanceof RedisConfigError]).toEqual([name, true])
      expect((error as Error).message).toMatch(message)
      expect((error as Error).message).not.toContain('specific-password')
    }
  }, 30_000)
})
