import { randomAlphanumeric } from '../../../src/ids'
import { type Body, IvsError, optionalString, page, requiredString, stringMap, validTags } from './input'

/**
 * The test IVS server's public keys (for self-signed participant tokens), as the ivs-realtime API
 * reference and model state them:
 *
 * - ImportPublicKey: `publicKeyMaterial` must match the model's PublicKeyMaterial pattern (a PEM
 *   `PUBLIC KEY` block), `name` the PublicKeyName pattern `[a-zA-Z0-9-_]*` (≤ 128), tags ≤ 50 (keys
 *   1–128, values ≤ 256, no `aws:` prefix); 402 ServiceQuotaExceededException past the account's
 *   quota (3 per Region, fixed). The answer is the PublicKey: arn, name, publicKeyMaterial,
 *   fingerprint, tags.
 * - GetPublicKey / DeletePublicKey: `arn` must match the PublicKeyArn pattern (else 400), 404
 *   ResourceNotFoundException for a key that is not there.
 * - ListPublicKeys: PublicKeySummary (arn, name, tags; no material, no fingerprint), maxResults
 *   1–100 (default 50), an opaque `nextToken` (PaginationToken pattern, ≤ 1024; one this server did
 *   not issue is a 400).
 *
 * Not documented, so not modelled: IVS keeps no creation time it reports (no field in any answer);
 * the model lists ConflictException for ImportPublicKey and DeletePublicKey without saying when, so
 * this server never answers it: a key still used to sign tokens is deleted like any other (IVS does
 * not know which key signs; it checks a token only when it is used to join). The fingerprint is this
 * server's own (SHA-256 of the PEM text, colon-separated hex); AWS does not document how it is made.
 */
export const PUBLIC_KEY_ARN = /^arn:aws:ivs:[a-z0-9-]+:[0-9]+:public-key\/[a-zA-Z0-9-]+$/
export const PUBLIC_KEY_NAME = /^[a-zA-Z0-9-_]*$/
export const PUBLIC_KEY_MATERIAL = /-----BEGIN PUBLIC KEY-----\r?\n([a-zA-Z0-9+/=\r\n]+)\r?\n-----END PUBLIC KEY-----(\r?\n)?/

export interface IvsPublicKey {
  arn: string
  name: string
  publicKeyMaterial: string
  fingerprint: string
  tags: Record<string, string>
}

export function createPublicKeyModel(options: { region: string; accountId: string; maxPublicKeys: number }) {
  const keys = new Map<string, IvsPublicKey>()

  const add = (material: string, name: string, tags: Record<string, string>): IvsPublicKey => {
    const key: IvsPublicKey = {
      arn: `arn:aws:ivs:${options.region}:${options.accountId}:public-key/${randomAlphanumeric(12)}`,
      name,
      publicKeyMaterial: material,
      fingerprint: new Bun.CryptoHasher('sha256')
        .update(material)
        .digest('hex')
        .replace(/(..)(?!$)/g, '$1:'),
      tags,
    }
    keys.set(key.arn, key)
    return key
  }

  const existing = (body: Body): IvsPublicKey => {
    const arn = requiredString(body, 'arn', 128, PUBLIC_KEY_ARN)
    const key = keys.get(arn)
    if (!key) throw new IvsError('ResourceNotFoundException', `Resource ${arn} not found`)
    return key
  }

  const handlers = {
    ImportPublicKey(body: Body) {
      const material = requiredString(body, 'publicKeyMaterial', Number.POSITIVE_INFINITY)
      if (!PUBLIC_KEY_MATERIAL.test(material)) throw new IvsError('ValidationException', 'publicKeyMaterial must be a PEM public key')
      const name = optionalString(body, 'name', 128, PUBLIC_KEY_NAME) ?? ''
      const tags = stringMap(body, 'tags', validTags)
      if (keys.size >= options.maxPublicKeys) {
        throw new IvsError('ServiceQuotaExceededException', `Exceeded the quota of ${options.maxPublicKeys} public keys`)
      }
      return { publicKey: add(material, name, tags) }
    },
    GetPublicKey(body: Body) {
      return { publicKey: existing(body) }
    },
    ListPublicKeys(body: Body) {
      const { items, nextToken } = page([...keys.values()], body, 50, 100)
      return { publicKeys: items.map(({ arn, name, tags }) => ({ arn, name, tags })), nextToken }
    },
    DeletePublicKey(body: Body) {
      keys.delete(existing(body).arn)
      return {}
    },
  }

  return {
    handlers,
    keys,
    /** Puts a key in place without a call (fast setup); the quota holds here too. */
    seed(input: { publicKeyMaterial: string; name?: string; tags?: Record<string, string> }): IvsPublicKey {
      if (keys.size >= options.maxPublicKeys) throw new Error(`the account already holds ${options.maxPublicKeys} public keys`)
      return add(input.publicKeyMaterial, input.name ?? '', input.tags ?? {})
    },
  }
}
