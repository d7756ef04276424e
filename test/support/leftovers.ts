import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * What tests start or make that must not outlive the run, whatever failed: temporary folders
 * (certificates shared by several servers, a cluster's node files) and child processes (a server
 * started by a set-up that failed half-way, so no `afterAll` holds it). test/setup/preload.ts's
 * global `afterAll` cleans up at the end of the run. Bun's test runner never emits the process's
 * `exit` event, so that is no place for clean-up in tests; outside `bun test` (a bench script) the
 * same clean-up runs on `exit`.
 */
/** A child process as Bun.spawn gives it (only what clean-up needs). */
export interface ChildProcess {
  kill(signal?: number | NodeJS.Signals): void
  readonly exitCode: number | null
  readonly signalCode: number | NodeJS.Signals | null
}
interface Leftovers {
  dirs: Set<string>
  processes: Set<ChildProcess>
}
const leftovers: Leftovers = ((globalThis as Record<symbol, Leftovers>)[Symbol.for('ivsf.leftovers')] ??= { dirs: new Set(), processes: new Set() })

/** A new folder in the system temp folder, named `<prefix>XXXXXX`, removed at the end of the run. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  leftovers.dirs.add(dir)
  return dir
}

/** Kills `proc` (SIGCONT, then SIGKILL) at the end of the run if it is still running then. */
export function killAtRunEnd<P extends ChildProcess>(proc: P): P {
  leftovers.processes.add(proc)
  return proc
}

/** Removes the folders and kills the processes left so far; returns how many of each. */
export function cleanUpLeftovers(): { dirs: number; processes: number } {
  let processes = 0
  for (const proc of leftovers.processes) {
    if (proc.exitCode !== null || proc.signalCode !== null) continue
    processes++
    proc.kill('SIGCONT')
    proc.kill('SIGKILL')
  }
  const dirs = leftovers.dirs.size
  for (const dir of leftovers.dirs) rmSync(dir, { recursive: true, force: true })
  leftovers.dirs.clear()
  leftovers.processes.clear()
  return { dirs, processes }
}

process.on('exit', cleanUpLeftovers)
