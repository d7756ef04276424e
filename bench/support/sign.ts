import { serveCalls } from './child'

export interface SignJob {
  input: string
  seconds: number
  inFlight: number
}

const SIGN: EcdsaParams = { name: 'ECDSA', hash: 'SHA-384' }
const pair = crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, false, ['sign']) as Promise<CryptoKeyPair>

/** The crypto ceiling: ES384 signatures per second with `inFlight` WebCrypto signs pending (Bun runs them on worker threads). */
serveCalls(async ({ input, seconds, inFlight }: SignJob) => {
  const key = (await pair).privateKey
  const data = new TextEncoder().encode(input)
  let count = 0
  const started = performance.now()
  const deadline = started + seconds * 1000
  const worker = async () => {
    while (performance.now() < deadline) {
      await crypto.subtle.sign(SIGN, key, data)
      count++
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  return { perSecond: count / ((performance.now() - started) / 1000) }
})
