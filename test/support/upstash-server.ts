import { RedisClient, type Server } from 'bun'
import { describeError } from '../../src/errors'

/**
 * Test-only server speaking Upstash's REST protocol in front of a real redis-server:
 * `POST /` (one command as a JSON array), `POST /pipeline`, `POST /multi-exec`, Bearer auth,
 * `{result}` / `{error}` bodies, and `Upstash-Encoding: base64` responses (what @upstash/redis asks for).
 */
export interface UpstashServer {
  url: string
  token: string
  /** REST calls received, by endpoint, and commands executed. */
  counts: { single: number; pipeline: number; multiExec: number; commands: number }
  /** EVALSHA calls by script SHA since the last reset (which Lua script the store ran, how often). */
  readonly scriptCalls: Map<string, number>
  readonly requests: number
  resetCounts(): void
  /** Stops answering until `resume()`: connections refused, or (hang) accepted and never answered. */
  pause(mode?: 'refuse' | 'hang'): Promise<void>
  resume(): Promise<void>
  stop(): Promise<void>
}

type Command = (string | number)[]

const isCommand = (value: unknown): value is Command =>
  Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' || typeof v === 'number')

function encodeBase64(value: unknown): unknown {
  if (typeof value === 'string') return value === 'OK' ? value : Buffer.from(value, 'utf8').toString('base64')
  if (Array.isArray(value)) return value.map(encodeBase64)
  return value
}

export async function startUpstashServer(options: { redisUrl: string; token?: string; port?: number }): Promise<UpstashServer> {
  const token = options.token ?? `test-token-${crypto.randomUUID()}`
  const redis = new RedisClient(options.redisUrl, { autoReconnect: true })
  await redis.connect()
  // Upstash answers in RESP2 shapes (flat arrays for HGETALL, strings for scores).
  await redis.send('HELLO', ['2'])

  const counts = { single: 0, pipeline: 0, multiExec: 0, commands: 0 }
  const scriptCalls = new Map<string, number>()
  const run = (command: Command) => {
    counts.commands++
    const [name, ...args] = command
    if (String(name).toUpperCase() === 'EVALSHA') scriptCalls.set(String(args[0]), (scriptCalls.get(String(args[0])) ?? 0) + 1)
    return redis.send(String(name).toUpperCase(), args.map(String))
  }
  const settle = async (promise: Promise<unknown>) => {
    try {
      return { result: await promise }
    } catch (error) {
      return { error: describeError(error) }
    }
  }

  let hanging = false
  const handle = async (request: Request): Promise<Response> => {
    if (hanging) return new Promise<Response>(() => {})
    if (request.headers.get('authorization') !== `Bearer ${token}`) return Response.json({ error: 'Unauthorized' }, { status: 401 })
    const base64 = request.headers.get('upstash-encoding')?.toLowerCase() === 'base64'
    const encode = (item: { result?: unknown; error?: string }) => ('error' in item ? item : { result: base64 ? encodeBase64(item.result) : item.result })
    const path = new URL(request.url).pathname
    let body: unknown
    try {
      body = await request.json()
    } catch {
      return Response.json({ error: 'ERR failed to parse body' }, { status: 400 })
    }
    if (path === '/pipeline' || path === '/multi-exec') {
      if (!Array.isArray(body) || !body.every(isCommand)) return Response.json({ error: 'ERR body must be an array of commands' }, { status: 400 })
      if (path === '/pipeline') {
        counts.pipeline++
        // Issued in one tick, so the client's own pipelining keeps them in order.
        return Response.json((await Promise.all(body.map((c) => settle(run(c))))).map(encode))
      }
      counts.multiExec++
      const queued = [redis.send('MULTI', []), ...body.map((c) => run(c).catch(() => null)), redis.send('EXEC', [])]
      const results = await settle(Promise.all(queued).then((all) => all[all.length - 1]))
      if ('error' in results) return Response.json({ error: results.error }, { status: 400 })
      return Response.json((results.result as unknown[]).map((r) => (r instanceof Error ? { error: r.message } : encode({ result: r }))))
    }
    if (path === '/' || path === '') {
      if (!isCommand(body)) return Response.json({ error: 'ERR body must be a command array' }, { status: 400 })
      counts.single++
      const result = await settle(run(body))
      return 'error' in result ? Response.json(result, { status: 400 }) : Response.json(encode(result))
    }
    return Response.json({ error: `ERR unknown path ${path}` }, { status: 404 })
  }

  let server: Server<unknown> | null = Bun.serve({ port: options.port ?? 0, hostname: '127.0.0.1', fetch: handle })
  const port = server.port!
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    counts,
    scriptCalls,
    get requests() {
      return counts.single + counts.pipeline + counts.multiExec
    },
    resetCounts() {
      counts.single = counts.pipeline = counts.multiExec = counts.commands = 0
      scriptCalls.clear()
    },
    async pause(mode = 'refuse') {
      if (mode === 'hang') {
        hanging = true
        return
      }
      await server?.stop(true)
      server = null
    },
    async resume() {
      hanging = false
      server ??= Bun.serve({ port, hostname: '127.0.0.1', fetch: handle })
    },
    async stop() {
      await server?.stop(true)
      server = null
      redis.close()
    },
  }
}

export interface UpstashStack {
  redis: import('./redis').RedisServer
  rest: UpstashServer
  stop(): Promise<void>
}

/** A real redis-server on a free port with the Upstash REST protocol in front of it. */
export async function startUpstashStack(): Promise<UpstashStack> {
  const { startRedis } = await import('./redis')
  const redis = await startRedis()
  const rest = await startUpstashServer({ redisUrl: redis.url })
  return {
    redis,
    rest,
    async stop() {
      await rest.stop()
      await redis.stop()
    },
  }
}
