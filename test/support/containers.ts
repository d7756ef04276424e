/**
 * Podman, and the base images the Dockerfile and docker-compose.yml name, made on this machine
 * without a container registry (none is reachable in CI): Debian bookworm minbase from Debian's own
 * mirror via debootstrap, a stand-in `oven/bun:<locked version>` holding the locked Bun binary, and a
 * stand-in `redis:7-bookworm` holding Debian's redis-server. Each is made once and kept in podman's
 * store; a later run finds it there. Users build the same Dockerfile against the real images.
 *
 * Also runnable: `npx bun test/support/containers.ts` prepares the base images and prints them.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireTools } from '../setup/system-tools'

const ROOT = join(import.meta.dir, '..', '..')
/** runc and cgroupfs (crun fails on this host's hybrid cgroups); no default ulimits (setting RLIMIT_NOFILE is refused here). */
export const CONTAINERS_CONF = join(ROOT, 'test', 'support', 'fixtures', 'containers.conf')
/** What the tests build from the Dockerfile (the name docker-compose.yml runs). */
export const IMAGE = 'localhost/ivs-fanout:latest'
export const DEBIAN_IMAGE = 'docker.io/library/debian:bookworm-slim'
export const REDIS_IMAGE = 'docker.io/library/redis:7-bookworm'
export const bunImage = () => `docker.io/oven/bun:${lockedBunVersion()}`
const MIRROR = 'http://deb.debian.org/debian'

const SBIN_PATH = () => `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/sbin`

