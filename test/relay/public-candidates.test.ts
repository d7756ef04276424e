import { describe, expect, test } from 'bun:test'
import { loadRelayConfig } from '../../relay/config'
import { PublicAddresses, systemResolve } from '../../relay/ingest/public-addresses'
import { holdMuxPort } from '../../relay/peer'
import { PUBLIC_CANDIDATE_PRIORITY, withPublicCandidates } from '../../relay/rtp/sdp'
import type { Logger } from '../../src/log'
import { eventually } from '../support/eventually'

/** The answer libdatachannel gives a WHIP publisher on the mux port (candidates in the first m-section only). */
const ANSWER = [
  'v=0',
  'o=rtc 2549371784 0 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=video 47001 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP4 10.0.1.5',
  'a=mid:0',
  'a=recvonly',
  'a=rtpmap:96 H264/90000',
  'a=ice-ufrag:ObKB',
  'a=ice-pwd:78oH4USt6zVLUMzsM5xzeK',
  'a=candidate:2 1 UDP 2116026111 fd00::2 47001 typ host',
  'a=candidate:1 1 UDP 2114977791 10.0.1.5 47001 typ host',
  'a=end-of-candidates',
  'm=audio 47001 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 10.0.1.5',
  'a=mid:1',
  'a=recvonly',
  'a=rtpmap:111 opus/48000/2',
  '',
].join('\r\n')

const candidates = (sdp: string) => sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'))
const section = (sdp: string, mid: string) => {
  const parts = sdp.split(/\r\n(?=m=)/)
  return parts.find((p) => p.includes(`a=mid:${mid}\r\n`))!.split('\r\n')
}

describe('withPublicCandidates: the NAT public side as host candidates on the mux port', () => {
  test('one UDP host candidate per address, fresh foundations, priority above the own ones, before end-of-candidates', () => {
    const out = withPublicCandidates(ANSWER, ['203.0.113.7', '2001:db8::7'], 47001)
    const video = section(out, '0')
    expect(video.slice(video.indexOf('a=candidate:2 1 UDP 2116026111 fd00::2 47001 typ host'))).toEqual([
      'a=candidate:2 1 UDP 2116026111 fd00::2 47001 typ host',
      'a=candidate:1 1 UDP 2114977791 10.0.1.5 47001 typ host',
      `a=candidate:pub1 1 UDP ${PUBLIC_CANDIDATE_PRIORITY} 203.0.113.7 47001 typ host`,
      `a=candidate:pub2 1 UDP ${PUBLIC_CANDIDATE_PRIORITY - 256} 2001:db8::7 47001 typ host`,
      'a=end-of-candidates',
    ])
    expect(PUBLIC_CANDIDATE_PRIORITY).toBe(2130706431) // type 126, local preference 65535, component 1
    expect(PUBLIC_CANDIDATE_PRIORITY).toBeGreaterThan(2116026111)
    // Bundled: the audio section carries no candidates, and gets none.
    expect(candidates(section(out, '1').join('\r\n'))).toEqual([])
    // Everything else is untouched.
    expect(out.split('\r\n').filter((l) => !l.startsWith('a=candidate:pub'))).toEqual(ANSWER.split('\r\n'))
  })

  test('no addresses, or only ones already there on that port: unchanged; repeats collapse', () => {
    expect(withPublicCandidates(ANSWER, [], 47001)).toBe(ANSWER)
    expect(withPublicCandidates(ANSWER, ['10.0.1.5', 'FD00::2'], 47001)).toBe(ANSWER)
    // The same address on another port is another candidate.
    expect(candidates(withPublicCandidates(ANSWER, ['10.0.1.5'], 47002))).toContain(
      `a=candidate:pub1 1 UDP ${PUBLIC_CANDIDATE_PRIORITY} 10.0.1.5 47002 typ host`,
    )
    expect(candidates(withPublicCandidates(ANSWER, ['203.0.113.7', '203.0.113.7'], 47001)).filter((l) => l.includes('203.0.113.7'))).toHaveLength(1)
  })

  test('candidates in every section: added to each; none anywhere: to the first accepted section', () => {
    const everywhere = ANSWER.replace('a=recvonly\r\na=rtpmap:111', 'a=recvonly\r\na=candidate:1 1 UDP 2114977791 10.0.1.5 47001 typ host\r\na=rtpmap:111')
    const both = withPublicCandidates(everywhere, ['203.0.113.7'], 47001)
    expect(section(both, '0')).toContain(`a=candidate:pub1 1 UDP ${PUBLIC_CANDIDATE_PRIORITY} 203.0.113.7 47001 typ host`)
    const audio = section(both, '1')
    expect(audio[audio.indexOf('a=candidate:1 1 UDP 2114977791 10.0.1.5 47001 typ host') + 1]).toBe(
      `a=candidate:pub1 1 UDP ${PUBLIC_CANDIDATE_PRIORITY} 203.0.113.7 47001 typ host`,
    )

    // No interface address at all (and a rejected first section): the first accepted section ends with it.
    const bare = ANSWER.split('\r\n')
      .filter((l) => !/^a=(candidate|end-of-candidates)/.test(l))
      .join('\r\n')
      .replace('m=video 47001', 'm=video 0')
    const added = withPublicCandidates(bare, ['203.0.113.7'], 47001)
    expect(candidates(section(added, '0').join('\r\n'))).toEqual([])
    expect(
      section(added, '1')
        .filter((l) => l !== '')
        .at(-1),
    ).toBe(`a=candidate:pub1 1 UDP ${PUBLIC_CANDIDATE_PRIORITY} 203.0.113.7 47001 typ host`)
  })
})

