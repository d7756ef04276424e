import { expect, test } from 'bun:test'
import { clientAddress, type ProxyTrust, parseProxyTrust } from '../../src/web/client-address'

function trust(value: string): ProxyTrust {
  const parsed = parseProxyTrust(value)
  if ('error' in parsed) throw new Error(parsed.error)
  return parsed.trust
}

test('TRUST_PROXY: unset/false trusts nobody, a number is a hop count, a list names proxies; true is one hop with a warning', () => {
  expect(trust('')).toEqual({ kind: 'none' })
  expect(trust('false')).toEqual({ kind: 'none' })
  expect(trust('2')).toEqual({ kind: 'hops', hops: 2 })
  const legacy = parseProxyTrust('true')
  expect('trust' in legacy && legacy.trust).toEqual({ kind: 'hops', hops: 1 })
  expect('warning' in legacy && legacy.warning).toContain('TRUST_PROXY=true is read as 1')
  expect(trust('10.0.0.0/8, 192.168.1.5,::1').kind).toBe('addresses')
  for (const bad of ['11', 'proxy.example.com', '10.0.0.0/33', '10.0.0.1/8/2', '::1/129', '10.0.0.0/x']) {
    const parsed = parseProxyTrust(bad)
    expect('error' in parsed && parsed.error).toContain('TRUST_PROXY')
  }
})

test('trusting nobody: X-Forwarded-For is ignored, the peer is the client', () => {
  expect(clientAddress('203.0.113.9', '1.2.3.4', trust('false'))).toBe('203.0.113.9')
})

test('a hop count takes the address that many hops back from the peer, never what the client wrote further left', () => {
  const oneHop = trust('1')
  // The proxy appended the real client (198.51.100.7); whatever the client wrote before it is ignored.
  expect(clientAddress('10.0.0.2', 'spoofed, 198.51.100.7', oneHop)).toBe('198.51.100.7')
  expect(clientAddress('10.0.0.2', '6.6.6.6, 7.7.7.7, 198.51.100.7', oneHop)).toBe('198.51.100.7')
  expect(clientAddress('10.0.0.3', '198.51.100.7, 10.0.0.2', trust('2'))).toBe('198.51.100.7')
  // Fewer entries than hops: the left-most there is.
  expect(clientAddress('10.0.0.3', '198.51.100.7', trust('3'))).toBe('198.51.100.7')
})

test('a proxy list: the client is the right-most address that is not a trusted proxy', () => {
  const proxies = trust('10.0.0.0/8,2001:db8::/32')
  expect(clientAddress('10.0.0.2', '1.1.1.1, 198.51.100.7, 10.1.2.3', proxies)).toBe('198.51.100.7')
  expect(clientAddress('2001:db8::5', '[2001:db8::9]:443, 198.51.100.7:5000', proxies)).toBe('198.51.100.7')
  // A peer that is not a proxy is the client, whatever it claims.
  expect(clientAddress('203.0.113.9', '1.2.3.4', proxies)).toBe('203.0.113.9')
  // Garbage where a proxy would have written an address: stop at the last trusted hop.
  expect(clientAddress('10.0.0.2', 'not-an-ip, 10.9.9.9', proxies)).toBe('10.9.9.9')
  // Every hop trusted: the left-most.
  expect(clientAddress('10.0.0.2', '10.0.0.5, 10.0.0.6', proxies)).toBe('10.0.0.5')
})

test('limit keys: IPv4-mapped IPv6 is its IPv4 address, IPv6 counts per /64 whatever the spelling', async () => {
  const { clientKey } = await import('../../src/web/client-address')
  expect(clientKey('198.51.100.7')).toBe('198.51.100.7')
  expect(clientKey('::ffff:198.51.100.7')).toBe('198.51.100.7')
  expect(clientKey('::FFFF:c633:6407')).toBe('198.51.100.7')
  expect(clientKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64')
  expect(clientKey('2001:DB8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64')
  expect(clientKey('2001:0db8:0001:0002:0:0:0:9')).toBe('2001:db8:1:2::/64')
  expect(clientKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64')
  expect(clientKey('::1')).toBe('0:0:0:0::/64')
  expect(clientKey('unknown')).toBe('unknown')
})
