import { isIP } from 'node:net'
import { type ConfigResult, type Env, EnvReader } from '../src/config/env'
import { type HardeningConfig, readHardening, readPreviousApiKey, readSecret } from '../src/config/hardening'
import type { LogLevel } from '../src/log'

export interface RelayConfig extends HardeningConfig {
  port: number
  logLevel: LogLevel
  apiServerUrl: string
  apiSecretKey: string
  /** API_SECRET_KEY_PREVIOUS: accepted beside the API key on /metrics and /health details while a rotation rolls out (the relay sends API_SECRET_KEY). */
  apiSecretKeyPrevious: string | null
  serverId: string
  serverIp: string
  /** Overrides the WHIP URL each stage reports; null = use the stage's own (from its publish token). */
  whipEndpoint: string | null
  publishSecret: string | null
  heartbeatIntervalMs: number
  stageSyncIntervalMs: number
  enableAutoSync: boolean
  /** WEBRTC_UDP_PORT: every publisher (ingest) session on this one UDP port (ICE UDP mux); null = an ephemeral port per session. */
  webrtcUdpPort: number | null
  /** WEBRTC_PUBLIC_HOSTS: addresses and host names added to every WHIP answer as candidates on that port (a 1:1 NAT's public side). */
  webrtcPublicHosts: string[]
  warnings: string[]
}

export function loadRelayConfig(env: Env, hostname: string): ConfigResult<RelayConfig> {
  const r = new EnvReader(env)
  const apiSecretKey = readSecret(r, 'API_SECRET_KEY')
  if (apiSecretKey === null) r.errors.push('API_SECRET_KEY is required: the relay calls the API server with it')
  const publishSecret = readSecret(r, 'PUBLISH_SECRET')
  const serverId = r.string('SERVER_ID', `relay-${hostname}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128))
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(serverId)) r.errors.push('SERVER_ID must be 1-128 letters, digits, ".", "_" or "-"')
  const config: RelayConfig = {
    port: r.port(3001),
    logLevel: r.logLevel(),
    apiServerUrl: r.url('API_SERVER_URL', 'http://localhost:3000')!,
    apiSecretKey: apiSecretKey ?? '',
    apiSecretKeyPrevious: readPreviousApiKey(r, apiSecretKey),
    serverId,
    serverIp: r.string('SERVER_IP', '127.0.0.1'),
    whipEndpoint: r.url('WHIP_ENDPOINT', null),
    publishSecret,
    heartbeatIntervalMs: r.int('HEARTBEAT_INTERVAL', 30_000, 1_000),
    stageSyncIntervalMs: r.int('STAGE_SYNC_INTERVAL', 60_000, 1_000),
    enableAutoSync: r.bool('ENABLE_AUTO_SYNC', true),
    ...readWebrtcNetwork(r),
    ...readHardening(r),
    warnings: r.warnings,
  }
  return r.result(config)
}

const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/

/** Why `entry` cannot be a public address or host name, or null when it can. */
export function publicHostProblem(entry: string): string | null {
  if (entry.includes(':') && isIP(entry) !== 6) return 'is not an address or host name (no port: the candidates are on WEBRTC_UDP_PORT; no scheme)'
  const family = isIP(entry)
  if (family !== 0) return entry === '0.0.0.0' || entry === '::' ? 'is the unspecified address, which no publisher can reach' : null
  if (/^[\d.]+$/.test(entry)) return 'is not a valid IPv4 address'
  const name = entry.endsWith('.') ? entry.slice(0, -1) : entry
  if (name.length === 0 || name.length > 253 || !name.split('.').every((label) => HOST_LABEL.test(label)))
    return 'is not an address or host name (letters, digits, "-" and dots; no port, no scheme)'
  return null
}

/** WEBRTC_UDP_PORT and WEBRTC_PUBLIC_HOSTS: how publishers behind the internet reach the relay on a 1:1-NAT'd VM. */
function readWebrtcNetwork(r: EnvReader): { webrtcUdpPort: number | null; webrtcPublicHosts: string[] } {
  const webrtcUdpPort = r.raw('WEBRTC_UDP_PORT') === undefined ? null : r.int('WEBRTC_UDP_PORT', 0, 1, 65535) || null
  const raw = r.raw('WEBRTC_PUBLIC_HOSTS')
  if (raw === undefined) return { webrtcUdpPort, webrtcPublicHosts: [] }
  const webrtcPublicHosts: string[] = []
  // An IPv6 address may come in brackets, as in a URL.
  for (const entry of raw.split(',').map((e) => e.trim().replace(/^\[(.*)\]$/, '$1'))) {
    const problem = entry === '' ? 'has an empty entry' : publicHostProblem(entry)
    if (problem) r.errors.push(`WEBRTC_PUBLIC_HOSTS: ${entry === '' ? 'the list' : `"${entry}"`} ${problem}`)
    else if (!webrtcPublicHosts.includes(entry.toLowerCase())) webrtcPublicHosts.push(entry.toLowerCase())
  }
  if (r.raw('WEBRTC_UDP_PORT') === undefined)
    r.errors.push('WEBRTC_PUBLIC_HOSTS needs WEBRTC_UDP_PORT: the candidates it adds are on that one port (set both, and open that UDP port)')
  return { webrtcUdpPort, webrtcPublicHosts }
}
