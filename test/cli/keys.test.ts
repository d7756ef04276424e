import { afterEach, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose'
import { CREATED_TAG, MANAGED_TAG } from '../../src/cli/key-policy'
import { runKeys } from '../../src/cli/keys'
import { createIvsRealTimeClient } from '../../src/ivs/aws-api'
import { generateKeyPair, importPrivateKey, SelfSignedTokenIssuer } from '../../src/ivs/signer'
import { ManualClock } from '../support/clock'
import { TEST_CREDENTIALS } from '../support/ivs-client'
import { type IvsPublicKey, type IvsServer, startIvsServer } from '../support/ivs-server'
import { BUN, bareEnv, ROOT } from '../support/process'

const NOW = Date.UTC(2026, 0, 10, 12, 0, 0)
const MIN = 60_000
const PRIVATE_KEY_IN_ENV = (await generateKeyPair()).privateKeyPem

const servers: IvsServer[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

async function setup() {
  const server = await startIvsServer()
  servers.push(server)
  const clock = new ManualClock(NOW)
  const seed = async (name: string, tags: Record<string, string> = {}) =>
    server.seedPublicKey({ publicKeyMaterial: (await generateKeyPair()).publicKeyPem, name, tags })
  /** A key `rotate` would have made `ageMin` minutes ago. */
  const managed = (ageMin: number) => {
    const iso = new Date(NOW - ageMin * MIN).toISOString().replace('.000Z', 'Z')
    return seed(`ivs-fanout-${iso.replace(/[-:]/g, '')}`, { [MANAGED_TAG]: 'true', [CREATED_TAG]: iso })
  }
  const run = async (args: string[], env: Record<string, string> = {}) => {
    let out = ''
    let err = ''
    const code = await runKeys(args, {
      env: {
        AWS_REGION: server.region,
        IVS_ENDPOINT: server.url,
        IVS_PRIVATE_KEY: PRIVATE_KEY_IN_ENV.replace(/\n/g, '\\n'),
        AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
        ...env,
      },
      clock,
      out: (t) => (out += t),
      err: (t) => (err += t),
      client: (options) => createIvsRealTimeClient({ ...options, credentials: TEST_CREDENTIALS }),
    })
    return { code, out, err }
  }
  return { server, clock, seed, managed, run }
}

/** Nothing secret: neither the configured private key, nor any PEM, nor the AWS secret key. */
function expectNoSecrets(text: string) {
  expect(text).not.toContain('PRIVATE KEY')
  expect(text).not.toContain(PRIVATE_KEY_IN_ENV.split('\n')[1]!)
  expect(text).not.toContain(TEST_CREDENTIALS.secretAccessKey)
}

const lineOf = (text: string, key: IvsPublicKey) => text.split('\n').find((l) => l.includes(key.arn)) ?? ''

describe('ivs-fanout keys list', () => {
  test('one line per key: ARN, name, age, managed or not; the key in use marked; no secret printed', async () => {
    const { managed, seed, run } = await setup()
    const manual = await seed('fleet-key')
    const old = await managed(3 * 24 * 60 + 125)
    const current = await managed(30)
    const { code, out, err } = await run(['list'], { IVS_PUBLIC_KEY_ARN: current.arn })
    expect(code).toBe(0)
    expect(out).toContain('Public keys in eu-west-1: 3 of the 3 IVS allows (longest token lifetime 20160 min)')
    expect(lineOf(out, manual)).toMatch(/^ {2}\S+ {2}name fleet-key {2}age unknown {2}not managed by ivs-fanout$/)
    expect(lineOf(out, old)).toBe(`  ${old.arn}  name ${old.name}  age 3 d 2 h  managed by ivs-fanout`)
    expect(lineOf(out, current)).toBe(`* ${current.arn}  name ${current.name}  age 30 min  managed by ivs-fanout  IN USE (IVS_PUBLIC_KEY_ARN)`)
    expect(out.split('\n').filter((l) => l.includes('IN USE'))).toHaveLength(1)
    expectNoSecrets(out + err)
  })

  test('says so when IVS_PUBLIC_KEY_ARN is not among the keys', async () => {
    const { managed, run } = await setup()
    await managed(10)
    const missing = 'arn:aws:ivs:eu-west-1:123456789012:public-key/Gone00000000'
    const { code, out } = await run(['list'], { IVS_PUBLIC_KEY_ARN: missing })
    expect(code).toBe(0)
    expect(out).not.toContain('IN USE')
    expect(out).toContain(`IVS_PUBLIC_KEY_ARN (${missing}) is not among these keys`)
  })
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keys-rotate-'))
  dirs.push(dir)
  return dir
}

/** `rotate`'s output appended to a .env, read by Bun and serve's loader: the key it names signs tokens that verify against the imported key. */
async function expectDeployable(server: IvsServer, out: string, old: IvsPublicKey | null) {
  const arn = /^IVS_PUBLIC_KEY_ARN=(\S+)$/m.exec(out)![1]!
  const imported = server.publicKeys.get(arn)!
  // Every line is a comment or one of the two settings: the output can be appended to a .env as it is.
  expect(
    out
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.split('=')[0]),
  ).toEqual(['IVS_PUBLIC_KEY_ARN', 'IVS_PRIVATE_KEY'])
  const dir = tempDir()
  writeFileSync(join(dir, '.env'), out)
  const loader = `import { loadServeConfig } from '${ROOT}/src/config/serve'
const r = loadServeConfig({ ...process.env, API_SECRET_KEY: 'k'.repeat(32) })
console.log(JSON.stringify(r.ok ? { arn: r.config.ivsPublicKeyArn, pem: r.config.ivsPrivateKeyPem } : r))`
  const proc = Bun.spawnSync([BUN, `--env-file=${join(dir, '.env')}`, '-e', loader], { cwd: dir, env: bareEnv({ IVS_PROVIDER: 'aws' }) })
  const loaded = JSON.parse(proc.stdout.toString()) as { arn: string; pem: string }
  expect(loaded.arn).toBe(arn)

  const signer = new SelfSignedTokenIssuer((await importPrivateKey(loaded.pem)).key, loaded.arn, { now: () => Date.now() })
  const stage = server.seedStage({ name: 's' })
  const { token } = await signer.issue({
    stage: { arn: stage.arn, endpoints: stage.endpoints },
    userId: 'u',
    attributes: {},
    capabilities: ['SUBSCRIBE'],
    durationMinutes: 5,
  })
  expect(decodeProtectedHeader(token).kid).toBe(arn)
  await jwtVerify(token, await importSPKI(imported.publicKeyMaterial, 'ES384'), { algorithms: ['ES384'] })
  if (old) await expect(jwtVerify(token, await importSPKI(old.publicKeyMaterial, 'ES384'))).rejects.toThrow()
  return imported
}

describe('ivs-fanout keys rotate', () => {
  test('imports a tagged key; the printed lines, read as .env by Bun and by serve’s config loader, sign tokens that verify against it', async () => {
    const { server, managed, run } = await setup()
    const old = await managed(500)
    const { code, out, err } = await run(['rotate'], { IVS_PUBLIC_KEY_ARN: old.arn })
    expect(code).toBe(0)
    expect(err).toBe('')
    const imported = await expectDeployable(server, out, old)
    expect(imported.name).toBe('ivs-fanout-20260110T120000Z')
    expect(imported.tags).toEqual({ [MANAGED_TAG]: 'true', [CREATED_TAG]: '2026-01-10T12:00:00Z' })
    expect(out).toContain(`ivs-fanout keys retire ${old.arn}`)
    expect(out).toContain('# 2. Wait the longest token lifetime (20160 min = 14 d 0 h: the longest durationMinutes POST /api/token/publisher accepts')
    expect(out).toContain('the wait counts from when every server was signing with the new key; its import time is only a lower bound')
    expect(out).toContain('--private-key-file PATH')
  })

  test('--token-minutes: the wait printed is the one stated', async () => {
    const { run } = await setup()
    const { code, out } = await run(['rotate', '--token-minutes', '480'])
    expect(code).toBe(0)
    expect(out).toContain('# 2. Wait the longest token lifetime (480 min = 8 h 0 min: --token-minutes)')
  })

  test('--private-key-file: the PEM in a new file of mode 0600, IVS_PRIVATE_KEY=PATH printed instead of it, and serve reads it', async () => {
    const { server, managed, run } = await setup()
    const old = await managed(500)
    const path = join(tempDir(), 'ivs-key.pem')
    const { code, out, err } = await run(['rotate', '--private-key-file', path], { IVS_PUBLIC_KEY_ARN: old.arn })
    expect(code).toBe(0)
    expect(err).toBe('')
    expect(out).toContain(`\nIVS_PRIVATE_KEY=${path}\n`)
    expect(out).not.toContain('PRIVATE KEY')
    expect(out).not.toContain('BEGIN')
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const pem = readFileSync(path, 'utf8')
    expect(pem).toStartWith('-----BEGIN PRIVATE KEY-----\n')
    for (const line of pem.split('\n').filter((l) => l.length > 20)) expect(out).not.toContain(line)
    await expectDeployable(server, out, old)
  })

  test('--private-key-file refused before IVS is called: an existing file (left as it was), an unwritable path; nothing imported, nothing left', async () => {
    const { server, run } = await setup()
    const dir = tempDir()
    const existing = join(dir, 'in-use.pem')
    writeFileSync(existing, 'the key in use')
    const taken = await run(['rotate', '--private-key-file', existing])
    expect(taken.code).toBe(1)
    expect(taken.err).toContain(`--private-key-file ${existing} exists, and a key file is never overwritten`)
    expect(taken.err).toContain('nothing was imported')
    expect(readFileSync(existing, 'utf8')).toBe('the key in use')
    const nowhere = join(dir, 'no-such-dir', 'key.pem')
    const unwritable = await run(['rotate', '--private-key-file', nowhere])
    expect(unwritable.code).toBe(1)
    expect(unwritable.err).toContain(`--private-key-file ${nowhere} cannot be created (ENOENT)`)
    expect(existsSync(nowhere)).toBe(false)
    for (const r of [taken, unwritable]) expect(r.out).toBe('')
    expect(server.requests).toHaveLength(0)
    expect(server.publicKeys.size).toBe(0)
  })

  test('--private-key-file and a rotation refused or failed at IVS: the file is removed', async () => {
    const { server, managed, run } = await setup()
    await managed(900)
    await managed(20)
    const dir = tempDir()
    server.control.failNext('ImportPublicKey', 'InternalServerException', 1, 'IVS is down')
    const failed = await run(['rotate', '--private-key-file', join(dir, 'a.pem')])
    expect(failed.code).toBe(1)
    expect(existsSync(join(dir, 'a.pem'))).toBe(false)
    await managed(10)
    const refused = await run(['rotate', '--private-key-file', join(dir, 'b.pem')])
    expect(refused.code).toBe(1)
    expect(refused.err).toContain('rotate refused: IVS allows 3 public keys')
    expect(existsSync(join(dir, 'b.pem'))).toBe(false)
    expect(server.publicKeys.size).toBe(3)
  })

  test('refused at 3 keys, naming the quota and the keys; nothing imported, no key printed', async () => {
    const { server, managed, seed, run } = await setup()
    const keys = [await seed('fleet-key'), await managed(900), await managed(20)]
    const { code, out, err } = await run(['rotate'], { IVS_PUBLIC_KEY_ARN: keys[2]!.arn })
    expect(code).toBe(1)
    expect(out).toBe('')
    expect(err).toContain('rotate refused: IVS allows 3 public keys per Region (a fixed quota) and eu-west-1 has 3')
    for (const key of keys) expect(err).toContain(key.arn)
    expect(server.calls.ImportPublicKey).toBe(0)
    expect(server.publicKeys.size).toBe(3)
    expectNoSecrets(out + err)
  })

  test('a 402 from ImportPublicKey (another rotation took the last slot) is refused the same way, no key printed', async () => {
    const { server, managed, run } = await setup()
    await managed(900)
    await managed(20)
    server.control.failNext('ImportPublicKey', 'ServiceQuotaExceededException', 1, 'Exceeded the quota of 3 public keys')
    const { code, out, err } = await run(['rotate'])
    expect(code).toBe(1)
    expect(out).toBe('')
    expect(err).toContain('rotate refused:')
    expect(err).toContain('quota')
    expect(server.publicKeys.size).toBe(2)
    expectNoSecrets(out + err)
  })
})

describe('ivs-fanout keys retire', () => {
  test('refuses the key in use, even with --force', async () => {
    const { server, managed, run } = await setup()
    await managed(10_000)
    const current = await managed(5_000)
    for (const args of [
      ['retire', current.arn],
      ['retire', '--force', current.arn],
    ]) {
      const { code, err } = await run(args, { IVS_PUBLIC_KEY_ARN: current.arn })
      expect(code).toBe(1)
      expect(err).toContain(`${current.arn} is the key in use (IVS_PUBLIC_KEY_ARN)`)
    }
    expect(server.publicKeys.has(current.arn)).toBe(true)
    expect(server.calls.DeletePublicKey).toBe(0)
  })

  test('refuses a key whose successor is younger than the token lifetime; --force deletes it; no secret printed', async () => {
    const { server, managed, run } = await setup()
    const old = await managed(10_000)
    const current = await managed(100)
    const refused = await run(['retire', old.arn], { IVS_PUBLIC_KEY_ARN: current.arn })
    expect(refused.code).toBe(1)
    expect(refused.err).toContain(`its successor ${current.arn} is 1 h 40 min old, younger than the longest token lifetime (20160 min`)
    expect(server.publicKeys.has(old.arn)).toBe(true)

    const forced = await run(['retire', old.arn, '--force'], { IVS_PUBLIC_KEY_ARN: current.arn })
    expect(forced.code).toBe(0)
    expect(forced.out).toBe(`Retired ${old.arn} (--force: its age was not checked): IVS no longer accepts tokens signed with it.\n`)
    expect(server.publicKeys.has(old.arn)).toBe(false)
    expectNoSecrets(refused.out + refused.err + forced.out + forced.err)
  })

  test('by default waits out the longest lifetime a token can be issued with (14 days), not the configured TTLs: a 14-day publisher token signed with the old key still joins', async () => {
    const { server, clock, managed, run } = await setup()
    const old = await managed(30 * 24 * 60)
    const current = await managed(241)
    const env = { IVS_PUBLIC_KEY_ARN: current.arn }
    const refused = await run(['retire', old.arn], env)
    expect(refused.code).toBe(1)
    expect(refused.err).toContain(
      'younger than the longest token lifetime (20160 min = 14 d 0 h: the longest durationMinutes POST /api/token/publisher accepts',
    )
    expect(refused.err).toContain(`until ${new Date(NOW - 241 * MIN + 20160 * MIN).toISOString()} at the earliest`)
    expect(refused.err).toContain('the wait counts from when every server was signing with the new key; its import time is only a lower bound for that')
    expect(server.publicKeys.has(old.arn)).toBe(true)
    clock.advance((20160 - 241) * MIN)
    const retired = await run(['retire', old.arn], env)
    expect(retired.code).toBe(0)
    expect(retired.out).toContain(`Retired ${old.arn}: IVS no longer accepts tokens signed with it.`)
    expect(retired.out).toContain('the wait counts from when every server was signing with the new key')
  })

  test('--token-minutes N: the longest lifetime the callers use, waited out instead; never below PUBLISHER_TOKEN_TTL_MIN or VIEWER_TOKEN_TTL_MIN', async () => {
    const { server, clock, managed, run } = await setup()
    const old = await managed(10_000)
    const current = await managed(100)
    const env = { IVS_PUBLIC_KEY_ARN: current.arn, PUBLISHER_TOKEN_TTL_MIN: '90', VIEWER_TOKEN_TTL_MIN: '120' }
    const early = await run(['retire', old.arn, '--token-minutes', '120'], env)
    expect(early.code).toBe(1)
    expect(early.err).toContain('younger than the longest token lifetime (120 min = 2 h 0 min: --token-minutes)')
    const below = await run(['retire', old.arn, '--token-minutes=119'], env)
    expect(below.code).toBe(2)
    expect(below.err).toContain(
      '--token-minutes 119 is shorter than the tokens serve issues by default (PUBLISHER_TOKEN_TTL_MIN 90, VIEWER_TOKEN_TTL_MIN 120): give at least 120',
    )
    expect(below.err).toContain('Usage: ivs-fanout keys')
    clock.advance(20 * MIN)
    const { code, out, err } = await run(['retire', '--token-minutes', '120', old.arn], env)
    expect({ code, err }).toEqual({ code: 0, err: '' })
    expect(out).toBe(
      `Retired ${old.arn}: IVS no longer accepts tokens signed with it. Its successor was imported longer ago than the longest token lifetime (120 min = 2 h 0 min: --token-minutes); the wait counts from when every server was signing with the new key; its import time is only a lower bound for that.\n`,
    )
    expect(server.publicKeys.has(old.arn)).toBe(false)
    expect(server.publicKeys.has(current.arn)).toBe(true)
  })

  test('an unknown ARN: a clear error with the Region’s keys; a malformed one or another Region’s: usage, exit 2; nothing deleted', async () => {
    const { server, managed, run } = await setup()
    const current = await managed(100)
    const unknown = 'arn:aws:ivs:eu-west-1:123456789012:public-key/Unknown00000'
    const missing = await run(['retire', unknown], { IVS_PUBLIC_KEY_ARN: current.arn })
    expect(missing.code).toBe(1)
    expect(missing.err).toContain(`IVS has no public key ${unknown} (unknown ARN)`)
    expect(missing.err).toContain(current.arn)

    const malformed = await run(['retire', 'arn:aws:ivs:eu-west-1:123456789012:stage/AbCdEf123456'])
    expect(malformed.code).toBe(2)
    expect(malformed.err).toContain('is not an IVS public key ARN')
    expect(malformed.err).toContain('Usage: ivs-fanout keys')

    const elsewhere = await run(['retire', 'arn:aws:ivs:us-west-2:123456789012:public-key/AbCdEf123456'])
    expect(elsewhere.code).toBe(2)
    expect(elsewhere.err).toContain('is a key of us-west-2, but AWS_REGION is eu-west-1')
    expect(server.calls.DeletePublicKey).toBe(0)
    expect(server.publicKeys.size).toBe(1)
  })
})

describe('ivs-fanout keys: arguments and configuration', () => {
  test('bad arguments print the usage and exit 2 without calling IVS; bad configuration exits 2 too', async () => {
    const { server, run } = await setup()
    for (const args of [
      [],
      ['nope'],
      ['list', 'extra'],
      ['rotate', '--force'],
      ['retire'],
      ['retire', '--yes', 'x'],
      ['retire', 'a', 'b'],
      ['list', '--token-minutes'],
      ['list', '--token-minutes', 'soon'],
      ['list', '--token-minutes', '20161'],
      ['rotate', '--private-key-file'],
      ['list', '--private-key-file', 'k.pem'],
      ['rotate', '--private-key-file', 'a.pem', '--private-key-file', 'b.pem'],
    ]) {
      const { code, err } = await run(args)
      expect(code).toBe(2)
      expect(err).toContain('Usage: ivs-fanout keys')
    }
    const help = await run(['--help'])
    expect(help.code).toBe(0)
    expect(help.out).toContain('Usage: ivs-fanout keys')
    const bad = await run(['list'], { PUBLISHER_TOKEN_TTL_MIN: 'soon', IVS_PUBLIC_KEY_ARN: 'nope' })
    expect(bad.code).toBe(2)
    expect(bad.err).toContain('PUBLISHER_TOKEN_TTL_MIN must be a whole number')
    expect(bad.err).toContain('IVS_PUBLIC_KEY_ARN must be an IVS public key ARN')
    expect(server.requests).toHaveLength(0)
  })
})
