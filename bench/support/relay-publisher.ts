import { TestPublisher } from '../../test/support/publisher'
import { serveCalls } from './child'

export type PublisherCall = { op: 'start'; relayUrl: string; secret: string; padTo: number } | { op: 'snapshot' }

export interface PublisherSnapshot {
  at: number
  cpuUs: number
  packetsSent: number
  /** RTP bytes (header + payload) handed to the tracks. */
  bytesSent: number
  pliReceived: number
}

/**
 * The broadcaster, alone in its process so its frame timer is not delayed by the endpoints' work:
 * the test publisher (test/support/publisher.ts) sending the x264 baseline clip (~250 kbit/s at 30 fps)
 * `padTo` times over, plus 20 ms Opus frames, over WHIP to the relay. It honours PLI, so a new
 * stage gets its keyframe quickly instead of waiting for the clip's next IDR.
 */
let publisher: TestPublisher | null = null

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0))

serveCalls(async (call: PublisherCall): Promise<unknown> => {
  if (call.op === 'start') {
    publisher = new TestPublisher(call.relayUrl, call.secret, { honourPli: true, padTo: call.padTo })
    await publisher.start()
    return true
  }
  const cpu = process.cpuUsage()
  return {
    at: performance.now(),
    cpuUs: cpu.user + cpu.system,
    packetsSent: publisher?.packetsSent ?? 0,
    bytesSent: publisher?.bytesSent ?? 0,
    pliReceived: publisher?.pliReceived ?? 0,
  } satisfies PublisherSnapshot
})
