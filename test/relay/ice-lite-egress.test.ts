import { describe, expect, test } from 'bun:test'
import nodeDataChannel from 'node-datachannel'
import { gatheredDescription } from '../../relay/peer'
import { eventually } from '../support/eventually'
import { asIceLite, type IceLitePath, icePassword, startIceLitePath } from '../support/ice-lite-path'
import { candidatesAt, hostCandidate, withoutCandidates } from '../support/lossy-path'
import { TestPublisher } from '../support/publisher'
import { PUBLISH_SECRET, startRelayStack } from '../support/relay-stack'

/**
 * Why WEBRTC_UDP_PORT is the publisher's port only. libjuice's ICE UDP mux hands a datagram to a
 * session by its source address, an address it learns only from a binding request that names the
 * session's ufrag (conn_mux.c, lookup_agent); anything else from an unknown address is dropped. IVS
 * answers ICE-lite: it never sends a binding request, so on the mux its DTLS would never reach the
 * stage session. Stage sessions are outbound (the relay starts them, from the inside of the NAT), so
 * they need no fixed port: they keep an ephemeral one each.
 */

async function freeUdpPort(): Promise<number> {
  const probe = await Bun.udpSocket({ port: 0 })
  const port = probe.port
  probe.close()
  return port
}

describe('stage sessions and ICE-lite (IVS) with WEBRTC_UDP_PORT set', () => {
  test('a stage that answers ICE-lite goes live and receives the media: stage sessions stay off the mux', async () => {
    const paths: IceLitePath[] = []
    const passwords = new Map<string, string>()
    const udpPort = await freeUdpPort()
    const stack = await startRelayStack({
      relayEnv: { WEBRTC_UDP_PORT: String(udpPort) },
      whip: {
        // The endpoint learns the relay only from its checks; the relay reaches the endpoint only through the lite path.
        transformOffer: (arn, offer) => {
          passwords.set(arn, icePassword(offer))
          return withoutCandidates(offer)
        },
        transformAnswer: async (arn, answer) => {
          const path = await startIceLitePath({ target: hostCandidate(answer), clientPassword: passwords.get(arn)! })
          paths.push(path)
          return asIceLite(candidatesAt(answer, path.port))
        },
      },
    })
    const publisher = new TestPublisher(stack.relay.url, PUBLISH_SECRET)
    try {
      const master = (await stack.serve.stages.master()).arn
      await eventually('the stage live', () => stack.relay.fanout.liveStages().includes(master), 10_000)
      await publisher.start()
      await eventually('media on the stage', () => stack.whip.record(master).videoPackets > 30 && stack.whip.record(master).audioPackets > 20, 15_000)
      const path = paths.at(-1)!
      // The relay never got a check from the stage, yet DTLS and RTCP came back: what an ICE-lite peer does.
      expect(path.checksAnswered).toBeGreaterThan(0)
      expect(path.toClient).toBeGreaterThan(5)
      expect(stack.whip.record(master).badPackets).toBe(0)
    } finally {
      await publisher.stop()
      await stack.stop()
      for (const path of paths) path.close()
    }
  }, 60_000)

  test('libjuice’s mux cannot take an ICE-lite peer: the same connection opens on an ephemeral port, not on the mux port', async () => {
    /** A data channel from an offerer (muxed or not) to an answerer behind the ICE-lite path: open within 5 s? */
    const connects = async (mux: boolean) => {
      const port = await freeUdpPort()
      const offerer = new nodeDataChannel.PeerConnection('offerer', {
        iceServers: [],
        bindAddress: '127.0.0.1',
        ...(mux ? { enableIceUdpMux: true, portRangeBegin: port, portRangeEnd: port } : {}),
      })
      const answerer = new nodeDataChannel.PeerConnection('lite-answerer', { iceServers: [], bindAddress: '127.0.0.1' })
      let path: IceLitePath | null = null
      try {
        const channel = offerer.createDataChannel('probe')
        const opened = new Promise<boolean>((resolve) => {
          channel.onOpen(() => resolve(true))
          setTimeout(() => resolve(false), 5_000)
        })
        const offer = await gatheredDescription(offerer, 5_000)
        if (mux) expect(hostCandidate(offer).port).toBe(port)
        answerer.setRemoteDescription(withoutCandidates(offer), 'offer')
        const answer = await gatheredDescription(answerer, 5_000)
        path = await startIceLitePath({ target: hostCandidate(answer), clientPassword: icePassword(offer) })
        offerer.setRemoteDescription(asIceLite(candidatesAt(answer, path.port)), 'answer')
        const open = await opened
        return { open, checksAnswered: path.checksAnswered, toClient: path.toClient }
      } finally {
        offerer.close()
        answerer.close()
        path?.close()
      }
    }
    const ephemeral = await connects(false)
    const muxed = await connects(true)
    console.log(`ICE-lite peer: ephemeral port ${JSON.stringify(ephemeral)}, mux port ${JSON.stringify(muxed)}`)
    expect(ephemeral.open).toBe(true)
    // The lite side answered the checks and sent its DTLS, but the mux dropped what came from an address no check had come from.
    expect(muxed.checksAnswered).toBeGreaterThan(0)
    expect(muxed.toClient).toBeGreaterThan(0)
    expect(muxed.open).toBe(false)
  }, 30_000)
})
