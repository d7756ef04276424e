/**
 * `npm test`'s pretest: the Debian packages the suite needs (test/setup/system-tools.ts), installed
 * when missing. As root it runs apt-get itself (`apt-get update` once, then one `apt-get install`);
 * otherwise through `sudo -n` when that works without a password; otherwise it prints the one line
 * to run and exits 1. Nothing missing: one line saying so, exit 0.
 *
 * `IVSF_PRETEST_NOT_ROOT=1` makes it behave as a user without root (only its own test sets it).
 */
import { findTool, installLine, missingTools, packagesFor, type ToolName } from './system-tools'

export type Installer = 'root' | 'sudo' | null

/** How to install: as root, through `sudo -n`, or not at all (print the line). */
export function chooseInstaller(facts: { root: boolean; aptGet: boolean; sudoWorks: () => boolean }): Installer {
  if (!facts.aptGet) return null
  if (facts.root) return 'root'
  return facts.sudoWorks() ? 'sudo' : null
}

/** The commands that install `missing`, for that installer. */
export function installCommands(missing: readonly ToolName[], installer: 'root' | 'sudo'): string[][] {
  const prefix = installer === 'sudo' ? ['sudo', '-n'] : []
  return [
    [...prefix, 'apt-get', 'update', '-qq'],
    [...prefix, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', ...packagesFor(missing)],
  ]
}

const isRoot = () => process.getuid?.() === 0 && process.env.IVSF_PRETEST_NOT_ROOT !== '1'

function sudoWorks(): boolean {
  const sudo = findTool('sudo')
  return sudo !== null && Bun.spawnSync([sudo, '-n', 'true'], { stdout: 'ignore', stderr: 'ignore' }).exitCode === 0
}

async function main(): Promise<number> {
  const missing = missingTools((command) => findTool(command))
  if (!missing.length) {
    console.log('pretest: every system tool the tests need is installed')
    return 0
  }
  const installer = chooseInstaller({ root: isRoot(), aptGet: findTool('apt-get') !== null, sudoWorks })
  if (!installer) {
    console.error(installLine(missing))
    return 1
  }
  console.log(`pretest: installing ${packagesFor(missing).join(' ')} (apt-get${installer === 'sudo' ? ' through sudo' : ''}, for ${missing.join(', ')})`)
  for (const command of installCommands(missing, installer)) {
    const started = performance.now()
    const run = Bun.spawn(command, {
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
    })
    const [out, err, code] = await Promise.all([new Response(run.stdout).text(), new Response(run.stderr).text(), run.exited])
    if (code !== 0) {
      console.error(`pretest: \`${command.join(' ')}\` exited ${code}:\n${`${out}${err}`.trim().split('\n').slice(-20).join('\n')}`)
      console.error(installLine(missing))
      return 1
    }
    const step = command.slice(command.indexOf('apt-get'), command.indexOf('apt-get') + 2).join(' ')
    console.log(`pretest: ${step} done in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  }
  const still = missingTools((command) => findTool(command))
  if (still.length) {
    console.error(`pretest: still missing after apt-get install: ${still.join(', ')}`)
    console.error(installLine(still))
    return 1
  }
  return 0
}

if (import.meta.main) process.exit(await main())
