import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { requireTool } from '../setup/system-tools'
import { until } from './eventually'
import { killAtRunEnd, tempDir } from './leftovers'
import { freePort } from './process'

export interface PrometheusServer {
  url: string
  /** GET /api/v1/<path>: the `data` of a success answer; throws with Prometheus' error otherwise. */
  api<T = unknown>(path: string, params?: Record<string, string>): Promise<T>
  /** An instant query's result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>
  /** Everything Prometheus logged so far (its log goes to stderr). */
  log(): string
  stop(): Promise<void>
}

/**
 * The real Prometheus (Debian's `prometheus`) with `config` (an object, written as JSON, which
 * Prometheus reads as YAML), its TSDB in a temporary folder, on a free loopback port; resolves
 * once /-/ready answers 200.
 */
export async function startPrometheus(config: unknown): Promise<PrometheusServer> {
  const binary = requireTool('prometheus')
  const dir = tempDir('ivsf-prometheus-')
  const configFile = join(dir, 'prometheus.yml')
  writeFileSync(configFile, JSON.stringify(config, null, 2))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const proc = killAtRunEnd(
    Bun.spawn(
      [binary, `--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { cwd: dir, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' },
    ),
  )
  let log = ''
  void (async () => {
    const decoder = new TextDecoder()
    for await (const chunk of proc.stderr as unknown as AsyncIterable<Uint8Array>) log += decoder.decode(chunk, { stream: true })
  })()
  const stop = async () => {
    proc.kill('SIGTERM')
    await Promise.race([proc.exited, Bun.sleep(5_000)])
    if (proc.exitCode === null) proc.kill('SIGKILL')
  }
  try {
    await until(
      'Prometheus ready',
      async () => {
        if (proc.exitCode !== null) throw new Error(`prometheus exited (${proc.exitCode}):\n${log}`)
        return fetch(`${url}/-/ready`).then(
          (r) => r.status === 200,
          () => false,
        )
      },
      20_000,
      100,
    )
  } catch (error) {
    await stop()
    throw error
  }
  const api = async <T>(path: string, params: Record<string, string> = {}): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params)}`)
    const body = (await res.json()) as { status: string; data?: T; error?: string; errorType?: string }
    if (body.status !== 'success') throw new Error(`Prometheus ${path} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`)
    return body.data as T
  }
  return {
    url,
    api,
    async query(expr) {
      const data = await api<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>('query', { query: expr })
      if (data.resultType !== 'vector') throw new Error(`${expr}: a ${data.resultType}, not a vector`)
      return data.result
    },
    log: () => log,
    stop,
  }
}
