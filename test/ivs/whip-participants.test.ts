import { afterEach, describe, expect, test } from 'bun:test'
import { UnsecuredJWT } from 'jose'
import { AwsStageProvider } from '../../src/ivs/aws'
import { eventually } from '../support/eventually'
import { testIvsApi } from '../support/ivs-client'
import { type IvsServer, type IvsStage, startIvsServer } from '../support/ivs-server'
import { TestPublisher } from '../support/publisher'
import { startWhipEndpoint, type WhipEndpoint } from '../support/whip-endpoint'

/**
 * The stage WHIP endpoint double linked to the IVS test server (`onSession: ivs.control.whipSession`):
 * a real WebRTC publisher straight into a stage (replicate mode's broadcaster) is a participant of
 * that stage, as IVS shows it, and the provider replicates it.
 */
let ivs: IvsServer
let whip: WhipEndpoint
const publishers: TestPublisher[] = []

afterEach(async () => {
  await Promise.all(publishers.splice(0).map((p) => p.stop(false)))
  await whip?.stop()
  await ivs?.stop()
})

async function setup() {
  ivs = await startIvsServer()
  whip = await startWhipEndpoint({ onSession: ivs.control.whipSession })
  const stages = [ivs.seedStage({ name: 'master' }), ivs.seedStage({ name: 'overflow' })] as [IvsStage, IvsStage]
  return { provider: new AwsStageProvider(testIvsApi(ivs).api), stages }
}

/** A broadcaster publishing straight into `stage` with a self-signed-style token whose jti is `participantId`. */
async function broadcast(stage: IvsStage, participantId: string): Promise<TestPublisher> {
  const token = new UnsecuredJWT({ resource: stage.arn, jti: participantId, user_id: 'broadcaster', capabilities: { allow_publish: true } }).encode()
  const publisher = new TestPublisher('', '', { whip: { url: whip.url, token } })
  publishers.push(publisher)
  await publisher.start()
  return publisher
}

describe('WHIP sessions into a stage are its participants', () => {
  test('connected: CONNECTED and published; replicated; WHIP DELETE: DISCONNECTED and, past its reconnect window, the replication STOPPED', async () => {
    const { provider, stages } = await setup()
    const [master, overflow] = stages
    expect(await provider.participants(master.arn)).toEqual([])
    const publisher = await broadcast(master, 'obs-1')
    await eventually('the broadcaster publishes in the master stage', async () => (await provider.publishingParticipants(master.arn)) === 1)
    expect(await provider.participants(master.arn)).toEqual([
      { participantId: 'obs-1', userId: 'broadcaster', published: true, state: 'CONNECTED', replicationType: 'NONE', sourceStageArn: null },
    ])

    await provider.startReplication({ sourceStageArn: master.arn, destinationStageArn: overflow.arn, participantId: 'obs-1', reconnectWindowSeconds: 1 })
    expect(await provider.participants(overflow.arn)).toMatchObject([{ participantId: 'obs-1', replicationType: 'REPLICA', sourceStageArn: master.arn }])
    expect(await provider.publishingParticipants(overflow.arn)).toBe(0)

    await publisher.stop() // WHIP DELETE
    expect(whip.record(master.arn).deletes).toBe(1)
    expect(ivs.participants(master.arn)).toMatchObject([{ participantId: 'obs-1', state: 'DISCONNECTED' }])
    expect(await provider.listReplicas(master.arn, 'obs-1')).toEqual([{ destinationStageArn: overflow.arn, participantId: 'obs-1', state: 'ACTIVE' }])
    await eventually('the replication stops', async () => (await provider.listReplicas(master.arn, 'obs-1'))[0]?.state === 'STOPPED', 3000)
    expect(await provider.participants(master.arn)).toEqual([])

    // The broadcaster back with a new token is a new participant, not replicated until started again.
    await broadcast(master, 'obs-2')
    await eventually('the new participant publishes', async () => (await provider.participants(master.arn))[0]?.participantId === 'obs-2')
    expect(await provider.listReplicas(master.arn, 'obs-2')).toEqual([])
    await provider.startReplication({ sourceStageArn: master.arn, destinationStageArn: overflow.arn, participantId: 'obs-2', reconnectWindowSeconds: 1 })
    expect((await provider.participants(overflow.arn)).map((p) => p.participantId)).toEqual(['obs-2'])
  })

  test('a session the endpoint drops (kill) leaves the stage; one that never connects never joins', async () => {
    const { provider, stages } = await setup()
    const [master] = stages
    await broadcast(master, 'obs-1')
    await eventually('the broadcaster publishes in the master stage', async () => (await provider.publishingParticipants(master.arn)) === 1)
    whip.kill(master.arn)
    expect(await provider.publishingParticipants(master.arn)).toBe(0)
    expect(ivs.participants(master.arn)).toEqual([])

    // An offer the endpoint answers but whose publisher never completes ICE: no participant.
    const token = new UnsecuredJWT({ resource: master.arn, jti: 'ghost', capabilities: { allow_publish: true } }).encode()
    const offer = await fetch(whip.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/sdp' },
      body: ghostOffer,
    })
    expect(offer.status).toBe(201)
    await Bun.sleep(300)
    expect(ivs.participants(master.arn)).toEqual([])
    await fetch(new URL(offer.headers.get('location')!, whip.url), { method: 'DELETE' })
    expect(ivs.participants(master.arn)).toEqual([])
  })
})

/** A well-formed offer whose only candidate leads nowhere (TEST-NET-1). */
const ghostOffer = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP4 0.0.0.0',
  'a=mid:0',
  'a=sendonly',
  'a=rtcp-mux',
  'a=setup:actpass',
  'a=ice-ufrag:ghst',
  'a=ice-pwd:ghostghostghostghostghost',
  'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF',
  'a=rtpmap:96 H264/90000',
  'a=fmtp:96 profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1',
  'a=ssrc:1234 cname:ghost',
  'a=candidate:1 1 UDP 2122260223 192.0.2.1 9 typ host',
  '',
].join('\r\n')
