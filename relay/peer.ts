import nodeDataChannel from 'node-datachannel'

export type PeerConnection = InstanceType<typeof nodeDataChannel.PeerConnection>
export type Track = InstanceType<typeof nodeDataChannel.Track>

export const rtc = nodeDataChannel

/**
 * Where a session's ICE listens. `bindAddress`: one local address only (tests: loopback).
 * `muxPort`: every session on this one UDP port (libjuice's ICE UDP mux: one socket, datagrams
 * handed to a session by its ICE ufrag, then by the remote address that used it). Unset: an
 * ephemeral port per session. No STUN either way: the relay's addresses are its own, or the
 * public ones WEBRTC_PUBLIC_HOSTS adds to its answers.
 */
export interface PeerNetwork {
  bindAddress?: string
  muxPort?: number
}

export function newPeer(name: string, network: PeerNetwork = {}): PeerConnection {
  const { bindAddress, muxPort } = network
  return new rtc.PeerConnection(name, {
    iceServers: [],
    ...(bindAddress ? { bindAddress } : {}),
    ...(muxPort ? { enableIceUdpMux: true, portRangeBegin: muxPort, portRangeEnd: muxPort } : {}),
  })
}

/**
 * Opens the mux port now and keeps it open until `close()`: one idle session on it, never
 * connected. libjuice closes the shared socket when its last session ends, so without this the
 * port would be free between publishers (another socket could take it) and a port that cannot be
 * bound would only show at the first offer. Throws, naming the port, when it cannot be opened.
 */
export function holdMuxPort(network: PeerNetwork & { muxPort: number }): { close(): void } {
  const pc = newPeer('udp-port-holder', network)
  try {
    // Creating the channel negotiates at once: ICE gathers on the port, binding it.
    pc.createDataChannel('hold')
    if (pc.gatheringState() === 'new') pc.setLocalDescription()
  } catch (error) {
    pc.close()
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(
      `WEBRTC_UDP_PORT ${network.muxPort}: the relay cannot open that UDP port (${reason}); another process may hold it, or it is below 1024 without the privilege`,
    )
  }
  return { close: () => pc.close() }
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
