import nodeDataChannel from 'node-datachannel'

export type PeerConnection = InstanceType<typeof nodeDataChannel.PeerConnection>
export type Track = InstanceType<typeof nodeDataChannel.Track>

export const rtc = nodeDataChannel

/** Loopback-only ICE when asked (tests); otherwise every interface, no STUN (the relay is reachable). */
export function newPeer(name: string, options: { bindAddress?: string } = {}): PeerConnection {
  return new rtc.PeerConnection(name, { iceServers: [], ...(options.bindAddress ? { bindAddress: options.bindAddress } : {}) })
}

/** Waits until all local candidates are in the description (WHIP carries no trickle here). */
export function gatheredDescription(pc: PeerConnection, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const finish = () => {
      clearTimeout(timer)
      const description = pc.localDescription()
      if (description) resolve(description.sdp)
      else reject(new Error('no local description'))
    }
    const timer = setTimeout(() => reject(new Error(`ICE gathering did not complete within ${timeoutMs} ms`)), timeoutMs)
    if (pc.gatheringState() === 'complete') return finish()
    pc.onGatheringStateChange((state) => {
      if (state === 'complete') finish()
    })
  })
}
