import { afterAll, beforeAll } from 'bun:test'
import { silentLogger } from '../../src/log'
import { UpstashStore } from '../../src/store/upstash'
import { startRedis, type RedisServer } from '../support/redis'
import { startUpstashServer, type UpstashServer } from '../support/upstash-server'
import { describeStore } from './suite'

let redis: RedisServer
let rest: UpstashServer
let n = 0
beforeAll(async () => {
  redis = await startRedis()
  rest = await startUpstashServer({ redisUrl: redis.url })
})
afterAll(async () => {
  await rest.stop()
  await redis.stop()
})

// Each test gets its own key prefix: an empty store without restarting Redis.
describeStore('upstash (REST protocol, real redis-server)', {
  create: async () => new UpstashStore({ url: rest.url, token: rest.token, prefix: `t${++n}:`, logger: silentLogger }),
})
