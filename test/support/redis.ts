import type { Subprocess } from 'bun'
import { freePort } from './process'

export interface RedisServer {
  port: number
  url: string
  stop(): Promise<void>
}

/** A real redis-server on a free port, nothing kept on disk. Fails loudly when redis-server is missing. */
export async function startRedis(): Promise<RedisServer> {
  const binary = Bun.which('redis-server')
  if (!binary) throw new Error('redis-server is not installed: `apt-get install -y redis-server` (.ci/run does this)')
  const port = await freePort()
  const proc: Subprocess = Bun.spawn([binary, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], {
    stdout: 'ignore',
    stderr: 'inherit',
  })
  const deadline = Date.now() + 5_000
  for (;;) {
    const ok = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } }).then(
      (s) => (s.end(), true),
      () => false,
    )
    if (ok) break
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`redis-server did not start on port ${port}`)
    await Bun.sleep(20)
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      proc.kill('SIGKILL')
      await proc.exited
    },
  }
}
