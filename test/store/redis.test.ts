import { afterAll } from 'bun:test'
import { readFileSync } from 'node:fs'
import { silentLogger } from '../../src/log'
import { RedisStore } from '../../src/store/redis'
import type { RedisConnection } from '../../src/store/redis-connection'
import { beforeAllOrFail } from '../support/hooks'
import { makeTlsFiles, type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../support/redis'
import { describeStore } from './suite'

/** The contract suite on native Redis in the three shapes operators run: plain, TLS + password (and an ACL user), and a 3-master cluster. */
const shapes: { name: string; connection: () => RedisConnection }[] = []
let plain: RedisServer
let secured: RedisServer
let cluster: RedisCluster
const stores: RedisStore[] = []
let n = 0

beforeAllOrFail(async () => {
  const tls = await makeTlsFiles()
  ;[plain, secured, cluster] = await Promise.all([startRedis(), startRedis({ tls, password: 'contract-suite-password' }), startRedisCluster()])
  // An ACL user with just what the store needs.
  const admin = new (await import('ioredis')).Redis({
    host: '127.0.0.1',
    port: secured.port,
    password: 'contract-suite-password',
    tls: { ca: readFileSync(tls.caCert, 'utf8') },
  })
  await admin.call('ACL', 'SETUSER', 'fleet', 'on', '>fleet-user-password', '~*', '&*', '+@all')
  admin.disconnect()
}, 60_000)

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()))
  await Promise.all([plain?.stop(), secured?.stop(), cluster?.stop()])
})

const base = { username: null, password: null, db: 0, tls: null } as const
const variants: [string, () => RedisConnection][] = [
  ['redis standalone', () => ({ ...base, host: '127.0.0.1', port: plain.port, cluster: false })],
  [
    'redis TLS + requirepass',
    () => ({
      ...base,
      host: '127.0.0.1',
      port: secured.port,
      password: 'contract-suite-password',
      tls: { caPem: readFileSync(secured.tls!.caCert, 'utf8') },
      cluster: 'auto',
    }),
  ],
  [
    'redis TLS + ACL user',
    () => ({
      ...base,
      host: '127.0.0.1',
      port: secured.port,
      username: 'fleet',
      password: 'fleet-user-password',
      tls: { caPem: readFileSync(secured.tls!.caCert, 'utf8') },
      cluster: false,
    }),
  ],
  ['redis cluster (3 masters)', () => ({ ...base, host: cluster.host, port: cluster.port, cluster: 'auto' })],
]
for (const [name, connection] of variants) shapes.push({ name, connection })

for (const shape of shapes) {
  // Each test gets its own key prefix: an empty store without restarting Redis.
  describeStore(shape.name, {
    create: async (options) => {
      const store = new RedisStore({ ...options, connection: shape.connection(), prefix: `c${++n}:`, logger: silentLogger })
      stores.push(store)
      if ((await store.open()) !== 'ready') throw new Error(`${shape.name}: not ready`)
      return store
    },
  })
}
