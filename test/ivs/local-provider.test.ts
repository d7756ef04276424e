import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors'
import { LocalStageProvider } from '../../src/ivs/local'
import type { StageProvider } from '../../src/ivs/types'
import { MemoryStore } from '../../src/store/memory'

/** The local provider on a store's registry: what two instances sharing that store, or one restarted, see. */
describe('LocalStageProvider', () => {
  test('two providers on one store see one set of stages: created by one, renamed, listed and deleted by the other', async () => {
    const store = new MemoryStore()
    const a = new LocalStageProvider({ region: 'eu-west-1', whipUrl: null, stages: store.localStages })
    const b = new LocalStageProvider({ region: 'eu-west-1', whipUrl: null, stages: store.localStages })
    const created = await a.createStage({ name: 'fleet-master', tags: { 'ivs-fanout:fleet': 'fleet' } })
    expect(created.arn).toMatch(/^arn:aws:ivs:eu-west-1:000000000000:stage\/[A-Za-z0-9]{12}$/)
    expect(await b.getStage(created.arn)).toEqual(created)
    expect(await b.updateStage(created.arn, { name: 'renamed' })).toEqual({ ...created, name: 'renamed' })
    expect((await a.getStage(created.arn))?.name).toBe('renamed')
    const other = await b.createStage({ name: 'untagged', tags: {} })
    expect((await a.listStages()).map((s) => s.arn).sort()).toEqual([created.arn, other.arn].sort())
    expect((await a.listStages({ tags: { 'ivs-fanout:fleet': 'fleet' } })).map((s) => s.arn)).toEqual([created.arn])
    await b.deleteStage(other.arn)
    await b.deleteStage(other.arn) // gone already: not an error
    expect(await a.getStage(other.arn)).toBeNull()
    const missing = await a.updateStage(other.arn, { name: 'x' }).catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(AppError)
    expect((missing as AppError).code).toBe('NOT_FOUND')
    expect(await a.getStage(other.arn)).toBeNull()
  })

  test('a provider made again on the same store (a restart) finds the stages, with the endpoints it is configured with now', async () => {
    const store = new MemoryStore()
    const before = new LocalStageProvider({ region: 'us-east-1', whipUrl: null, stages: store.localStages })
    const stage = await before.createStage({ name: 'm', tags: { team: 'live' } })
    // No LOCAL_WHIP_URL: the stage reports no WHIP endpoint (it carries no media).
    expect(stage.endpoints).toEqual({ whip: null, events: 'wss://global.events.live-video.net' })
    const after = new LocalStageProvider({ region: 'us-east-1', whipUrl: 'http://127.0.0.1:9/whip', stages: store.localStages })
    expect(await after.getStage(stage.arn)).toEqual({ ...stage, endpoints: { whip: 'http://127.0.0.1:9/whip', events: stage.endpoints.events } })
    // What a caller does with an answer changes nothing kept.
    const read = (await after.getStage(stage.arn))!
    read.tags.team = 'changed'
    expect((await after.getStage(stage.arn))!.tags).toEqual({ team: 'live' })
  })

  test('without a store the stages are this provider’s alone', async () => {
    const one = new LocalStageProvider({ region: 'us-east-1', whipUrl: 'https://whip.example' })
    const two = new LocalStageProvider({ region: 'us-east-1', whipUrl: 'https://whip.example' })
    const stage = await one.createStage({ name: 'x', tags: {} })
    expect(await one.getStage(stage.arn)).toEqual(stage)
    expect(await two.getStage(stage.arn)).toBeNull()
  })

  test('local stages carry no media: nobody to list (null), and every replication call is refused as needing IVS', async () => {
    const provider = new LocalStageProvider({ region: 'eu-west-1', whipUrl: 'http://127.0.0.1:9/whip' })
    const [source, destination] = [await provider.createStage({ name: 'a', tags: {} }), await provider.createStage({ name: 'b', tags: {} })]
    expect(await provider.participants()).toBeNull()
    expect(await provider.publishingParticipants()).toBeNull()
    const key = { sourceStageArn: source.arn, destinationStageArn: destination.arn, participantId: 'obs-1' }
    for (const call of [() => provider.startReplication(), () => provider.stopReplication(), () => provider.listReplicas()]) {
      const refused = await call().catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(AppError)
      expect(refused).toMatchObject({
        code: 'VALIDATION_ERROR',
        message: 'participant replication needs IVS: local stages carry no media',
        details: { reason: 'local-stages' },
      })
    }
    // Through the contract, with arguments, the same.
    const asProvider: StageProvider = provider
    await expect(asProvider.startReplication({ ...key, reconnectWindowSeconds: 0 })).rejects.toMatchObject({ code: 'VALIDATION_ERROR' })
    await expect(asProvider.stopReplication(key)).rejects.toMatchObject({ code: 'VALIDATION_ERROR' })
    await expect(asProvider.listReplicas(source.arn, 'obs-1')).rejects.toMatchObject({ code: 'VALIDATION_ERROR' })
    expect(await asProvider.participants(source.arn)).toBeNull()
  })
})
