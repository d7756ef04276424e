/** Where and how to reach native Redis/Valkey: standalone or cluster, plain or TLS, with AUTH or an ACL user. */
export interface RedisConnection {
  host: string
  port: number
  username: string | null
  password: string | null
  /** Standalone only (a cluster has database 0 alone). */
  db: number
  /** TLS to Redis (ElastiCache in-transit encryption); `caPem` adds a private CA to the system's. */
  tls: { caPem: string | null } | null
  /** true / false as configured; 'auto' asks the server (`INFO cluster`) once at start. */
  cluster: boolean | 'auto'
}

/** A short description for logs and /health: never the password. */
export function describeConnection(c: RedisConnection, cluster: boolean): string {
  const parts = [cluster ? 'cluster' : 'standalone', c.tls ? 'TLS' : 'plain']
  if (c.username) parts.push(`ACL user ${c.username}`)
  else if (c.password) parts.push('AUTH')
  return `${c.host}:${c.port} (${parts.join(', ')})`
}
