/**
 * The test tiers and the pretest: which packages are missing and which line is printed (pure), the
 * pretest run as a user without root on a PATH without the tools, the once-per-run summary, and the
 * list of test files needing tools checked against what each file uses (so `npm run test:fast`
 * stays a tier that needs nothing but `npm ci`).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Glob } from 'bun'
import { tempDir } from '../support/leftovers'
import { chooseInstaller, installCommands } from './pretest'
import { installLine, MissingToolError, missingSummary, missingTools, packagesFor, SYSTEM_TESTS, TOOL_HELPERS, TOOLS, type ToolName } from './system-tools'

const ROOT = resolve(import.meta.dir, '../..')
const ALL = TOOLS.map((t) => t.command)

describe('which packages are missing, and the one line', () => {
  test('nothing missing: no packages, no summary', () => {
    expect(missingTools(() => '/usr/bin/x')).toEqual([])
    expect(missingSummary([])).toBe('')
  })

  test('every tool missing (a fresh machine): each package once, in a fixed order', () => {
    expect(missingTools(() => null)).toEqual(ALL)
    expect(installLine(ALL)).toBe('sudo apt-get install -y redis-server redis-tools openssl chromium podman runc debootstrap podman-compose systemd prometheus')
  })

  test('some missing: only their packages, each once; redis-cli is redis-tools, systemd-analyze systemd, promtool and prometheus prometheus', () => {
    const present = new Set<ToolName>(['redis-server', 'openssl', 'podman', 'runc', 'debootstrap', 'podman-compose'])
    const missing = missingTools((command) => (present.has(command) ? `/usr/bin/${command}` : null))
    expect(missing).toEqual(['redis-cli', 'chromium', 'systemd-analyze', 'promtool', 'prometheus'])
    expect(packagesFor(missing)).toEqual(['redis-tools', 'chromium', 'systemd', 'prometheus'])
    expect(installLine(missing)).toBe('sudo apt-get install -y redis-tools chromium systemd prometheus')
  })

  test('asked for some tools only: the others are not looked at', () => {
    expect(missingTools(() => null, ['openssl', 'redis-server'])).toEqual(['redis-server', 'openssl'])
  })

  test("a test's error is short and names the tool and its package; the run's summary names each tool once, with the line", () => {
    expect(new MissingToolError(['redis-cli']).message).toBe('needs redis-cli (not installed: Debian package redis-tools; see the end of the run)')
    const summary = missingSummary(['chromium', 'redis-server', 'chromium'])
    expect(summary.split('\n')[0]).toBe('Missing system tools: redis-server, chromium. The tests that need them failed. Install what the suite needs with:')
    expect(summary).toContain('\n  sudo apt-get install -y redis-server chromium\n')
  })

  test('the summary names the tools the tests met, and its one line also installs the rest missing here (the next run would meet them)', () => {
    const summary = missingSummary(['openssl'], ['redis-cli', 'openssl', 'promtool'])
    expect(summary.split('\n').slice(0, 2)).toEqual([
      'Missing system tools: openssl. The tests that need them failed. Install what the suite needs with:',
      '  sudo apt-get install -y redis-tools openssl prometheus',
    ])
  })
})

describe('how the pretest installs', () => {
  test('root: apt-get itself; a user with password-less sudo: through sudo -n; otherwise (or without apt-get): print the line', () => {
    const never = () => {
      throw new Error('sudo is not asked about as root')
    }
    expect(chooseInstaller({ root: true, aptGet: true, sudoWorks: never })).toBe('root')
    expect(chooseInstaller({ root: false, aptGet: true, sudoWorks: () => true })).toBe('sudo')
    expect(chooseInstaller({ root: false, aptGet: true, sudoWorks: () => false })).toBeNull()
    expect(chooseInstaller({ root: true, aptGet: false, sudoWorks: never })).toBeNull()
  })

  test('apt-get update once, then one install of every missing package', () => {
    expect(installCommands(['redis-server', 'redis-cli', 'chromium'], 'root')).toEqual([
      ['apt-get', 'update', '-qq'],
      ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', 'redis-server', 'redis-tools', 'chromium'],
    ])
    expect(installCommands(['promtool'], 'sudo').map((c) => c.slice(0, 3))).toEqual([
      ['sudo', '-n', 'apt-get'],
      ['sudo', '-n', 'env'],
    ])
  })
})

/** A folder holding a stand-in executable for each of `present` and nothing else: a search path on which only they are installed. */
function pathWith(present: ToolName[]): string {
  const dir = tempDir('ivsf-path-')
  for (const tool of present) writeFileSync(join(dir, tool), '#!/bin/sh\nexit 0\n', { mode: 0o755 })
  return dir
}

