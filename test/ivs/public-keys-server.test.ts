import { afterEach, describe, expect, test } from 'bun:test'
import {
  DeletePublicKeyCommand,
  GetPublicKeyCommand,
  ImportPublicKeyCommand,
  IVSRealTimeServiceException,
  ListPublicKeysCommand,
  ResourceNotFoundException,
  ServiceQuotaExceededException,
  ValidationException,
} from '@aws-sdk/client-ivs-realtime'
import { createIvsRealTimeClient } from '../../src/ivs/aws-api'
import { generateKeyPair } from '../../src/ivs/signer'
import { TEST_CREDENTIALS } from '../support/ivs-client'
import { type IvsServer, type IvsServerOptions, startIvsServer } from '../support/ivs-server'

const servers: IvsServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})

async function setup(options: IvsServerOptions = {}) {
  const server = await startIvsServer(options)
  servers.push(server)
  const client = createIvsRealTimeClient({ region: server.region, endpoint: server.url, credentials: TEST_CREDENTIALS })
  return { server, client }
}

const pem = async () => (await generateKeyPair()).publicKeyPem

async function failure(promise: Promise<unknown>): Promise<IVSRealTimeServiceException> {
  try {
    await promise
  } catch (error) {
    if (error instanceof IVSRealTimeServiceException) return error
    throw error
  }
  throw new Error('the call succeeded')
}

describe('the test IVS server: public keys, as the real SDK sees them', () => {
  test('ImportPublicKey then GetPublicKey: arn, name, material, fingerprint and tags', async () => {
    const { client } = await setup()
    const material = await pem()
    const tags = { 'ivs-fanout:managed': 'true', 'ivs-fanout:created': '2025-01-02T03:04:05Z' }
    const { publicKey } = await client.send(new ImportPublicKeyCommand({ publicKeyMaterial: material, name: 'ivs-fanout-20250102T030405Z', tags }))
    const got = (await client.send(new GetPublicKeyCommand({ arn: publicKey!.arn! }))).publicKey!
    expect(got).toEqual({ arn: publicKey!.arn, name: 'ivs-fanout-20250102T030405Z', publicKeyMaterial: material, fingerprint: publicKey!.fingerprint, tags })
    expect(got.fingerprint).toMatch(/^([0-9a-f]{2}:){31}[0-9a-f]{2}$/)
  })

  test('a 4th ImportPublicKey is a 402 ServiceQuotaExceededException and imports nothing', async () => {
    const { server, client } = await setup()
    for (let i = 0; i < 3; i++) await client.send(new ImportPublicKeyCommand({ publicKeyMaterial: await pem() }))
    const error = await failure(client.send(new ImportPublicKeyCommand({ publicKeyMaterial: await pem() })))
    expect(error).toBeInstanceOf(ServiceQuotaExceededException)
    expect(error.$metadata.httpStatusCode).toBe(402)
    expect(server.publicKeys.size).toBe(3)
    expect(() => server.seedPublicKey({ publicKeyMaterial: 'x' })).toThrow(/3 public keys/)
  })

  test('after DeletePublicKey a key can be imported again; GetPublicKey and DeletePublicKey of a deleted key are 404', async () => {
    const { server, client } = await setup()
    const arns: string[] = []
    for (let i = 0; i < 3; i++) arns.push((await client.send(new ImportPublicKeyCommand({ publicKeyMaterial: await pem() }))).publicKey!.arn!)
    await client.send(new DeletePublicKeyCommand({ arn: arns[0]! }))
    expect([...server.publicKeys.keys()]).toEqual(arns.slice(1))
    const deleted = await failure(client.send(new GetPublicKeyCommand({ arn: arns[0]! })))
    expect(deleted).toBeInstanceOf(ResourceNotFoundException)
    expect(deleted.$metadata.httpStatusCode).toBe(404)
    expect(await failure(client.send(new DeletePublicKeyCommand({ arn: arns[0]! })))).toBeInstanceOf(ResourceNotFoundException)
    await client.send(new ImportPublicKeyCommand({ publicKeyMaterial: await pem() }))
    expect(server.publicKeys.size).toBe(3)
  })

  test('ListPublicKeys pages with maxResults and nextToken; summaries carry arn, name and tags only', async () => {
    const { server, client } = await setup()
    const seeded = []
    for (let i = 0; i < 3; i++) seeded.push(server.seedPublicKey({ publicKeyMaterial: await pem(), name: `k${i}`, tags: { n: String(i) } }))
    const first = await client.send(new ListPublicKeysCommand({ maxResults: 2 }))
    expect(first.publicKeys).toEqual(seeded.slice(0, 2).map(({ arn, name, tags }) => ({ arn, name, tags })))
    expect(first.nextToken).toBeString()
    const second = await client.send(new ListPublicKeysCommand({ maxResults: 2, nextToken: first.nextToken }))
    expect(second.publicKeys!.map((k) => k.name)).toEqual(['k2'])
    expect(second.nextToken).toBeUndefined()
    const all = await client.send(new ListPublicKeysCommand({}))
    expect(all.publicKeys).toHaveLength(3)
    expect(all.nextToken).toBeUndefined()
  })

  test('requests outside the model are 400 ValidationException', async () => {
    const { client } = await setup()
    const material = await pem()
    const invalid = [
      client.send(new ImportPublicKeyCommand({ publicKeyMaterial: 'not a key' })),
      client.send(new ImportPublicKeyCommand({ publicKeyMaterial: material, name: 'has spaces' })),
      client.send(new ImportPublicKeyCommand({ publicKeyMaterial: material, name: 'x'.repeat(129) })),
      client.send(new ImportPublicKeyCommand({ publicKeyMaterial: material, tags: { 'aws:reserved': 'x' } })),
      client.send(new GetPublicKeyCommand({ arn: 'arn:aws:ivs:eu-west-1:123456789012:stage/abcdABCD1234' })),
      client.send(new DeletePublicKeyCommand({ arn: 'not-an-arn' })),
      client.send(new ListPublicKeysCommand({ maxResults: 101 })),
      client.send(new ListPublicKeysCommand({ nextToken: 'bm90IGEgdG9rZW4' })),
    ]
    for (const call of invalid) {
      const error = await failure(call)
      expect(error).toBeInstanceOf(ValidationException)
      expect(error.$metadata.httpStatusCode).toBe(400)
    }
  })
})
