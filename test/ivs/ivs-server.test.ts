import { afterEach, describe, expect, test } from 'bun:test'
import { CreateStageCommand, ImportPublicKeyCommand, IVSRealTimeServiceException, ListParticipantsCommand } from '@aws-sdk/client-ivs-realtime'
import { createIvsRealTimeClient } from '../../src/ivs/aws-api'
import { generateKeyPair } from '../../src/ivs/signer'
import { TEST_CREDENTIALS } from '../support/ivs-client'
import { type IvsServer, startIvsServer } from '../support/ivs-server'

const servers: IvsServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})

async function setup() {
  const server = await startIvsServer()
  servers.push(server)
  const client = createIvsRealTimeClient({ region: server.region, endpoint: server.url, credentials: TEST_CREDENTIALS })
  return { server, client }
}

describe('the test IVS server, as the real SDK sees it', () => {
  test('ImportPublicKey and ListParticipants answer in shapes the SDK parses', async () => {
    const { server, client } = await setup()
    const { publicKeyPem } = await generateKeyPair()
    const { publicKey } = await client.send(new ImportPublicKeyCommand({ publicKeyMaterial: publicKeyPem, name: 'fleet-key' }))
    expect(publicKey!.arn).toMatch(/^arn:aws:ivs:eu-west-1:123456789012:public-key\/[A-Za-z0-9]{12}$/)
    expect(publicKey!.fingerprint).toMatch(/^([0-9a-f]{2}:){31}[0-9a-f]{2}$/)

    const stage = server.seedStage({ name: 's' })
    const listed = await client.send(new ListParticipantsCommand({ stageArn: stage.arn, sessionId: 'st-AbCdEfGhIjKlM' }))
    expect(listed.participants).toEqual([])
  })

  test('a 6th CreateStage inside one second is a 429 ThrottlingException; the SDK exposes it by name and status', async () => {
    const { server, client } = await setup()
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => client.send(new CreateStageCommand({ name: 's' }))))
    const failed = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason)
    expect(failed).toHaveLength(1)
    expect(failed[0]).toBeInstanceOf(IVSRealTimeServiceException)
    expect(failed[0].name).toBe('ThrottlingException')
    expect(failed[0].$metadata.httpStatusCode).toBe(429)
    expect(failed[0].exceptionMessage).toBe('Rate exceeded for CreateStage')
    expect(server.calls.CreateStage).toBe(6)
  })

  test('a slow operation: its calls wait operationLatencyMs, counted in flight until answered; other operations do not wait', async () => {
    const { server, client } = await setup()
    server.control.operationLatencyMs.CreateStage = 300
    const started = performance.now()
    const creating = client.send(new CreateStageCommand({ name: 'slow' }))
    await Bun.sleep(100)
    expect([server.inFlight('CreateStage'), server.stages.size]).toEqual([1, 0])
    await client.send(new ListParticipantsCommand({ stageArn: server.seedStage().arn, sessionId: 'st-AbCdEfGhIjKlM' }))
    expect(performance.now() - started).toBeLessThan(250)
    expect(server.inFlight('ListParticipants')).toBe(0)
    await creating
    expect(performance.now() - started).toBeGreaterThanOrEqual(300)
    expect(server.inFlight('CreateStage')).toBe(0)
  })

  test('records whether a request carried a SigV4 Authorization header', async () => {
    const { server, client } = await setup()
    await client.send(new CreateStageCommand({ name: 'signed' }))
    const unsigned = await fetch(`${server.url}/ListStages`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
    expect(unsigned.status).toBe(200)
    expect(server.requests.map((r) => [r.operation, r.signed])).toEqual([
      ['CreateStage', true],
      ['ListStages', false],
    ])
  })
})
