import { describe, expect, test } from 'bun:test'
import { execFileSync } from 'node:child_process'
import { importPrivateKey } from '../../src/ivs/signer'
import { requireTool } from '../setup/system-tools'

/** The signer takes the keys operators make with openssl (the rest of the signer's tests need no tools: signer.test.ts). */
describe('ES384 self-signed participant tokens: keys made with openssl', () => {
  test('imports an openssl SEC1 P-384 key, and refuses other curves', async () => {
    const openssl = requireTool('openssl')
    const sec1 = execFileSync(openssl, ['ecparam', '-name', 'secp384r1', '-genkey', '-noout'], { encoding: 'utf8' })
    expect(sec1).toContain('BEGIN EC PRIVATE KEY')
    const { publicKeyPem } = await importPrivateKey(sec1)
    expect(publicKeyPem).toContain('BEGIN PUBLIC KEY')
    const p256 = execFileSync(openssl, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout'], { encoding: 'utf8' })
    await expect(importPrivateKey(p256)).rejects.toThrow('P-384')
  })
})
