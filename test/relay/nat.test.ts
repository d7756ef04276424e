import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import type { udp } from 'bun'
import { eventually } from '../support/eventually'
import { withoutCandidates } from '../support/lossy-path'
import { BUN, bareEnv, freePort, type Spawned, spawnProcess, spawnRelay } from '../support/process'
import { TestPublisher } from '../support/publisher'
import { PUBLISH_SECRET, startRelayStack } from '../support/relay-stack'
import { startTestServer, type TestServer } from '../support/serve'
import { startWhipEndpoint, type WhipEndpoint } from '../support/whip-endpoint'

/**
 * The relay on a cloud VM: its interfaces hold only private addresses behind a 1:1 NAT, so a
 * publisher on the internet can use none of the relay's own candidates, and the relay learns the
 * publisher's address only from its checks. The tests give each side exactly that: the publisher's
 * offer reaches the relay without candidates, and the publisher keeps only the answer's candidates
 * at the public address (`onlyAt`); nothing else of the relay's is reachable "from outside".
 */

const candidateLines = (sdp: string) => sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'))
const candidate = (line: string) => {
  const [foundation, , , , address, port] = line.slice('a=candidate:'.length).split(' ')
  return { foundation: foundation!, address: address!, port: Number(port) }
}

/** The answer as seen from outside the NAT: only its candidates at `address` are reachable. */
function onlyAt(address: string | null, seen: string[]) {
  return (answer: string) => {
    seen.push(answer)
    return answer
      .split('\r\n')
      .filter((l) => !l.startsWith('a=candidate:') || (address !== null && candidate(l).address === address))
      .join('\r\n')
  }
}

/** Whether the publisher's connection opens (ICE and DTLS up, media flowing) within `ms`. */
function connectsWithin(publisher: TestPublisher, ms: number): Promise<'connected' | 'not connected'> {
  return Promise.race([publisher.start().then(() => 'connected' as const), Bun.sleep(ms).then(() => 'not connected' as const)])
}

async function freeUdpPort(): Promise<number> {
  const probe = await Bun.udpSocket({ port: 0 })
  const port = probe.port
  probe.close()
  return port
}

/** The local ports of every UDP socket a process holds (from /proc: its fds, then the kernel's socket tables). */
function udpPortsOf(pid: number): number[] {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/)
      if (target) inodes.add(target[1]!)
    } catch {}
  }
  const ports: number[] = []
  for (const table of ['udp', 'udp6']) {
    for (const row of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/)
      if (cols.length > 9 && inodes.has(cols[9]!)) ports.push(Number.parseInt(cols[1]!.split(':')[1]!, 16))
    }
  }
  return ports.sort((a, b) => a - b)
}

let whip: WhipEndpoint
let serve: TestServer
const stageArns: string[] = []
/** Each stage's offers from the relay, in order. */
const offers = new Map<string, string[]>()

beforeAll(async () => {
  whip = await startWhipEndpoint({
    transformOffer: (arn, offer) => {
      offers.set(arn, [...(offers.get(arn) ?? []), offer])
      return offer
    },
  })
  serve = await startTestServer({ LOCAL_WHIP_URL: whip.url })
  const created = await (await serve.api('/api/stage', { method: 'POST', json: {}, headers: {} })).json()
  stageArns.push((await serve.stages.master()).arn, created.data.stageArn)
})
afterAll(async () => {
  await serve?.stop()
  await whip?.stop()
})

/**
 * `src/main.ts relay` as a process with these WebRTC settings; resolves once it is ready (registered,
 * following serve's events). Its stage sessions start with its publisher (one feeding relay).
 */
async function startRelayProcess(env: Record<string, string>): Promise<{ p: Spawned; url: string }> {
  return spawnRelay({ API_SERVER_URL: serve.url, API_SECRET_KEY: serve.apiKey, SERVER_ID: 'relay-nat', PUBLISH_SECRET, ...env })
}

const packets = () => stageArns.map((arn) => ({ video: whip.record(arn).videoPackets, audio: whip.record(arn).audioPackets }))