const relayEnv = { API_SECRET_KEY: 'k'.repeat(24) }
const load = (env: Record<string, string>) => loadRelayConfig({ ...relayEnv, ...env }, 'host')
const errorsOf = (env: Record<string, string>) => {
  const result = load(env)
  return result.ok ? [] : result.errors
}

describe('WEBRTC_UDP_PORT and WEBRTC_PUBLIC_HOSTS', () => {
  test('unset: ephemeral ports, no public candidates', () => {
    const result = load({})
    expect(result.ok && { port: result.config.webrtcUdpPort, hosts: result.config.webrtcPublicHosts }).toEqual({ port: null, hosts: [] })
  })

  test('a port and a list of addresses and host names (IPv6 bare or in brackets, repeats dropped)', () => {
    const result = load({ WEBRTC_UDP_PORT: '50000', WEBRTC_PUBLIC_HOSTS: ' 203.0.113.7, Relay.Example.com ,[2001:db8::7],203.0.113.7,relay.example.com.' })
    expect(result.ok && result.config.webrtcUdpPort).toBe(50000)
    expect(result.ok && result.config.webrtcPublicHosts).toEqual(['203.0.113.7', 'relay.example.com', '2001:db8::7', 'relay.example.com.'])
    expect(load({ WEBRTC_UDP_PORT: '1' }).ok && load({ WEBRTC_UDP_PORT: '65535' }).ok).toBe(true)
  })

  test('a bad port is an error naming WEBRTC_UDP_PORT', () => {
    for (const bad of ['0', '65536', 'udp', '-5', '50000-50010'])
      expect(errorsOf({ WEBRTC_UDP_PORT: bad }).some((e) => e.startsWith('WEBRTC_UDP_PORT must'))).toBe(true)
  })

  test('public hosts without the port: an error naming both', () => {
    expect(errorsOf({ WEBRTC_PUBLIC_HOSTS: '203.0.113.7' })).toEqual([
      'WEBRTC_PUBLIC_HOSTS needs WEBRTC_UDP_PORT: the candidates it adds are on that one port (set both, and open that UDP port)',
    ])
  })

  test('entries that are not an address or a host name are errors naming WEBRTC_PUBLIC_HOSTS and the entry', () => {
    const cases: [string, string][] = [
      ['203.0.113.7:50000', 'no port'],
      ['https://relay.example.com', 'no port'],
      ['0.0.0.0', 'unspecified address'],
      ['::', 'unspecified address'],
      ['1.2.3.999', 'not a valid IPv4 address'],
      ['relay_host', 'not an address or host name'],
      ['-relay.example.com', 'not an address or host name'],
      [`${'a'.repeat(64)}.example.com`, 'not an address or host name'],
    ]
    for (const [entry, why] of cases) {
      const errors = errorsOf({ WEBRTC_UDP_PORT: '50000', WEBRTC_PUBLIC_HOSTS: entry })
      expect({ entry, errors }).toEqual({ entry, errors: [expect.stringContaining(`WEBRTC_PUBLIC_HOSTS: "${entry}"`)] })
      expect(errors[0]).toContain(why)
    }
    expect(errorsOf({ WEBRTC_UDP_PORT: '50000', WEBRTC_PUBLIC_HOSTS: '203.0.113.7,,203.0.113.8' })).toEqual([
      'WEBRTC_PUBLIC_HOSTS: the list has an empty entry',
    ])
  })
})

