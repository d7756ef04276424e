/**
 * An ICE-lite far end made of a full one, for WebRTC tests. IVS answers ICE-lite (RFC 8445 §2.5): it
 * answers a peer's connectivity checks but never sends its own. A node-datachannel endpoint is a full
 * agent, so this UDP path sits between a client (the relay) and that target: it passes the client's
 * datagrams on, and the target's replies, DTLS and media back, but answers the target's own binding
 * requests itself (signed with the client's ICE password) instead of passing them on. The client then
 * sees exactly what a lite peer sends: answers to its checks, DTLS and media, never a check.
 *
 * Put it in the path by SDP, as with the lossy path: the target gets the client's offer without
 * candidates, the client gets the target's answer with one candidate at `port` (and `a=ice-lite`).
 */
import { createHmac } from 'node:crypto'
import type { udp } from 'bun'

const MAGIC_COOKIE = 0x2112a442

export interface IceLitePath {
  /** The port the client sends to. */
  port: number
  /** The target's binding requests answered here (none reached the client). */
  checksAnswered: number
  /** Datagrams passed each way. */
  toTarget: number
  toClient: number
  close(): void
}

function isBindingRequest(data: Uint8Array): boolean {
  return data.length >= 20 && data[0] === 0x00 && data[1] === 0x01 && Buffer.from(data.buffer, data.byteOffset, 8).readUInt32BE(4) === MAGIC_COOKIE
}

/** A STUN Binding success response (RFC 5389) to `request` from `address:port`: XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT. */
export function bindingSuccess(request: Uint8Array, address: string, port: number, password: string): Buffer {
  const mapped = Buffer.alloc(12)
  mapped.writeUInt16BE(0x0020, 0)
  mapped.writeUInt16BE(8, 2)
  mapped.writeUInt8(0x01, 5) // IPv4
  mapped.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), 6)
  const [a, b, c, d] = address.split('.').map(Number)
  mapped.writeUInt32BE((((a! << 24) | (b! << 16) | (c! << 8) | d!) ^ MAGIC_COOKIE) >>> 0, 8)
  const header = Buffer.alloc(20)
  header.writeUInt16BE(0x0101, 0)
  header.writeUInt32BE(MAGIC_COOKIE, 4)
  Buffer.from(request.subarray(8, 20)).copy(header, 8)
  // The integrity covers the message up to itself, the length counting it (RFC 5389 §15.4).
  header.writeUInt16BE(mapped.length + 24, 2)
  const integrity = Buffer.alloc(24)
  integrity.writeUInt16BE(0x0008, 0)
  integrity.writeUInt16BE(20, 2)
  createHmac('sha1', password)
    .update(Buffer.concat([header, mapped]))
    .digest()
    .copy(integrity, 4)
  header.writeUInt16BE(mapped.length + 24 + 8, 2)
  const body = Buffer.concat([header, mapped, integrity])
  const fingerprint = Buffer.alloc(8)
  fingerprint.writeUInt16BE(0x8028, 0)
  fingerprint.writeUInt16BE(4, 2)
  fingerprint.writeUInt32BE((Bun.hash.crc32(body) ^ 0x5354554e) >>> 0, 4)
  return Buffer.concat([body, fingerprint])
}

/** The client's ICE password, from its description. */
export function icePassword(sdp: string): string {
  const match = sdp.match(/^a=ice-pwd:(\S+)/m)
  if (!match) throw new Error('the description has no a=ice-pwd')
  return match[1]!
}

/** The description marked as an ICE-lite agent's (a session-level `a=ice-lite` before the first m-section). */
export function asIceLite(sdp: string): string {
  return sdp.replace(/\r\nm=/, '\r\na=ice-lite\r\nm=')
}

export async function startIceLitePath(options: { target: { host: string; port: number }; clientPassword: string }): Promise<IceLitePath> {
  let client: { address: string; port: number } | null = null
  const counts = { checksAnswered: 0, toTarget: 0, toClient: 0 }
  let towardsTarget: udp.Socket<'buffer'> | null = null
  const quietly = (send: () => void) => {
    try {
      send()
    } catch {}
  }
  const facingClient = await Bun.udpSocket({
    hostname: '127.0.0.1',
    socket: {
      error() {},
      data(_socket, data, port, address) {
        client = { address, port }
        counts.toTarget++
        quietly(() => towardsTarget?.send(data, options.target.port, options.target.host))
      },
    },
  })
  towardsTarget = await Bun.udpSocket({
    hostname: '127.0.0.1',
    socket: {
      error() {},
      data(socket, data, port, address) {
        if (isBindingRequest(data)) {
          counts.checksAnswered++
          quietly(() => socket.send(bindingSuccess(data, address, port, options.clientPassword), port, address))
          return
        }
        const to = client
        if (!to) return
        counts.toClient++
        quietly(() => facingClient.send(data, to.port, to.address))
      },
    },
  })
  return {
    port: facingClient.port,
    get checksAnswered() {
      return counts.checksAnswered
    },
    get toTarget() {
      return counts.toTarget
    },
    get toClient() {
      return counts.toClient
    },
    close() {
      facingClient.close()
      towardsTarget?.close()
    },
  }
}
