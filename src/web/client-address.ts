import { BlockList, isIP } from 'node:net'

/**
 * Whose word to take for the client's address (TRUST_PROXY): nobody's (the peer is the client), the
 * last `hops` proxies', or proxies at these addresses. X-Forwarded-For lists the addresses each proxy
 * saw, appended left to right; a client can write anything at its left end, so the client is found
 * from the right: the first address that is not a trusted proxy.
 */
export type ProxyTrust = { kind: 'none' } | { kind: 'hops'; hops: number } | { kind: 'addresses'; list: BlockList; entries: string[] }

export const TRUST_NONE: ProxyTrust = { kind: 'none' }

const MAX_HOPS = 10

/** TRUST_PROXY: unset/false, a hop count, or a comma-separated list of addresses and CIDRs (`true` = one hop, with a warning). */
export function parseProxyTrust(value: string | undefined): { trust: ProxyTrust; warning?: string } | { error: string } {
  const text = value?.trim().toLowerCase() ?? ''
  if (text === '' || text === 'false' || text === 'no' || text === '0') return { trust: TRUST_NONE }
  if (text === 'true' || text === 'yes')
    return {
      trust: { kind: 'hops', hops: 1 },
      warning:
        'TRUST_PROXY=true is read as 1: the right-most X-Forwarded-For entry is the client. That is only safe behind exactly one proxy that appends it; name the proxy instead (TRUST_PROXY=10.0.0.0/8)',
    }
  if (/^\d+$/.test(text)) {
    const hops = Number(text)
    if (hops > MAX_HOPS) return { error: `TRUST_PROXY as a hop count must be 0-${MAX_HOPS}, got ${hops}` }
    return { trust: { kind: 'hops', hops } }
  }
  const parsed = parseAddressList(text)
  if ('bad' in parsed) {
    return {
      error: `TRUST_PROXY must be false, a hop count (e.g. 1) or your proxies' addresses and CIDRs separated by commas (e.g. 10.0.0.0/8,192.168.1.5); "${parsed.bad}" is none of these`,
    }
  }
  return { trust: { kind: 'addresses', ...parsed } }
}

/** Addresses and CIDRs, as configured. */
export interface AddressList {
  list: BlockList
  entries: string[]
}

/** A comma-separated list of IPv4/IPv6 addresses and CIDRs; `bad` names the first entry that is neither. */
export function parseAddressList(text: string): AddressList | { bad: string } {
  const list = new BlockList()
  const entries = text.split(',').map((e) => e.trim())
  for (const entry of entries) {
    const [address, prefixText, extra] = entry.split('/')
    const family = isIP(address ?? '')
    const prefix = prefixText === undefined ? null : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN
    const maxPrefix = family === 6 ? 128 : 32
    if (family === 0 || extra !== undefined || (prefix !== null && !(prefix >= 0 && prefix <= maxPrefix))) return { bad: entry }
    const type = family === 6 ? 'ipv6' : 'ipv4'
    if (prefix === null) list.addAddress(address!, type)
    else list.addSubnet(address!, prefix, type)
  }
  return { list, entries }
}

/** Is `address` in the list (IPv4-mapped IPv6 addresses checked as IPv4 too)? */
export function listed(list: BlockList, address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return list.check(mapped[1]!, 'ipv4') || list.check(address, 'ipv6')
  const family = isIP(address)
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4')
}

/** An address as X-Forwarded-For may carry it: IPv4 or IPv6, maybe with a port or brackets; null when it is not one. */
function normalise(entry: string): string | null {
  let text = entry.trim()
  const bracketed = text.match(/^\[([^\]]+)\](?::\d+)?$/)
  if (bracketed) text = bracketed[1]!
  else if (/^[\d.]+:\d+$/.test(text)) text = text.slice(0, text.indexOf(':'))
  return isIP(text) ? text : null
}

const trusted = listed

/** What Bun's server tells of a request's peer. */
export interface Peer {
  requestIP(request: Request): { address: string } | null
}

/**
 * The function that names a request's client under `trust` (the peer from Bun's server), as a limit key.
 * Worked out once per request (several hooks ask; `requestIP` is a native call and the key is parsed).
 */

export function clientOfRequest(trust: ProxyTrust) {
  const known = new WeakMap<Request, string>()
  const addressOf = clientAddressOf(trust)
  return (request: Request, server: Peer | null): string => {
    let client = known.get(request)
    if (client === undefined) {
      client = clientKey(addressOf(request, server))
      known.set(request, client)
    }
    return client
  }
}

/** The client's own address under `trust` (not a limit key: an IPv6 address stays whole), once per request. */
export function clientAddressOf(trust: ProxyTrust) {
  const known = new WeakMap<Request, string>()
  return (request: Request, server: Peer | null): string => {
    let address = known.get(request)
    if (address === undefined) {
      address = clientAddress(server?.requestIP(request)?.address ?? 'unknown', request.headers.get('x-forwarded-for'), trust)
      known.set(request, address)
    }
    return address
  }
}

/** The eight 16-bit groups of an IPv6 address (null when it is not one). */
function ipv6Groups(address: string): number[] | null {
  if (isIP(address) !== 6) return null
  let text = address.toLowerCase()
  const v4 = text.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/)
  if (v4) {
    const [a, b, c, d] = v4[2]!.split('.').map(Number) as [number, number, number, number]
    text = `${v4[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, null]
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const groups = [...left, ...Array(tail === null ? 0 : 8 - left.length - right.length).fill('0'), ...right]
  return groups.map((group) => Number.parseInt(group, 16))
}

/**
 * One key per client for limits: an IPv4-mapped IPv6 address is its IPv4 address, and IPv6 is
 * counted per /64 (one subscriber's network: a single host can use any of its 2^64 addresses, so
 * counting per address would give it a fresh budget with every one of them).
 */
export function clientKey(address: string): string {
  const groups = ipv6Groups(address)
  if (!groups) return address
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`
}

/** The client's address for this request under `trust`, from the peer's address and X-Forwarded-For. */
export function clientAddress(peer: string, forwardedFor: string | null, trust: ProxyTrust): string {
  if (trust.kind === 'none' || !forwardedFor) return peer
  // Left to right as appended, the peer (the nearest hop) last.
  const chain = [...forwardedFor.split(',').map(normalise), peer]
  if (trust.kind === 'hops') {
    for (let i = chain.length - 1 - trust.hops; i < chain.length; i++) {
      const address = chain[Math.max(0, i)]
      if (address) return address
    }
    return peer
  }
  for (let i = chain.length - 1; i >= 0; i--) {
    const address = chain[i]
    // Something that is not an address where a proxy would have written one: the last trusted hop it is.
    if (!address) return chain[i + 1] ?? peer
    if (!trusted(trust.list, address)) return address
  }
  return chain[0] ?? peer
}
