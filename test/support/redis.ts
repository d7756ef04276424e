import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { requireTool, requireTools } from '../setup/system-tools'
import { eventually } from './eventually'
import { killAtRunEnd, tempDir } from './leftovers'
import { freePort } from './process'

/**
 * Real redis-server processes for tests, each on a free port with nothing kept on disk: plain,
 * TLS with a password or ACL user (certificates made here with openssl), and a local 3-master
 * cluster built with `redis-cli --cluster create`. A missing redis-server, redis-cli or openssl is a
 * MissingToolError naming it (test/setup/system-tools.ts), before anything is started or made.
 */

export interface RedisServer {
  port: number
  url: string
  /** The same server to a client: password, TLS and CA as the server was started with. */
  password: string | null
  tls: TlsFiles | null
  /** SIGSTOP: connections stay open, nothing answers. */
  pause(): void
  resume(): void
  stop(): Promise<void>
}

export interface TlsFiles {
  dir: string
  caCert: string
  serverCert: string
  serverKey: string
}

export interface RedisOptions {
  password?: string
  tls?: TlsFiles
  /** Extra redis-server arguments. */
  args?: string[]
  port?: number
}

const redisBinary = (name: 'redis-server' | 'redis-cli'): string => requireTool(name)

async function waitForPort(port: number, proc: Subprocess, timeoutMs = 5_000): Promise<void> {
  await eventually(
    `redis-server to start on port ${port}`,
    async () => {
      const ok = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } }).then(
        (s) => (s.end(), true),
        () => false,
      )
      if (!ok && proc.exitCode !== null) throw new Error(`redis-server did not start on port ${port}: it exited (${proc.exitCode})`)
      return ok
    },
    timeoutMs,
    20,
  )
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort())
  const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no']
  if (options.tls) {
    const t = options.tls
    args.push(
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--tls-cert-file',
      t.serverCert,
      '--tls-key-file',
      t.serverKey,
      '--tls-ca-cert-file',
      t.caCert,
      '--tls-auth-clients',
      'no',
    )
  } else {
    args.push('--port', String(port))
  }
  if (options.password) args.push('--requirepass', options.password)
  args.push(...(options.args ?? []))
  const proc = killAtRunEnd(Bun.spawn([redisBinary('redis-server'), ...args], { stdout: 'ignore', stderr: 'inherit' }))
  await waitForPort(port, proc).catch((error) => {
    proc.kill('SIGKILL')
    throw error
  })
  const scheme = options.tls ? 'rediss' : 'redis'
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : ''
  return {
    port,
    url: `${scheme}://${auth}127.0.0.1:${port}`,
    password: options.password ?? null,
    tls: options.tls ?? null,
    pause: () => void proc.kill('SIGSTOP'),
    resume: () => void proc.kill('SIGCONT'),
    async stop() {
      proc.kill('SIGCONT')
      proc.kill('SIGKILL')
      await proc.exited
    },
  }
}

/** A CA and a server certificate for 127.0.0.1 / localhost, made with openssl in a temporary folder (removed at the end of the run). */
export async function makeTlsFiles(): Promise<TlsFiles> {
  const openssl = requireTool('openssl')
  const dir = tempDir('ivsf-tls-')
  const f = (name: string) => join(dir, name)
  const run = async (args: string[]) => {
    const proc = Bun.spawn([openssl, ...args], { cwd: dir, stdout: 'ignore', stderr: 'pipe' })
    if ((await proc.exited) !== 0) throw new Error(`openssl ${args[0]} failed: ${await new Response(proc.stderr).text()}`)
  }
  await run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=ivs-fanout test CA', '-keyout', f('ca.key'), '-out', f('ca.crt')])
  await run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', f('server.key'), '-out', f('server.csr')])
  await Bun.write(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  await run([
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('san.ext'),
    '-out',
    f('server.crt'),
  ])
  return { dir, caCert: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key') }
}

export interface RedisCluster {
  nodes: RedisServer[]
  /** Seed address for a cluster client. */
  host: string
  port: number
  stop(): Promise<void>
}

/** Three masters (no replicas) on free ports, slots spread by redis-cli, waited for until the cluster state is ok. */
export async function startRedisCluster(count = 3): Promise<RedisCluster> {
  requireTools('redis-server', 'redis-cli')
  const dir = tempDir('ivsf-cluster-')
  const nodes: RedisServer[] = []
  try {
    await createCluster(nodes, count, dir)
  } catch (error) {
    await Promise.all(nodes.map((n) => n.stop()))
    throw error
  }
  return {
    nodes,
    host: '127.0.0.1',
    port: nodes[0]!.port,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()))
    },
  }
}

async function createCluster(nodes: RedisServer[], count: number, dir: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const port = await freePort()
    nodes.push(
      await startRedis({
        port,
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000', '--dir', dir],
      }),
    )
  }
  const create = Bun.spawn(
    [redisBinary('redis-cli'), '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
    {
      stdout: 'pipe',
      stderr: 'pipe',
    },
  )
  if ((await create.exited) !== 0)
    throw new Error(`redis-cli --cluster create failed: ${await new Response(create.stdout).text()}${await new Response(create.stderr).text()}`)
  const clusterOk = (port: number) =>
    Bun.spawnSync([redisBinary('redis-cli'), '-p', String(port), 'cluster', 'info'])
      .stdout.toString()
      .includes('cluster_state:ok')
  await eventually('every cluster node at cluster_state:ok', () => nodes.every((node) => clusterOk(node.port)), 15_000, 50)
}
