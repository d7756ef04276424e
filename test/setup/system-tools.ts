/**
 * The system tools some tests need beyond `npm ci`, the Debian package that brings each, and which
 * test files need which: one list for `npm test`'s pretest (test/setup/pretest.ts installs what is
 * missing), the fast tier (`npm run test:fast` runs every test file not listed here), the tests
 * themselves (`requireTool` fails a test naming the missing tool) and the end-of-run summary
 * (test/setup/preload.ts names each missing tool once, with the one `apt-get install` line).
 * test/setup/system-tools.test.ts fails when a test file uses a tool helper but is not listed.
 *
 * Tools are looked up on PATH plus /usr/sbin and /sbin (runc and debootstrap live there, and a
 * non-root PATH lacks them). `IVSF_TOOL_PATH` replaces that search path: only tests that hide the
 * tools set it.
 */

export const TOOLS = [
  { command: 'redis-server', package: 'redis-server', why: 'the native Redis and Upstash stores against a real server' },
  { command: 'redis-cli', package: 'redis-tools', why: 'a local Redis cluster (redis-cli --cluster create)' },
  { command: 'openssl', package: 'openssl', why: 'TLS certificates for Redis, and SEC1 keys for the signer' },
  { command: 'chromium', package: 'chromium', why: "the real-browser tests (Debian's Chromium, /usr/bin/chromium)" },
  { command: 'podman', package: 'podman', why: 'the container image and compose tests' },
  { command: 'runc', package: 'runc', why: "podman's runtime here (crun fails on this host's cgroups)" },
  { command: 'debootstrap', package: 'debootstrap', why: 'base images made without a registry' },
  { command: 'podman-compose', package: 'podman-compose', why: 'docker-compose.yml, run for real' },
  { command: 'systemd-analyze', package: 'systemd', why: 'the systemd unit, verified by systemd' },
  { command: 'promtool', package: 'prometheus', why: 'Prometheus rules and metrics, checked by promtool' },
  { command: 'prometheus', package: 'prometheus', why: 'the real Prometheus scraping serve and the relay, with the alert rules loaded' },
] as const

export type ToolName = (typeof TOOLS)[number]['command']

const CONTAINER_TOOLS: ToolName[] = ['podman', 'runc', 'debootstrap', 'podman-compose']

/**
 * The test files that need system tools (repo-relative), and which. Every other test file is the
 * fast tier. Keep it exact: system-tools.test.ts compares it with what each file uses.
 */
export const SYSTEM_TESTS: Record<string, readonly ToolName[]> = {
  'test/browser/dashboard-panels.test.ts': ['chromium'],
  'test/browser/ivs-sdk-tokens.test.ts': ['chromium'],
  'test/cli/doctor-store.test.ts': ['redis-server', 'redis-cli', 'openssl'],
  'test/cli/doctor.test.ts': ['redis-server'],
  'test/containers/compose.test.ts': CONTAINER_TOOLS,
  'test/containers/image.test.ts': CONTAINER_TOOLS,
  'test/containers/systemd.test.ts': ['systemd-analyze'],
  'test/e2e/api-key-rotation.test.ts': ['redis-server'],
  'test/e2e/binary-smoke.test.ts': ['redis-server'],
  'test/e2e/create-lock-failover.test.ts': ['redis-server'],
  'test/e2e/fanout-modes-replicate.test.ts': ['redis-server'],
  'test/e2e/local-stages-shared.test.ts': ['redis-server'],
  'test/e2e/monitoring.test.ts': ['redis-server', 'prometheus'],
  'test/e2e/multi-instance.test.ts': ['redis-server'],
  'test/e2e/serve-aws.test.ts': ['redis-server'],
  'test/e2e/serve-redis.test.ts': ['redis-server', 'redis-cli', 'openssl'],
  'test/e2e/serve-upstash.test.ts': ['redis-server'],
  'test/e2e/store-loss.test.ts': ['redis-server'],
  'test/e2e/store-unreachable.test.ts': ['redis-server', 'openssl'],
  'test/e2e/tls.test.ts': ['openssl'],
  'test/fleet/loop.test.ts': ['redis-server'],
  'test/http/dashboard.test.ts': ['chromium'],
  'test/http/security-headers.test.ts': ['chromium'],
  'test/http/viewer-client.test.ts': ['chromium'],
  'test/http/watch.test.ts': ['chromium'],
  'test/ivs/signer-openssl.test.ts': ['openssl'],
  'test/metrics/alert-rules.test.ts': ['promtool'],
  'test/relay/browser.test.ts': ['chromium'],
  'test/store/redis-specific.test.ts': ['redis-server', 'redis-cli', 'openssl'],
  'test/store/redis.test.ts': ['redis-server', 'redis-cli', 'openssl'],
  'test/store/upstash-specific.test.ts': ['redis-server'],
  'test/store/upstash.test.ts': ['redis-server'],
}

