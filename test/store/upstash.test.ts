import { afterAll } from 'bun:test'
import { silentLogger } from '../../src/log'
import { UpstashStore } from '../../src/store/upstash'
import { beforeAllOrFail } from '../support/hooks'
import { startUpstashStack, type UpstashServer, type UpstashStack } from '../support/upstash-server'
import { describeStore } from './suite'

let stack: UpstashStack
let rest: UpstashServer
let n = 0
beforeAllOrFail(async () => {
  stack = await startUpstashStack()
  rest = stack.rest
})
afterAll(async () => {
  await stack?.stop()
})

// Each test gets its own key prefix: an empty store without restarting Redis.
describeStore('upstash (REST protocol, real redis-server)', {
  create: async (options) => new UpstashStore({ ...options, url: rest.url, token: rest.token, prefix: `t${++n}:`, logger: silentLogger }),
})
