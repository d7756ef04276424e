import { RedisClient } from 'bun'
import { peakCount } from './ivs-server'
import { killAtRunEnd } from './leftovers'
import { BUN, bareEnv, freePort, type Spawned, spawnProcess } from './process'

/**
 * Several `serve` instances as separate processes (`bun run src/main.ts serve`) sharing one store,
 * plus what tests need to look at them from outside: their JSON log lines, the leader lease in
 * Redis, the store's per-stage counts, and WebSocket clients.
 */

export interface LogLine {
  time: string
  level: string
  msg: string
  [field: string]: unknown
}

export interface Instance {
  name: string
  port: number
  url: string
  process: Spawned
  pid: number
  /** fetch with the API key (unless `headers` set x-api-key or authorization). */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>
  /** The instance's JSON log lines so far (stdout). */
  logs(): LogLine[]
  /** Resolves with the first log line matching, or rejects after `timeoutMs` / if the process exits. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>
  alive(): boolean
}

export function parseLogs(stdout: string): LogLine[] {
  const lines: LogLine[] = []
  for (const raw of stdout.split('\n')) {
    if (!raw.startsWith('{')) continue
    try {
      lines.push(JSON.parse(raw) as LogLine)
    } catch {
      // a partial last line: it completes on a later read
    }
  }
  return lines
}

export class Cluster {
  readonly instances: Instance[] = []

  constructor(
    private readonly baseEnv: Record<string, string>,
    readonly apiKey: string,
  ) {}

  /** Spawns one instance on its own free port and waits until it logs "serving". */
  async start(name: string, extraEnv: Record<string, string> = {}, timeoutMs = 10_000): Promise<Instance> {
    const port = await freePort()
    const proc = spawnProcess([BUN, 'run', 'src/main.ts', 'serve'], bareEnv({ ...this.baseEnv, ...extraEnv, API_PORT: String(port) }))
    // Killed at the end of the run whatever happened (bun test never emits 'exit').
    killAtRunEnd(proc.proc)
    const url = `http://127.0.0.1:${port}`
    const apiKey = this.apiKey
    const instance: Instance = {
      name,
      port,
      url,
      process: proc,
      pid: proc.proc.pid,
      api(path, init = {}) {
        const headers = new Headers(init.headers)
        if (!headers.has('x-api-key') && !headers.has('authorization')) headers.set('x-api-key', apiKey)
        let body = init.body
        if (init.json !== undefined) {
          body = JSON.stringify(init.json)
          headers.set('content-type', 'application/json')
        }
        return fetch(url + path, { ...init, headers, body })
      },
      logs: () => parseLogs(proc.stdout()),
      async waitForLog(match, waitMs = 10_000) {
        const deadline = Date.now() + waitMs
        for (;;) {
          const found = parseLogs(proc.stdout()).find(match)
          if (found) return found
          if (proc.proc.exitCode !== null || proc.proc.signalCode !== null) {
            throw new Error(`${name} exited (${proc.proc.exitCode ?? proc.proc.signalCode}) before the log line; stderr:\n${proc.stderr()}`)
          }
          if (Date.now() > deadline) throw new Error(`${name}: no matching log line within ${waitMs} ms; stdout:\n${proc.stdout()}\nstderr:\n${proc.stderr()}`)
          await Bun.sleep(20)
        }
      },
      alive: () => proc.proc.exitCode === null && proc.proc.signalCode === null,
    }
    this.instances.push(instance)
    await instance.waitForLog((l) => l.msg === 'serving', timeoutMs)
    return instance
  }

  /** SIGKILL: no lease release, no goodbye. Resolves once the process is gone. */
  async kill(instance: Instance): Promise<void> {
    if (instance.alive()) instance.process.kill('SIGKILL')
    await instance.process.proc.exited
  }

  /** SIGKILLs every instance still running (afterEach / afterAll, also on failure). */
  async killAll(): Promise<void> {
    await Promise.all(this.instances.map((i) => this.kill(i)))
  }

  byPid(pid: number): Instance | undefined {
    return this.instances.find((i) => i.pid === pid)
  }
}

/**
 * Direct look at the shared Redis behind the Upstash REST server: the leader lease and the
 * per-stage seat counts, independent of what any instance reports.
 */
export class StoreProbe {
  private constructor(
    private readonly redis: RedisClient,
    readonly prefix: string,
  ) {}

  static async open(redisUrl: string, prefix: string): Promise<StoreProbe> {
    const redis = new RedisClient(redisUrl)
    await redis.connect()
    await redis.send('HELLO', ['2'])
    return new StoreProbe(redis, prefix)
  }

  /** The lease value is "<holder> <expiresAtMs>"; the holder id is `<hostname>-<pid>-<random>`. */
  async leader(): Promise<{ holder: string; pid: number; expiresAt: number } | null> {
    const raw = (await this.redis.send('GET', [`${this.prefix}lease:leader`])) as string | null
    if (!raw) return null
    const match = raw.match(/^(.*-(\d+)-[A-Za-z0-9]+) (\d+)$/)
    if (!match) throw new Error(`unexpected lease value ${raw}`)
    return { holder: match[1]!, pid: Number(match[2]), expiresAt: Number(match[3]) }
  }

