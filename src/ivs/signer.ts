import { createPrivateKey, createPublicKey } from 'node:crypto'
import type { Clock } from '../clock'
import { randomAlphanumeric } from '../ids'
import { stageIdOf } from './arn'
import type { IssuedToken, TokenIssuer, TokenRequest } from './types'

const ES384: EcKeyImportParams = { name: 'ECDSA', namedCurve: 'P-384' }
const SIGN: EcdsaParams = { name: 'ECDSA', hash: 'SHA-384' }

export interface KeyPairPem {
  privateKeyPem: string
  publicKeyPem: string
}

export async function generateKeyPair(): Promise<KeyPairPem> {
  const pair = (await crypto.subtle.generateKey(ES384, true, ['sign', 'verify'])) as CryptoKeyPair
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', pair.privateKey))
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', pair.publicKey))
  return { privateKeyPem: toPem('PRIVATE KEY', pkcs8), publicKeyPem: toPem('PUBLIC KEY', spki) }
}

/** Accepts PKCS#8 or SEC1 ("EC PRIVATE KEY", as openssl writes) PEM; rejects anything but P-384. */
export async function importPrivateKey(pem: string): Promise<{ key: CryptoKey; publicKeyPem: string }> {
  const keyObject = createPrivateKey(pem)
  if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    throw new Error('IVS_PRIVATE_KEY must be an EC P-384 (secp384r1) private key')
  }
  const der = keyObject.export({ format: 'der', type: 'pkcs8' })
  const key = await crypto.subtle.importKey('pkcs8', der, ES384, false, ['sign'])
  const publicKeyPem = createPublicKey(keyObject).export({ format: 'pem', type: 'spki' }).toString()
  return { key, publicKeyPem }
}

function toPem(label: string, der: Buffer): string {
  const body = der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`
}

const b64url = (data: string | Uint8Array | ArrayBuffer) =>
  Buffer.from(typeof data === 'string' ? data : data instanceof ArrayBuffer ? new Uint8Array(data) : data).toString('base64url')

/**
 * IVS self-signed participant tokens (ES384 JWT). Signing uses WebCrypto's asynchronous
 * sign, which Bun runs off the main thread, so a burst of viewers never blocks the event loop.
 */
export class SelfSignedTokenIssuer implements TokenIssuer {
  readonly strategy = 'self-signed' as const
  private readonly encodedHeader: string

  constructor(
    private readonly key: CryptoKey,
    readonly keyId: string,
    private readonly clock: Clock,
  ) {
    this.encodedHeader = b64url(JSON.stringify({ alg: 'ES384', typ: 'JWT', kid: keyId }))
  }

  async issue(request: TokenRequest): Promise<IssuedToken> {
    const participantId = request.participantId ?? randomAlphanumeric(12)
    const iat = Math.floor(this.clock.now() / 1000)
    const exp = iat + request.durationMinutes * 60
    const claims: Record<string, unknown> = {
      exp,
      iat,
      jti: participantId,
      resource: request.stage.arn,
      topic: stageIdOf(request.stage.arn),
      events_url: request.stage.endpoints.events,
      capabilities: {
        allow_publish: request.capabilities.includes('PUBLISH'),
        allow_subscribe: request.capabilities.includes('SUBSCRIBE'),
      },
      version: '1.0',
    }
    // A stage that carries no media (a local one without LOCAL_WHIP_URL) has no WHIP URL to name.
    if (request.stage.endpoints.whip !== null) claims.whip_url = request.stage.endpoints.whip
    if (request.userId) claims.user_id = request.userId
    if (Object.keys(request.attributes).length > 0) claims.attributes = request.attributes
    const signingInput = `${this.encodedHeader}.${b64url(JSON.stringify(claims))}`
    const signature = await crypto.subtle.sign(SIGN, this.key, new TextEncoder().encode(signingInput))
    return {
      token: `${signingInput}.${b64url(signature)}`,
      participantId,
      expirationTime: new Date(exp * 1000).toISOString(),
    }
  }
}
