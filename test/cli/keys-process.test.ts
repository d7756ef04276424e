import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '../../src/ivs/signer'
import { TEST_CREDENTIALS } from '../support/ivs-client'
import { type IvsServer, startIvsServer } from '../support/ivs-server'
import { BUN, bareEnv, ROOT } from '../support/process'

let server: IvsServer
beforeAll(async () => {
  server = await startIvsServer()
})
afterAll(() => server.stop())

async function keys(args: string[], env: Record<string, string> = {}, umask?: string) {
  const command = [BUN, 'src/main.ts', 'keys', ...args]
  // A umask is set by a shell that then becomes the command.
  const argv = umask === undefined ? command : ['/bin/sh', '-c', `umask ${umask} && exec "$@"`, 'sh', ...command]
  const proc = Bun.spawn(argv, {
    cwd: ROOT,
    stdout: 'pipe',
    stderr: 'pipe',
    // The endpoint as the SDK reads it for ivs-realtime (no IVS_ENDPOINT), credentials from the environment.
    env: bareEnv({
      AWS_REGION: server.region,
      AWS_ENDPOINT_URL_IVS_REALTIME: server.url,
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    }),
  })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, out, err }
}

describe('ivs-fanout keys as a process', () => {
  test('rotate, list, retire against the endpoint named by AWS_ENDPOINT_URL_IVS_REALTIME; list and retire print no secret', async () => {
    const inEnv = (await generateKeyPair()).privateKeyPem.replace(/\n/g, '\\n')
    const rotated = await keys(['rotate'])
    expect(rotated.code).toBe(0)
    const arn = /^IVS_PUBLIC_KEY_ARN=(\S+)$/m.exec(rotated.out)![1]!
    expect(server.publicKeys.has(arn)).toBe(true)
    expect(rotated.out).toMatch(/^IVS_PRIVATE_KEY='-----BEGIN PRIVATE KEY-----\\n[^']+\\n-----END PRIVATE KEY-----\\n'$/m)

    const listed = await keys(['list'], { IVS_PUBLIC_KEY_ARN: arn, IVS_PRIVATE_KEY: inEnv })
    expect(listed.code).toBe(0)
    expect(listed.out).toContain(`* ${arn}  name ivs-fanout-`)
    expect(listed.out).toContain('age < 1 min  managed by ivs-fanout  IN USE (IVS_PUBLIC_KEY_ARN)')

    const retired = await keys(['retire', arn], { IVS_PUBLIC_KEY_ARN: arn, IVS_PRIVATE_KEY: inEnv })
    expect(retired.code).toBe(1)
    expect(retired.err).toContain('is the key in use')

    for (const { out, err } of [listed, retired]) {
      expect(out + err).not.toContain('PRIVATE KEY')
      expect(out + err).not.toContain(inEnv.slice(40, 80))
      expect(out + err).not.toContain(TEST_CREDENTIALS.secretAccessKey)
    }
    expect(server.requests.every((r) => r.signed)).toBe(true)
  })

  test('rotate --private-key-file under umask 000: the file is still 0600, only its path printed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keys-process-'))
    try {
      const path = join(dir, 'ivs.pem')
      const rotated = await keys(['rotate', '--private-key-file', path], {}, '000')
      expect(rotated.code).toBe(0)
      expect(statSync(path).mode & 0o777).toBe(0o600)
      expect(readFileSync(path, 'utf8')).toContain('-----BEGIN PRIVATE KEY-----')
      expect(rotated.out).toContain(`\nIVS_PRIVATE_KEY=${path}\n`)
      expect(rotated.out + rotated.err).not.toContain('PRIVATE KEY-----')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('bad arguments: the usage on stderr, exit 2', async () => {
    const { code, out, err } = await keys(['retire'])
    expect(code).toBe(2)
    expect(out).toBe('')
    expect(err).toContain('Usage: ivs-fanout keys')
  })
})