/** A folder of links to everything in /usr/bin and /usr/sbin except `hidden`: a PATH as on a machine without them. */
function pathWithout(hidden: string[]): string {
  const dir = join(tempDir('ivsf-path-'), 'bin')
  mkdirSync(dir)
  for (const from of ['/usr/bin', '/usr/sbin']) {
    for (const name of readdirSync(from)) {
      if (hidden.includes(name)) continue
      try {
        symlinkSync(join(from, name), join(dir, name))
      } catch {
        // the same name in both folders: the first one wins, as on a PATH
      }
    }
  }
  return dir
}

describe('the pretest as a user without root, on a machine without the tools', () => {
  const run = (path: string) => {
    const result = Bun.spawnSync([process.execPath, join(import.meta.dir, 'pretest.ts')], {
      env: { HOME: process.env.HOME ?? '/tmp', PATH: path, IVSF_TOOL_PATH: path, IVSF_PRETEST_NOT_ROOT: '1' },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() }
  }

  test('every tool (and sudo) hidden from /usr/bin and /usr/sbin: exactly one line, the apt-get install of every package, and exit 1', () => {
    expect(run(pathWithout([...ALL, 'sudo']))).toEqual({
      code: 1,
      stdout: '',
      stderr: 'sudo apt-get install -y redis-server redis-tools openssl chromium podman runc debootstrap podman-compose systemd prometheus\n',
    })
  })

  test('all but two installed: only their packages', () => {
    const path = pathWith(ALL.filter((tool) => tool !== 'debootstrap' && tool !== 'redis-cli'))
    expect(run(path)).toEqual({ code: 1, stdout: '', stderr: 'sudo apt-get install -y redis-tools debootstrap\n' })
  })

  test('all installed: one line saying so, exit 0', () => {
    expect(run(pathWith(ALL))).toEqual({ code: 0, stdout: 'pretest: every system tool the tests need is installed\n', stderr: '' })
  })
})

describe('a plain `bun test` meeting missing tools', () => {
  const dir = tempDir('ivsf-tier-')
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('each test needing one fails by name with the short error; the tool is named once at the end, with the line', () => {
    const tools = join(import.meta.dir, 'system-tools.ts')
    for (const name of ['a', 'b'])
      writeFileSync(
        join(dir, `${name}.test.ts`),
        `import { test } from 'bun:test'\nimport { requireTool } from ${JSON.stringify(tools)}\n` +
          `test('${name} one', () => { requireTool('redis-server') })\ntest('${name} two', () => { requireTool('chromium') })\ntest('${name} three', () => {})\n`,
      )
    const path = pathWith(ALL.filter((tool) => tool !== 'redis-server' && tool !== 'chromium'))
    const result = Bun.spawnSync([process.execPath, 'test', '--preload', join(import.meta.dir, 'preload.ts'), './a.test.ts', './b.test.ts'], {
      cwd: dir,
      env: { HOME: process.env.HOME ?? '/tmp', PATH: path, IVSF_TOOL_PATH: path },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const output = result.stdout.toString() + result.stderr.toString()
    expect(result.exitCode).toBe(1)
    for (const name of ['a one', 'a two', 'b one', 'b two']) expect(output).toContain(`(fail) ${name}`)
    expect(output).toContain('needs redis-server (not installed: Debian package redis-server; see the end of the run)')
    expect(output.split('Missing system tools:').length - 1).toBe(1)
    expect(output.split('apt-get install').length - 1).toBe(1)
    expect(output).toContain('Missing system tools: redis-server, chromium.')
    expect(output).toContain('  sudo apt-get install -y redis-server chromium\n')
    expect(output).toMatch(/ 2 pass\n 4 fail/)
  })
})

const isTool = (name: string): name is ToolName => (ALL as string[]).includes(name)

/**
 * The tools a source file uses on this machine: the tool helpers it calls, the tools it asks for
 * (`requireTool('openssl')`), and tools it runs or looks up by name (`spawn(['openssl', …])`,
 * `run(['podman', …])`, `execFileSync('openssl', …)`, `Bun.which('systemd-analyze')`). A name
 * inside a container's Containerfile text is not one of those.
 */
function toolsUsedBy(source: string): ToolName[] {
  const used = new Set<ToolName>()
  for (const [helper, tools] of Object.entries(TOOL_HELPERS)) if (new RegExp(`\\b${helper}\\(`).test(source)) for (const tool of tools) used.add(tool)
  for (const call of source.matchAll(/\brequireTools?\(([^)]*)\)/g))
    for (const name of call[1]!.matchAll(/['"]([\w-]+)['"]/g)) if (isTool(name[1]!)) used.add(name[1])
  for (const call of source.matchAll(/\b(?:spawn|spawnSync|execFileSync|execFile|which|run|must)\(\s*\[?\s*(['"`])([\w-]+)\1/g))
    if (isTool(call[2]!)) used.add(call[2])
  return missingTools(() => null, [...used])
}

describe('the fast tier needs nothing but npm ci', () => {
  // The tier machinery itself (this folder) names every tool on purpose.
  const testFiles = [...new Glob('test/**/*.test.ts').scanSync(ROOT)].filter((file) => !file.startsWith('test/setup/')).sort()

  test('every test file using a tool helper or a tool is listed in SYSTEM_TESTS with exactly those tools; every listed file uses them', () => {
    const used = Object.fromEntries(
      testFiles.map((file) => [file, toolsUsedBy(readFileSync(join(ROOT, file), 'utf8'))] as const).filter(([, tools]) => tools.length > 0),
    )
    const listed = Object.fromEntries(Object.entries(SYSTEM_TESTS).map(([file, tools]) => [file, missingTools(() => null, tools)]))
    expect(used).toEqual(listed)
  })

  test('a test file needing tools sets up with beforeAllOrFail, not beforeAll (a missing tool then fails each test by name, never "(unnamed)")', () => {
    const plain = Object.keys(SYSTEM_TESTS).filter((file) => /\bbeforeAll\(/.test(readFileSync(join(ROOT, file), 'utf8')))
    expect(plain).toEqual([])
  })

  test('a support module using a tool exports a helper listed in TOOL_HELPERS that covers it (so the check above sees its callers)', () => {
    const problems: string[] = []
    for (const file of new Glob('test/support/**/*.ts').scanSync(ROOT)) {
      const source = readFileSync(join(ROOT, file), 'utf8')
      const used = toolsUsedBy(source)
      if (!used.length) continue
      const helpers = [...source.matchAll(/export (?:async )?function (\w+)/g)].map((m) => m[1]!).filter((name) => name in TOOL_HELPERS)
      const covered = new Set(helpers.flatMap((name) => TOOL_HELPERS[name]!))
      const uncovered = used.filter((tool) => !covered.has(tool))
      if (uncovered.length) problems.push(`${file} uses ${uncovered.join(', ')} but exports no TOOL_HELPERS entry needing it`)
    }
    expect(problems).toEqual([])
  })
})
