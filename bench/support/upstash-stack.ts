import { startUpstashStack } from '../../test/support/upstash-server'
import { serveCalls } from './child'

export type StackCall = { op: 'info' } | { op: 'resetCounts' } | { op: 'counts' }
export interface StackCounts {
  requests: number
  single: number
  pipeline: number
  multiExec: number
  commands: number
}

/**
 * The test Upstash REST server (test/support/upstash-server.ts) in front of its own redis-server,
 * in this process so the server's work never shares an event loop with the load generator.
 */
const stack = await startUpstashStack()
// RedisServer.stop() sends SIGKILL before its first await, so this also works from 'exit'.
process.on('exit', () => void stack.redis.stop())
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0))

serveCalls(async (call: StackCall) => {
  const { rest } = stack
  if (call.op === 'info') return { url: rest.url, token: rest.token }
  if (call.op === 'resetCounts') return (rest.resetCounts(), {})
  return { requests: rest.requests, ...rest.counts } satisfies StackCounts
})