describe('the relay behind a 1:1 NAT: WEBRTC_UDP_PORT and WEBRTC_PUBLIC_HOSTS (relay as a process)', () => {
  test('the publisher has only the public candidate, the relay none of the publisher’s: media reaches every stage; every publisher session is on the one UDP port', async () => {
    const udpPort = await freeUdpPort()
    // A host name, resolved by the relay: loopback is never among the relay's own candidates (RFC 8445
    // leaves loopback out), so 127.0.0.1 can only come from WEBRTC_PUBLIC_HOSTS.
    const { p, url } = await startRelayProcess({ WEBRTC_UDP_PORT: String(udpPort), WEBRTC_PUBLIC_HOSTS: 'localhost' })
    try {
      // The port is the relay's from the start, before any publisher.
      expect(udpPortsOf(p.proc.pid)).toContain(udpPort)
      const answers: string[] = []
      for (let round = 1; round <= 2; round++) {
        const before = packets()
        const publisher = new TestPublisher(url, PUBLISH_SECRET, { transformOffer: withoutCandidates, transformAnswer: onlyAt('127.0.0.1', answers) })
        expect(await connectsWithin(publisher, 10_000)).toBe('connected')
        await eventually(
          `round ${round}: media on every stage`,
          () => packets().every((n, i) => n.video > before[i]!.video + 30 && n.audio > before[i]!.audio + 20),
          15_000,
        )
        // One socket on the one port, shared by the publisher session (and the idle holder).
        expect(udpPortsOf(p.proc.pid).filter((port) => port === udpPort)).toHaveLength(1)
        await publisher.stop()
      }
      for (const answer of answers) {
        const all = candidateLines(answer).map(candidate)
        console.log(`relay answer's candidates: ${all.map((c) => `${c.foundation} ${c.address}:${c.port}`).join(', ')}`)
        // Every candidate of every answer is on the one port; the public one is there, the own ones are not loopback.
        expect(all.every((c) => c.port === udpPort)).toBe(true)
        expect(all.filter((c) => c.foundation.startsWith('pub')).map((c) => c.address)).toContain('127.0.0.1')
        expect(all.filter((c) => !c.foundation.startsWith('pub')).some((c) => c.address.startsWith('127.'))).toBe(false)
      }
      // Stage sessions stay on ephemeral ports: IVS answers ICE-lite, which the mux cannot take (test/relay/ice-lite-egress.test.ts).
      for (const arn of stageArns) for (const c of candidateLines(offers.get(arn)!.at(-1)!).map(candidate)) expect(c.port).not.toBe(udpPort)
      p.kill('SIGTERM')
      expect(await p.proc.exited).toBe(0)
    } finally {
      if (p.proc.exitCode === null) p.kill('SIGKILL')
    }
  }, 60_000)

  test('control: the same relay without WEBRTC_PUBLIC_HOSTS offers the publisher no reachable candidate, and it cannot connect', async () => {
    const udpPort = await freeUdpPort()
    const { p, url } = await startRelayProcess({ WEBRTC_UDP_PORT: String(udpPort) })
    const answers: string[] = []
    const publisher = new TestPublisher(url, PUBLISH_SECRET, { transformOffer: withoutCandidates, transformAnswer: onlyAt('127.0.0.1', answers) })
    try {
      const before = packets()
      expect(await connectsWithin(publisher, 10_000)).toBe('not connected')
      expect(answers).toHaveLength(1)
      expect(candidateLines(answers[0]!).some((l) => candidate(l).address === '127.0.0.1')).toBe(false)
      const health = await (await fetch(`${url}/health`)).json()
      expect(health.data.publisher?.packetsIn ?? 0).toBe(0)
      expect(packets()).toEqual(before)
    } finally {
      await publisher.stop()
      p.kill('SIGKILL')
      await p.proc.exited
    }
  }, 60_000)

  test('a WEBRTC_UDP_PORT another socket holds: the relay does not start, and says which port', async () => {
    const taken = await Bun.udpSocket({ port: 0 })
    try {
      const p = spawnProcess(
        [BUN, 'run', 'src/main.ts', 'relay'],
        bareEnv({ API_PORT: String(await freePort()), API_SERVER_URL: serve.url, API_SECRET_KEY: serve.apiKey, WEBRTC_UDP_PORT: String(taken.port) }),
      )
      expect(await p.proc.exited).toBe(1)
      expect(p.stdout()).toContain(`WEBRTC_UDP_PORT ${taken.port}: the relay cannot open that UDP port`)
    } finally {
      taken.close()
    }
  })

  test('WEBRTC_PUBLIC_HOSTS without WEBRTC_UDP_PORT: exit 2 naming both', async () => {
    const p = spawnProcess(
      [BUN, 'run', 'src/main.ts', 'relay'],
      bareEnv({ API_PORT: String(await freePort()), API_SECRET_KEY: 'k'.repeat(24), WEBRTC_PUBLIC_HOSTS: '203.0.113.7' }),
    )
    expect(await p.proc.exited).toBe(2)
    expect(p.stderr()).toContain('WEBRTC_PUBLIC_HOSTS needs WEBRTC_UDP_PORT')
  })
})

