import { afterAll, describe, expect, test } from 'bun:test'
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireTool } from '../setup/system-tools'
import { run } from '../support/containers'
import { beforeAllOrFail } from '../support/hooks'

const UNIT = join(import.meta.dir, '..', '..', 'docs', 'ivs-fanout@.service')

/**
 * The systemd unit, checked by systemd itself: `systemd-analyze verify` (Debian's systemd package)
 * in a scratch root holding the unit, the executable's path and systemd's own targets, for both
 * instances; and its `systemd-analyze security` exposure. Fails (never skips) without systemd-analyze.
 */
describe('the systemd unit (docs/ivs-fanout@.service)', () => {
  let root = ''
  beforeAllOrFail(() => {
    requireTool('systemd-analyze')
    root = mkdtempSync(join(tmpdir(), 'ivsf-systemd-'))
    mkdirSync(join(root, 'usr/local/bin'), { recursive: true })
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true })
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true })
    // verify checks that ExecStart is executable; what it runs is tested elsewhere (binary-smoke).
    writeFileSync(join(root, 'usr/local/bin/ivs-fanout'), '#!/bin/sh\n')
    chmodSync(join(root, 'usr/local/bin/ivs-fanout'), 0o755)
    cpSync(UNIT, join(root, 'etc/systemd/system/ivs-fanout@.service'))
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true })
  })
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true })
  })

  test('systemd-analyze verify passes for both instances, with nothing to say', async () => {
    const verify = await run(['systemd-analyze', 'verify', `--root=${root}`, 'ivs-fanout@serve.service', 'ivs-fanout@relay.service'])
    expect({ code: verify.code, output: (verify.stdout + verify.stderr).trim() }).toEqual({ code: 0, output: '' })
  })

  test('a broken unit is caught (so the check above can fail)', async () => {
    writeFileSync(join(root, 'etc/systemd/system/broken@.service'), '[Service]\nExecStart=/usr/local/bin/missing %i\nKillSignal=SIGWHAT\n')
    const verify = await run(['systemd-analyze', 'verify', `--root=${root}`, 'broken@serve.service'])
    expect(verify.code).not.toBe(0)
  })

  test('the documented hardening set is there, and the exposure is low', async () => {
    const unit = readFileSync(UNIT, 'utf8')
    for (const line of [
      'DynamicUser=yes',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'PrivateTmp=yes',
      'CacheDirectory=ivs-fanout-%i',
      'Environment=BUN_TMPDIR=/var/cache/ivs-fanout-%i NODE_ENV=production',
      'KillSignal=SIGTERM',
      'RestartPreventExitStatus=2',
      'CapabilityBoundingSet=',
    ]) {
      expect(unit.split('\n')).toContain(line)
    }
    // The addon must be unpacked where exec is allowed: not /run or /dev/shm (noexec on Debian and Ubuntu).
    expect(unit).not.toMatch(/BUN_TMPDIR=\/(run|dev\/shm)\//)
    const security = await run(['systemd-analyze', 'security', '--offline=true', `--root=${root}`, 'ivs-fanout@serve.service'])
    const exposure = Number(security.stdout.match(/Overall exposure level for \S+: ([\d.]+)/)?.[1])
    console.log(`systemd-analyze security: exposure ${exposure} (0 = locked down, 10 = exposed; the unit before the hardening set scored 8.3)`)
    expect(exposure).toBeLessThanOrEqual(4)
  })
})
