import { DeletePublicKeyCommand, ImportPublicKeyCommand, ListPublicKeysCommand } from '@aws-sdk/client-ivs-realtime'
import type { IvsRealTimeApi } from './aws-api'

/** A public key as ListPublicKeys reports it (IVS reports no creation time). */
export interface PublicKeySummary {
  arn: string
  name: string
  tags: Record<string, string>
}

/** ImportPublicKey (and GetPublicKey) also report the material and its fingerprint. */
export interface PublicKeyDetail extends PublicKeySummary {
  publicKeyMaterial: string
  fingerprint: string
}

const PAGE_SIZE = 100

/**
 * The account's public keys for self-signed participant tokens (ImportPublicKey, ListPublicKeys,
 * DeletePublicKey), through IvsRealTimeApi's pacing and error mapping: an unknown
 * key is NOT_FOUND, the 3-key quota CAPACITY_EXHAUSTED. Import and delete are tried once: a retry
 * after an answer that got lost would import a second key, or report a deleted key as not found.
 */
export class IvsPublicKeys {
  constructor(private readonly api: IvsRealTimeApi) {}

  async list(): Promise<PublicKeySummary[]> {
    const keys: PublicKeySummary[] = []
    let nextToken: string | undefined
    do {
      const token = nextToken
      const page = await this.api.call('ListPublicKeys', (abortSignal) =>
        this.api.client.send(new ListPublicKeysCommand({ maxResults: PAGE_SIZE, nextToken: token }), { abortSignal }),
      )
      for (const key of page.publicKeys ?? []) keys.push(summary(key))
      nextToken = page.nextToken || undefined
    } while (nextToken)
    return keys
  }

  async import(input: { publicKeyMaterial: string; name: string; tags: Record<string, string> }): Promise<PublicKeyDetail> {
    const answer = await this.api.call('ImportPublicKey', (abortSignal) => this.api.client.send(new ImportPublicKeyCommand(input), { abortSignal }), {
      maxAttempts: 1,
      expected: ['CAPACITY_EXHAUSTED'],
    })
    return detail(answer.publicKey)
  }

  async delete(arn: string): Promise<void> {
    await this.api.call('DeletePublicKey', (abortSignal) => this.api.client.send(new DeletePublicKeyCommand({ arn }), { abortSignal }), {
      subject: `public key ${arn}`,
      maxAttempts: 1,
    })
  }
}

type Answered = { arn?: string; name?: string; tags?: Record<string, string>; publicKeyMaterial?: string; fingerprint?: string } | undefined

function summary(key: NonNullable<Answered>): PublicKeySummary {
  return { arn: key.arn ?? '', name: key.name ?? '', tags: key.tags ?? {} }
}

function detail(key: Answered): PublicKeyDetail {
  if (!key?.arn) throw new Error('IVS answered without the public key')
  return { ...summary(key), publicKeyMaterial: key.publicKeyMaterial ?? '', fingerprint: key.fingerprint ?? '' }
}