/** The test helpers that need tools (test/support/…): a test file calling one needs its tools. */
export const TOOL_HELPERS: Record<string, readonly ToolName[]> = {
  startRedis: ['redis-server'],
  startRedisCluster: ['redis-server', 'redis-cli'],
  makeTlsFiles: ['openssl'],
  startUpstashStack: ['redis-server'],
  launchChromium: ['chromium'],
  startPrometheus: ['prometheus'],
  requirePodman: CONTAINER_TOOLS,
  prepareBaseImages: CONTAINER_TOOLS,
}

export const packageOf = (command: ToolName): string => TOOLS.find((t) => t.command === command)!.package

/** The search path for tools: `IVSF_TOOL_PATH`, or PATH plus the sbin folders. */
export function toolSearchPath(env: Record<string, string | undefined> = process.env): string {
  return env.IVSF_TOOL_PATH ?? `${env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/sbin`
}

/** Where `command` is, or null. */
export function findTool(command: string, searchPath = toolSearchPath()): string | null {
  return Bun.which(command, { PATH: searchPath })
}

/** The tools that are missing, in TOOLS order, given how to find one. */
export function missingTools(find: (command: ToolName) => string | null, wanted: readonly ToolName[] = TOOLS.map((t) => t.command)): ToolName[] {
  return TOOLS.map((t) => t.command).filter((command) => wanted.includes(command) && !find(command))
}

/** The Debian packages that bring those tools, each once. */
export const packagesFor = (tools: readonly ToolName[]): string[] => [...new Set(tools.map(packageOf))]

/** The one line that installs them. */
export const installLine = (tools: readonly ToolName[]): string => `sudo apt-get install -y ${packagesFor(tools).join(' ')}`

/** A test needs a system tool that is not installed. Short on purpose: the run's end names it once with the install line. */
export class MissingToolError extends Error {
  constructor(readonly tools: ToolName[]) {
    super(`needs ${tools.join(', ')} (not installed: Debian package ${packagesFor(tools).join(', ')}; see the end of the run)`)
    this.name = 'MissingToolError'
  }
}

/** Missing tools asked for during this run, for the end-of-run summary (one set per process, whichever copy of this module). */
export const missingThisRun: Set<ToolName> = ((globalThis as Record<symbol, Set<ToolName>>)[Symbol.for('ivsf.missingTools')] ??= new Set())

/** The path of each tool, or a MissingToolError naming every missing one (remembered for the summary). */
export function requireTools(...tools: ToolName[]): string[] {
  const missing = missingTools(findTool, tools)
  if (missing.length) {
    for (const tool of missing) missingThisRun.add(tool)
    throw new MissingToolError(missing)
  }
  return tools.map((tool) => findTool(tool)!)
}

/** The path of one tool, or a MissingToolError. */
export const requireTool = (tool: ToolName): string => requireTools(tool)[0]!

/**
 * The summary printed once at the end of a run in which tests met missing tools (empty when none
 * did): those tools, and one line installing them and whatever else the suite needs that is missing
 * here (`alsoMissing`), so the next run does not stop at the next tool.
 */
export function missingSummary(met: readonly ToolName[], alsoMissing: readonly ToolName[] = []): string {
  if (!met.length) return ''
  return [
    `Missing system tools: ${missingTools(() => null, met).join(', ')}. The tests that need them failed. Install what the suite needs with:`,
    `  ${installLine(missingTools(() => null, [...met, ...alsoMissing]))}`,
    '(`npm test` installs it itself as root or with sudo; `npm run test:fast` runs only the tests that need no system tools.)',
  ].join('\n')
}

if (import.meta.main) {
  // `bun test/setup/system-tools.ts commands` prints the commands, one a line (for shell scripts).
  if (process.argv[2] === 'commands') console.log(TOOLS.map((t) => t.command).join('\n'))
  else console.log(TOOLS.map((t) => `${t.command.padEnd(16)} ${t.package.padEnd(15)} ${findTool(t.command) ?? 'MISSING'}`).join('\n'))
}