function recordingLogger(): Logger & { warnings: unknown[][] } {
  const warnings: unknown[][] = []
  const none = () => {}
  return { warnings, debug: none, info: none, error: none, warn: (...args: unknown[]) => void warnings.push(args) } as unknown as Logger & {
    warnings: unknown[][]
  }
}

describe('PublicAddresses: host names resolved for every answer', () => {
  test('addresses pass as they are; names are looked up at every call, so a changed address is picked up', async () => {
    const looked: string[] = []
    let answer = ['198.51.100.1']
    const addresses = new PublicAddresses(['203.0.113.7', 'relay.example.com', '2001:db8::7'], recordingLogger(), {
      resolve: async (host) => (looked.push(host), answer),
    })
    expect(await addresses.addresses()).toEqual(['203.0.113.7', '198.51.100.1', '2001:db8::7'])
    answer = ['198.51.100.2', '2001:db8::2', '203.0.113.7']
    expect(await addresses.addresses()).toEqual(['203.0.113.7', '198.51.100.2', '2001:db8::2', '2001:db8::7'])
    expect(looked).toEqual(['relay.example.com', 'relay.example.com'])
  })

  test('a failed or slow lookup gives that name its last good addresses (none before the first), with a warning', async () => {
    const logger = recordingLogger()
    let mode: 'ok' | 'fail' | 'hang' = 'fail'
    const addresses = new PublicAddresses(['relay.example.com'], logger, {
      timeoutMs: 50,
      resolve: (host) =>
        mode === 'ok' ? Promise.resolve(['198.51.100.1']) : mode === 'hang' ? new Promise(() => {}) : Promise.reject(new Error(`ENOTFOUND ${host}`)),
    })
    expect(await addresses.addresses()).toEqual([])
    mode = 'ok'
    expect(await addresses.addresses()).toEqual(['198.51.100.1'])
    mode = 'hang'
    const started = performance.now()
    expect(await addresses.addresses()).toEqual(['198.51.100.1'])
    expect(performance.now() - started).toBeLessThan(1_000)
    mode = 'fail'
    expect(await addresses.addresses()).toEqual(['198.51.100.1'])
    expect(logger.warnings.map((w) => (w[1] as { error: string }).error)).toEqual([
      expect.stringContaining('ENOTFOUND relay.example.com'),
      'no answer within 50 ms',
      expect.stringContaining('ENOTFOUND relay.example.com'),
    ])
  })

  test('the system resolver: localhost is 127.0.0.1 (or ::1)', async () => {
    const found = await systemResolve('localhost')
    expect(found.some((a) => a === '127.0.0.1' || a === '::1')).toBe(true)
  })
})

async function udpBindable(port: number): Promise<boolean> {
  try {
    const socket = await Bun.udpSocket({ hostname: '127.0.0.1', port })
    socket.close()
    return true
  } catch {
    return false
  }
}

describe('holdMuxPort: WEBRTC_UDP_PORT is the relay’s from start to stop', () => {
  test('the port is bound until close(); a port another socket holds fails with an error naming WEBRTC_UDP_PORT', async () => {
    const probe = await Bun.udpSocket({ hostname: '127.0.0.1', port: 0 })
    const port = probe.port
    // Taken by another socket: the relay cannot start on it.
    expect(() => holdMuxPort({ bindAddress: '127.0.0.1', muxPort: port })).toThrow(`WEBRTC_UDP_PORT ${port}: the relay cannot open that UDP port`)
    probe.close()
    const hold = holdMuxPort({ bindAddress: '127.0.0.1', muxPort: port })
    try {
      expect(await udpBindable(port)).toBe(false)
    } finally {
      hold.close()
    }
    await eventually('the port is free again', () => udpBindable(port), 5_000)
  })
})