/** The environment podman and friends run with: ours, plus sbin (runc, debootstrap) and our containers.conf. */
export const podmanEnv = (extra: Record<string, string> = {}) => ({ ...process.env, PATH: SBIN_PATH(), CONTAINERS_CONF, ...extra })

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command to its end (podman with our containers.conf), capturing its output. */
export async function run(cmd: string[], options: { cwd?: string; stdin?: Blob; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<Run> {
  const child = Bun.spawn(cmd, { cwd: options.cwd ?? ROOT, env: podmanEnv(options.env), stdin: options.stdin ?? 'ignore', stdout: 'pipe', stderr: 'pipe' })
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000)
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** Runs and throws with the command's own output when it fails. */
export async function must(cmd: string[], options: Parameters<typeof run>[1] = {}): Promise<string> {
  const result = await run(cmd, options)
  if (result.code !== 0) throw new Error(`${cmd.join(' ')} exited ${result.code}:\n${result.stderr.slice(-3000)}\n${result.stdout.slice(-2000)}`)
  return result.stdout
}

/** The Bun version package-lock.json pins (the one the Dockerfile's build stage must match). */
export function lockedBunVersion(): string {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> }
  const version = lock.packages['node_modules/bun']?.version
  if (!version) throw new Error('package-lock.json pins no bun version')
  return version
}

/**
 * Fails loudly (never skips) when podman cannot run containers here: a missing tool is a
 * MissingToolError naming it (test/setup/system-tools.ts).
 * Rootful podman is what this was verified with; rootless needs subuid/subgid set up.
 */
export async function requirePodman(): Promise<void> {
  requireTools('podman', 'runc', 'debootstrap', 'podman-compose')
  if (process.getuid?.() !== 0) {
    throw new Error('the container tests need root: debootstrap and rootful podman (as verified here) do; run the suite as root (CI does)')
  }
  const info = await run(['podman', 'info', '--format', '{{.Host.OCIRuntime.Name}}'])
  if (info.code !== 0) throw new Error(`podman cannot run here: ${info.stderr.trim()}`)
}

const exists = async (image: string) => (await run(['podman', 'image', 'exists', image])).code === 0

/** Builds `tag` from a Containerfile text in a scratch context holding `files`. */
async function buildFrom(tag: string, containerfile: string, files: Record<string, string> = {}): Promise<void> {
  const context = mkdtempSync(join(tmpdir(), 'ivsf-image-'))
  try {
    writeFileSync(join(context, 'Containerfile'), containerfile)
    for (const [name, source] of Object.entries(files)) await must(['cp', source, join(context, name)])
    await must(['podman', 'build', '--network', 'host', '--format', 'docker', '-t', tag, context])
  } finally {
    rmSync(context, { recursive: true, force: true })
  }
}

/**
 * Debian bookworm minbase, made to behave like the official slim image: apt keeps no package
 * caches or lists, and dpkg installs no documentation or translations (so an `apt-get install` in
 * the Dockerfile adds what the official image would add, not 90 MB of caches).
 */
async function makeDebian(): Promise<void> {
  const rootfs = mkdtempSync(join(tmpdir(), 'ivsf-rootfs-'))
  try {
    await must(['debootstrap', '--variant=minbase', 'bookworm', rootfs, MIRROR], { timeoutMs: 900_000 })
    writeFileSync(
      join(rootfs, 'etc/apt/apt.conf.d/docker-clean'),
      [
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
        'Dir::Cache::pkgcache "";',
        'Dir::Cache::srcpkgcache "";',
        '',
      ].join('\n'),
    )
    writeFileSync(join(rootfs, 'etc/apt/apt.conf.d/docker-no-languages'), 'Acquire::Languages "none";\n')
    writeFileSync(join(rootfs, 'etc/apt/apt.conf.d/docker-gzip-indexes'), 'Acquire::GzipIndexes "true";\n')
    writeFileSync(
      join(rootfs, 'etc/dpkg/dpkg.cfg.d/docker'),
      [
        'path-exclude /usr/share/doc/*',
        'path-include /usr/share/doc/*/copyright',
        'path-exclude /usr/share/man/*',
        'path-exclude /usr/share/info/*',
        'path-exclude /usr/share/locale/*',
        '',
      ].join('\n'),
    )
    for (const dir of ['var/cache/apt', 'var/lib/apt/lists', 'usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale']) {
      await must(['sh', '-c', `rm -rf ${join(rootfs, dir)}/*`])
    }
    const tar = Bun.spawn(['tar', '-C', rootfs, '-c', '.'], { stdout: 'pipe' })
    const imported = Bun.spawn(['podman', 'import', '--change', 'CMD ["bash"]', '-', DEBIAN_IMAGE], {
      env: podmanEnv(),
      stdin: tar.stdout,
      stdout: 'pipe',
      stderr: 'pipe',
    })
    if ((await imported.exited) !== 0) throw new Error(`podman import failed: ${await new Response(imported.stderr).text()}`)
    if ((await tar.exited) !== 0) {
      await run(['podman', 'rmi', '-f', DEBIAN_IMAGE])
      throw new Error('tar of the debootstrap root failed: the imported image was removed')
    }
  } finally {
    rmSync(rootfs, { recursive: true, force: true })
  }
}

/** The locked Bun binary on that Debian; the build machine's extra CA (NODE_EXTRA_CA_CERTS) is trusted inside, so `bun install` reaches the npm registry through it. */
async function makeBun(): Promise<void> {
  const bun = join(ROOT, 'node_modules', 'bun', 'bin', 'bun.exe')
  if (!existsSync(bun)) throw new Error(`${bun} is missing: run npm ci first`)
  const extraCa = process.env.NODE_EXTRA_CA_CERTS
  const files: Record<string, string> = { bun }
  const lines = [`FROM ${DEBIAN_IMAGE}`, 'COPY bun /usr/local/bin/bun', 'RUN ln -s bun /usr/local/bin/bunx']
  if (extraCa && existsSync(extraCa)) {
    files['extra-ca.crt'] = extraCa
    lines.push('COPY extra-ca.crt /usr/local/share/ci/extra-ca.crt', 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ci/extra-ca.crt')
  }
  lines.push('WORKDIR /home/bun/app', 'CMD ["bun"]')
  await buildFrom(bunImage(), `${lines.join('\n')}\n`, files)
}

/** Debian's redis-server, started as the official image starts it (reachable on the container network: protected mode off). */
async function makeRedis(): Promise<void> {
  await buildFrom(
    REDIS_IMAGE,
    [
      `FROM ${DEBIAN_IMAGE}`,
      'RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data',
      // Like the official entrypoint: `redis-server …` or bare options both start the server.
      `RUN printf '#!/bin/sh\\nif [ "$1" = redis-server ]; then shift; fi\\nexec redis-server --protected-mode no "$@"\\n' > /usr/local/bin/redis-entrypoint && chmod 755 /usr/local/bin/redis-entrypoint`,
      'WORKDIR /data',
      'USER redis',
      'EXPOSE 6379',
      'ENTRYPOINT ["/usr/local/bin/redis-entrypoint"]',
      'CMD ["redis-server"]',
      '',
    ].join('\n'),
  )
}

/** The Bun image the Dockerfile builds with must be the locked Bun: that is the stand-in made here. */
function checkDockerfileBun(): void {
  const from = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').match(/^FROM (oven\/bun:\S+)/m)?.[1]
  const locked = `oven/bun:${lockedBunVersion()}`
  if (from !== locked)
    throw new Error(
      `the Dockerfile builds FROM ${from ?? '(no oven/bun stage)'} but package-lock.json pins Bun ${lockedBunVersion()}: change the Dockerfile to FROM ${locked}`,
    )
}

/** Makes whichever base image is missing; returns what it made. */
export async function prepareBaseImages(log: (line: string) => void = () => {}): Promise<string[]> {
  await requirePodman()
  checkDockerfileBun()
  const made: string[] = []
  const steps: [string, () => Promise<void>][] = [
    [DEBIAN_IMAGE, makeDebian],
    [bunImage(), makeBun],
    [REDIS_IMAGE, makeRedis],
  ]
  for (const [image, make] of steps) {
    if (await exists(image)) continue
    const started = performance.now()
    await make()
    log(`made ${image} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    made.push(image)
  }
  return made
}

if (import.meta.main) {
  const made = await prepareBaseImages((line) => console.log(line))
  console.log(made.length ? `made ${made.length} base image(s)` : 'base images already present')
}