/**
 * A 1:1 NAT: datagrams to the public address `public:port` go to the relay's private `127.0.0.1:port`,
 * and the relay's replies leave from the public address. The relay never listens on the public address.
 */
async function startNat(publicAddress: string, port: number) {
  let outside: { address: string; port: number } | null = null
  const counts = { in: 0, out: 0 }
  let inside: udp.Socket<'buffer'> | null = null
  const facingOutside = await Bun.udpSocket({
    hostname: publicAddress,
    port,
    socket: {
      data(_s, data, fromPort, fromAddress) {
        outside = { address: fromAddress, port: fromPort }
        counts.in++
        inside?.send(data, port, '127.0.0.1')
      },
    },
  })
  inside = await Bun.udpSocket({
    hostname: '127.0.0.1',
    socket: {
      data(_s, data) {
        if (!outside) return
        counts.out++
        facingOutside.send(data, outside.port, outside.address)
      },
    },
  })
  return {
    counts,
    close() {
      facingOutside.close()
      inside?.close()
    },
  }
}

describe('the relay behind a 1:1 NAT that translates (127.0.0.2 standing in for the public address)', () => {
  test('the publisher reaches the relay only through the NAT’s public address: media reaches every stage', async () => {
    const udpPort = await freeUdpPort()
    // In process: the relay's ICE bound to 127.0.0.1 only (a process binds every address, the NAT's public one included).
    const stack = await startRelayStack({ relayEnv: { WEBRTC_UDP_PORT: String(udpPort), WEBRTC_PUBLIC_HOSTS: '127.0.0.2' } })
    const nat = await startNat('127.0.0.2', udpPort)
    const answers: string[] = []
    const publisher = new TestPublisher(stack.relay.url, PUBLISH_SECRET, { transformOffer: withoutCandidates, transformAnswer: onlyAt('127.0.0.2', answers) })
    try {
      const arns = [(await stack.serve.stages.master()).arn]
      await eventually('master live', () => stack.relay.fanout.liveStages().includes(arns[0]!), 10_000)
      expect(await connectsWithin(publisher, 10_000)).toBe('connected')
      await eventually('media on the stage', () => stack.whip.record(arns[0]!).videoPackets > 30 && stack.whip.record(arns[0]!).audioPackets > 20, 15_000)
      // The relay's own candidate (127.0.0.1) was withheld: every datagram crossed the NAT, both ways.
      expect(candidateLines(answers[0]!).map(candidate)).toContainEqual({ foundation: 'pub1', address: '127.0.0.2', port: udpPort })
      const received = stack.relay.fanout.publisherSession!.stats().packetsIn
      expect(received).toBeGreaterThan(30)
      expect(nat.counts.in).toBeGreaterThanOrEqual(received)
      expect(nat.counts.out).toBeGreaterThan(0)
    } finally {
      await publisher.stop()
      await stack.stop()
      nat.close()
    }
  }, 60_000)
})
