import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import nodeDataChannel from 'node-datachannel'
import { gatheredDescription } from '../../relay/peer'
import { checkOfferTransport, setOffer } from '../../relay/rtp/offer-check'
import { restrictOffer, SdpError } from '../../relay/rtp/sdp'

/** A real offer (H.264 + Opus, loopback candidates) as node-datachannel makes it, like OBS. */
let offer = ''
beforeAll(async () => {
  const pc = new nodeDataChannel.PeerConnection('offer-check', { iceServers: [], bindAddress: '127.0.0.1' })
  const video = new nodeDataChannel.Video('0', 'SendOnly')
  video.addH264Codec(96, 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1')
  const audio = new nodeDataChannel.Audio('1', 'SendOnly')
  audio.addOpusCodec(111)
  pc.addTrack(video)
  pc.addTrack(audio)
  pc.setLocalDescription()
  offer = await gatheredDescription(pc, 5_000)
  pc.close()
})

const fingerprint = () => offer.match(/a=fingerprint:sha-256 (\S+)/)![1]!
const replaceAll = (pattern: RegExp, line: string) => (sdp: string) => sdp.replace(new RegExp(pattern.source, 'gm'), line)
const replaceFirst = (pattern: RegExp, line: string) => (sdp: string) => sdp.replace(new RegExp(pattern.source, 'm'), line)

/** [what is wrong, how to make it from a good offer, the line the refusal names]. */
const MALFORMED: [string, (sdp: string) => string, string][] = [
  ['a fingerprint of non-hex bytes', replaceFirst(/^a=fingerprint:.*$/, 'a=fingerprint:sha-256 ZZ:D1'), 'a=fingerprint'],
  ['a fingerprint too short for its hash', replaceFirst(/^a=fingerprint:.*$/, 'a=fingerprint:sha-256 97:D1:14'), 'a=fingerprint'],
  ['a fingerprint with an unknown hash', replaceFirst(/^a=fingerprint:sha-256/, 'a=fingerprint:md7'), 'a=fingerprint'],
  ['an empty fingerprint', replaceFirst(/^a=fingerprint:.*$/, 'a=fingerprint:'), 'a=fingerprint'],
  ['no fingerprint', replaceAll(/^a=fingerprint:.*\r\n/, ''), 'a=fingerprint'],
  ['no ICE user fragment', replaceAll(/^a=ice-ufrag:.*\r\n/, ''), 'a=ice-ufrag'],
  ['an empty ICE user fragment', replaceAll(/^a=ice-ufrag:.*$/, 'a=ice-ufrag:'), 'a=ice-ufrag'],
  ['a one-character ICE user fragment', replaceAll(/^a=ice-ufrag:.*$/, 'a=ice-ufrag:a'), 'a=ice-ufrag'],
  ['an ICE user fragment of other characters', replaceAll(/^a=ice-ufrag:.*$/, 'a=ice-ufrag:ab$%"<>'), 'a=ice-ufrag'],
  ['no ICE password', replaceAll(/^a=ice-pwd:.*\r\n/, ''), 'a=ice-pwd'],
  ['a short ICE password', replaceAll(/^a=ice-pwd:.*$/, 'a=ice-pwd:abc'), 'a=ice-pwd'],
  ['a candidate that is not one', replaceFirst(/^a=candidate:.*$/, 'a=candidate:garbage'), 'a=candidate'],
  ['a candidate without its type', replaceFirst(/^a=candidate:.*$/, 'a=candidate:1 1 UDP 2114977791 127.0.0.1 5000'), 'a=candidate'],
  ['a candidate with a port past 65535', replaceFirst(/^a=candidate:.*$/, 'a=candidate:1 1 UDP 2114977791 127.0.0.1 99999 typ host'), 'a=candidate'],
  ['a candidate with a priority past 2^32', replaceFirst(/^a=candidate:.*$/, 'a=candidate:1 1 UDP 99999999999 127.0.0.1 5000 typ host'), 'a=candidate'],
  ['a candidate address that is neither IP nor name', replaceFirst(/^a=candidate:.*$/, 'a=candidate:1 1 UDP 1 a_b;c 5000 typ host'), 'a=candidate'],
  ['an unknown DTLS setup role', replaceAll(/^a=setup:.*$/, 'a=setup:bogus'), 'a=setup'],
  ['an m= line without a port', replaceFirst(/^m=audio \d+/, 'm=audio x'), 'm='],
]

describe('checkOfferTransport', () => {
  test('offers as WebRTC stacks make them pass: node-datachannel (OBS), Chrome- and Firefox-style candidates, session-level ICE, LF line ends', () => {
    const variants = [
      offer,
      offer.replace(/\r\n/g, '\n'),
      // ICE credentials once, at the session level.
      offer
        .replace(/^a=ice-(ufrag|pwd):.*\r\n/gm, '')
        .replace('t=0 0\r\n', `t=0 0\r\n${offer.match(/^a=ice-ufrag:.*\r\n/m)![0]}${offer.match(/^a=ice-pwd:.*\r\n/m)![0]}`),
      replaceFirst(/^a=candidate:.*$/, 'a=candidate:3171349462 1 udp 2122260223 192.168.1.20 53067 typ host generation 0 network-id 1 network-cost 10')(offer),
      replaceFirst(/^a=candidate:.*$/, 'a=candidate:0 1 UDP 2122252543 1c5f0b8e-27c6-4b3b-9f1a-7e3c0c4d2b11.local 53067 typ host')(offer),
      replaceFirst(/^a=candidate:.*$/, 'a=candidate:842163049 1 udp 1677729535 203.0.113.7 53067 typ srflx raddr 0.0.0.0 rport 0 generation 0')(offer),
      replaceFirst(/^a=candidate:.*$/, 'a=candidate:1 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active generation 0')(offer),
      replaceFirst(/^a=candidate:.*$/, 'a=candidate:2 1 udp 2122262783 2001:db8::1 53067 typ host')(offer),
      offer.replace(fingerprint(), fingerprint().toLowerCase()).replace('sha-256', 'SHA-256'),
      offer.replace(/a=fingerprint:sha-256 \S+/, `a=fingerprint:sha-1 ${fingerprint().split(':').slice(0, 20).join(':')}`),
    ]
    for (const sdp of variants) expect(() => checkOfferTransport(sdp)).not.toThrow()
  })

  test('each malformed transport line is refused with an SdpError naming the line', () => {
    for (const [label, make, line] of MALFORMED) {
      let error: unknown = null
      try {
        checkOfferTransport(make(offer))
      } catch (caught) {
        error = caught
      }
      expect({ label, isSdpError: error instanceof SdpError }).toEqual({ label, isSdpError: true })
      expect({ label, message: (error as Error).message }).toEqual({ label, message: expect.stringContaining(`the offer's ${line} line`) })
    }
  })

  test('a body that is not SDP at all says so', () => {
    for (const body of ['', 'not an offer', 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n'])
      expect(() => checkOfferTransport(body)).toThrow('the body is not an SDP offer (it has no m= line)')
  })

  test('a quoted value is cut short: the message stays small whatever the offer holds', () => {
    const huge = replaceAll(/^a=ice-ufrag:.*$/, `a=ice-ufrag:${'$'.repeat(10_000)}`)(offer)
    expect(() => checkOfferTransport(huge)).toThrow(SdpError)
    try {
      checkOfferTransport(huge)
    } catch (error) {
      expect((error as Error).message.length).toBeLessThan(300)
    }
  })
})

describe('setOffer', () => {
  const peers: InstanceType<typeof nodeDataChannel.PeerConnection>[] = []
  afterAll(() => {
    for (const pc of peers) pc.close()
  })

  test('an offer libdatachannel refuses (here past the check) is an SdpError with its reason, and the connection is closed', () => {
    const pc = new nodeDataChannel.PeerConnection('set-offer', { iceServers: [], bindAddress: '127.0.0.1' })
    peers.push(pc)
    const bad = restrictOffer(replaceFirst(/^a=fingerprint:.*$/, 'a=fingerprint:sha-256 ZZ:D1')(offer), [96, 111])
    let error: unknown = null
    try {
      setOffer(pc, bad)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(SdpError)
    expect((error as Error).message).toStartWith('the offer could not be applied: Invalid sha-256 fingerprint "ZZ:D1"')
    expect((error as Error).message).not.toContain('libdatachannel error')
    expect(pc.state()).toBe('closed')
  })

  test('anything else thrown is an SdpError too, and closes the connection', () => {
    let closed = false
    const pc = {
      setRemoteDescription() {
        throw new Error('Remote description has no ICE password')
      },
      close() {
        closed = true
      },
    }
    expect(() => setOffer(pc, offer)).toThrow('the offer could not be applied: Remote description has no ICE password')
    expect(closed).toBe(true)
  })

  test('a good offer is applied', () => {
    const pc = new nodeDataChannel.PeerConnection('set-offer-good', { iceServers: [], bindAddress: '127.0.0.1' })
    peers.push(pc)
    setOffer(pc, restrictOffer(offer, [96, 111]))
    expect(pc.remoteDescription()?.type).toBe('offer')
  })
})
