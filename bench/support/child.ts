import { constants, cpus, loadavg } from 'node:os'
import type { Subprocess } from 'bun'
import { describeError } from '../../src/errors'

const TAIL_BYTES = 4096
const live = new Set<Subprocess>()

/** Kills every child still running; safe to call more than once (also from 'exit' handlers). */
/** What machine a figure came from, printed with every benchmark. */
export function machineInfo() {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    bun: Bun.version,
    date: new Date().toISOString(),
    load1: Math.round(loadavg()[0]! * 100) / 100,
  }
}

/** Runs a benchmark's main: children are killed on any exit or signal, a failure exits 1. */
export async function runBench(name: string, main: () => Promise<void>): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      killChildren()
      process.exit(128 + constants.signals[signal])
    })
  }
  process.on('exit', killChildren)
  try {
    await main()
  } catch (error) {
    process.stderr.write(`${name} failed: ${describeError(error)}\n`)
    process.exitCode = 1
  } finally {
    killChildren()
  }
}

export function killChildren(): void {
  for (const proc of live) proc.kill()
  live.clear()
}

export interface Child {
  proc: Subprocess
  /** Sends one message and resolves with the child's next message; rejects if the child exits first. */
  call<T>(message: unknown): Promise<T>
  /** Throws, with the child's last output, if it is no longer running. */
  assertRunning(): void
}

export function spawnChild(name: string, cmd: string[], options: { env?: Record<string, string>; cwd?: string; ipc?: boolean } = {}): Child {
  const waiters: ((message: unknown) => void)[] = []
  // serveCalls announces itself once; calls wait for that so no message is sent before anyone listens.
  const ready = new Promise<void>((resolve) => waiters.push(() => resolve()))
  let tail = ''
  const proc = Bun.spawn(cmd, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    ipc: options.ipc ? (message) => waiters.shift()?.(message) : undefined,
  })
  live.add(proc)
  proc.exited.then(() => live.delete(proc))
  // Drained continuously: a child blocked on a full pipe would stall the measurement.
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) tail = (tail + decoder.decode(chunk, { stream: true })).slice(-TAIL_BYTES)
  }
  void drain(proc.stdout)
  void drain(proc.stderr)

  const died = () => new Error(`${name} exited (${proc.signalCode ?? `code ${proc.exitCode}`}) unexpectedly:\n${tail.trim()}`)
  const exited = proc.exited.then(() => {
    throw died()
  })
  exited.catch(() => {})
  return {
    proc,
    async call<T>(message: unknown) {
      await Promise.race([ready, exited])
      const reply = new Promise<T>((resolve) => waiters.push(resolve as (m: unknown) => void))
      proc.send(message)
      return Promise.race([reply, exited])
    },
    assertRunning() {
      if (proc.exitCode !== null || proc.signalCode !== null) throw died()
    },
  }
}

/** Child side of the protocol: answer each message with handle(message); exit when the parent goes away. */
export function serveCalls<M, R>(handle: (message: M) => Promise<R>): void {
  process.on('message', async (message) => process.send!(await handle(message as M)))
  process.on('disconnect', () => process.exit(0))
  process.send!('ready')
}
