import type { Subprocess } from 'bun'
import { eventually } from './eventually'

export const BUN = process.execPath
export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '')

export async function freePort(): Promise<number> {
  const probe = Bun.serve({ port: 0, fetch: () => new Response() })
  const port = probe.port!
  await probe.stop(true)
  return port
}

/** A minimal environment: what a fresh shell has, nothing of ours. */
export function bareEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...extra }
}

export interface Spawned {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>
  /** Everything written to stdout so far. */
  stdout(): string
  stderr(): string
  /** Resolves with the first stdout match, or rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  kill(signal?: NodeJS.Signals): void
}

export function spawnProcess(args: string[], env: Record<string, string>, cwd = ROOT): Spawned {
  const proc = Bun.spawn(args, { cwd, env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  let out = ''
  let err = ''
  const waiters: (() => void)[] = []
  const pump = async (stream: ReadableStream<Uint8Array>, append: (s: string) => void) => {
    const decoder = new TextDecoder()
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
      append(decoder.decode(chunk, { stream: true }))
      for (const w of waiters.splice(0)) w()
    }
  }
  void pump(proc.stdout, (s) => (out += s))
  void pump(proc.stderr, (s) => (err += s))
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    async waitFor(pattern, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const match = out.match(pattern)
        if (match) return match
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; stdout:\n${out}\nstderr:\n${err}`)
        if (proc.exitCode !== null) throw new Error(`process exited (${proc.exitCode}) before ${pattern}; stdout:\n${out}\nstderr:\n${err}`)
        await Promise.race([new Promise<void>((r) => waiters.push(r)), Bun.sleep(50)])
      }
    },
    kill(signal = 'SIGTERM') {
      proc.kill(signal)
    },
  }
}

/**
 * `src/main.ts relay` as a process on a free port with this environment (a bare one besides);
 * resolves once its /health/ready answers 200 (registered, following serve's events), else kills it
 * and throws.
 */
export async function spawnRelay(env: Record<string, string>, timeoutMs = 15_000): Promise<{ p: Spawned; url: string }> {
  const port = await freePort()
  const p = spawnProcess([BUN, 'run', 'src/main.ts', 'relay'], bareEnv({ API_PORT: String(port), ...env }))
  const url = `http://127.0.0.1:${port}`
  try {
    await eventually(
      'the relay ready',
      () =>
        fetch(`${url}/health/ready`).then(
          (r) => r.status === 200,
          () => false,
        ),
      timeoutMs,
    )
  } catch (error) {
    p.kill('SIGKILL')
    throw error
  }
  return { p, url }
}
