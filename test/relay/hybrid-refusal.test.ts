/** Hybrid (issue 21): the relay lets go of a stage the API server says a replica feeds, instead of retrying it. */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { eventually } from '../support/eventually'
import { type RelayStack, startRelayStack } from '../support/relay-stack'

let stack: RelayStack
beforeAll(async () => {
  // Capacity 1: every viewer makes a stage; with 8 stages hybrid needs 2 origins and the rest are replica-fed.
  stack = await startRelayStack({
    serveEnv: { FANOUT_MODE: 'hybrid', STAGE_CAPACITY: '1', SCALE_UP_THRESHOLD: '1', SCALE_DOWN_THRESHOLD: '0', MAX_STAGES: '8' },
  })
})
afterAll(async () => {
  await stack?.stop()
})

test('a 409 for a stage token (a replica feeds it) drops the stage at once; origins stay', async () => {
  for (let i = 0; i < 8; i++) expect((await stack.serve.api('/api/token/viewer', { method: 'POST', json: { userId: `v${i}` } })).status).toBe(200)
  const stages = await stack.serve.store.listStages()
  expect(stages.length).toBe(8)
  const origins = new Set((await (await stack.serve.api('/api/media/stages')).json()).data.stages.map((s: { stageArn: string }) => s.stageArn))
  expect(origins.size).toBeLessThan(8)
  const replicaFed = stages.map((s) => s.arn).find((arn) => !origins.has(arn))!
  // As if a stale list had named it: the relay asks for a token, is refused, and lets it go without retrying.
  stack.relay.fanout.addStage(replicaFed)
  await eventually('the replica-fed stage is let go', () => !stack.relay.fanout.stageSnapshots().some((s) => s.stageArn === replicaFed), 5_000)
  const kept = stack.relay.fanout.stageSnapshots().map((s) => s.stageArn)
  for (const arn of kept) expect(origins.has(arn)).toBe(true)
})