  /** arn -> {status, seats taken} straight from the store's hashes and member sets. */
  async stageCounts(): Promise<Map<string, { status: string; isMaster: boolean; count: number }>> {
    const flat = (await this.redis.send('HGETALL', [`${this.prefix}stages`])) as string[]
    const out = new Map<string, { status: string; isMaster: boolean; count: number }>()
    for (let i = 0; i < flat.length; i += 2) {
      const arn = flat[i]!
      const record = JSON.parse(flat[i + 1]!) as { status: string; isMaster: boolean }
      const count = Number(await this.redis.send('ZCARD', [`${this.prefix}members:${arn}`]))
      out.set(arn, { status: record.status, isMaster: record.isMaster, count })
    }
    return out
  }

  async presentViewers(): Promise<number> {
    return Number(await this.redis.send('HLEN', [`${this.prefix}presence`]))
  }

  close(): void {
    this.redis.close()
  }
}

export interface SocketMessage {
  type: string
  data: Record<string, unknown>
  /** performance.now() when it arrived. */
  at: number
  /** Date.now() when it arrived (to compare with an event's own timestamp, made on another process of this host). */
  wallAt: number
}

/**
 * A WebSocket client that keeps every JSON message it receives. `waitFor` resolves from onmessage
 * with the first matching message (already received or still to come); `settled` sends a ping and
 * waits for its pong: frames on one socket arrive in order, so everything the server sent before
 * the pong has arrived by then.
 */
export class SocketClient {
  readonly messages: SocketMessage[] = []
  closed: { code: number; reason: string } | null = null
  private readonly openedAt = performance.now()
  private readonly waiters = new Set<{ match: (m: SocketMessage) => boolean; resolve: (m: SocketMessage) => void; reject: (e: Error) => void }>()
  private pings = 0
  private constructor(readonly ws: WebSocket) {}

  ageMs(): number {
    return performance.now() - this.openedAt
  }

  static open(url: string, timeoutMs = 5_000): Promise<SocketClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url)
      const client = new SocketClient(ws)
      const timer = setTimeout(() => reject(new Error(`WebSocket ${url} did not open within ${timeoutMs} ms`)), timeoutMs)
      ws.onmessage = (event) => {
        const parsed = JSON.parse(String(event.data)) as { type: string; data: Record<string, unknown> }
        const message = { ...parsed, at: performance.now(), wallAt: Date.now() }
        client.messages.push(message)
        for (const w of client.waiters) {
          if (!w.match(message)) continue
          client.waiters.delete(w)
          w.resolve(message)
        }
      }
      ws.onopen = () => {
        clearTimeout(timer)
        resolve(client)
      }
      ws.onerror = () => {
        clearTimeout(timer)
        reject(new Error(`WebSocket ${url} failed to open`))
      }
      ws.onclose = (event) => {
        client.closed = { code: event.code, reason: event.reason }
        for (const w of client.waiters) w.reject(new Error(`socket closed (${event.code} ${event.reason})`))
        client.waiters.clear()
      }
    })
  }

  of(type: string): SocketMessage[] {
    return this.messages.filter((m) => m.type === type)
  }

  /** The first message matching, already received or the next to arrive; rejects after `timeoutMs` or when the socket closes. */
  waitFor(match: (m: SocketMessage) => boolean, timeoutMs = 5_000, what = 'message'): Promise<SocketMessage> {
    const found = this.messages.find(match)
    if (found) return Promise.resolve(found)
    if (this.closed) return Promise.reject(new Error(`socket closed (${this.closed.code} ${this.closed.reason}) before ${what}`))
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (m: SocketMessage) => (clearTimeout(timer), resolve(m)),
        reject: (e: Error) => (clearTimeout(timer), reject(new Error(`${e.message} before ${what}`))),
      }
      const timer = setTimeout(() => {
        this.waiters.delete(waiter)
        reject(new Error(`no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.messages.map((m) => m.type))}`))
      }, timeoutMs)
      this.waiters.add(waiter)
    })
  }

  /** A ping/pong round trip: every frame the server sent before answering has arrived when this resolves. */
  async settled(timeoutMs = 3_000): Promise<void> {
    const n = ++this.pings
    const pongs = () => this.of('pong').length
    this.ws.send(JSON.stringify({ type: 'ping', n }))
    await this.waitFor((m) => m.type === 'pong' && pongs() >= n, timeoutMs, `pong ${n}`)
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close()
  }
}

/** Calls of `operation` the IVS server received (accepted or not) inside any window of `windowMs`. */
export function peakReceived(requests: readonly { operation: string; at: number }[], operation: string, windowMs = 1000): number {
  return peakCount(
    requests
      .filter((r) => r.operation === operation)
      .map((r) => r.at)
      .sort((a, b) => a - b),
    windowMs,
  )
}

export { freePort }
