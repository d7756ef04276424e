import { describe, expect, test } from 'bun:test'
import { chooseIngestCodecs, negotiatedPayloadTypes, parseMedia, restrictOffer, SdpError } from '../../relay/rtp/sdp'

// Shaped like Chromium's offer: VP8 first, several H.264 profiles, RTX, red/ulpfec.
const BROWSER_OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9',
  'a=mid:0',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:63 red/48000/2',
  'a=rtpmap:9 G722/8000',
  'a=sendonly',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 106 107 112',
  'a=mid:1',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:97 rtx/90000',
  'a=fmtp:97 apt=96',
  'a=rtpmap:102 H264/90000',
  'a=rtcp-fb:102 nack pli',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f',
  'a=rtpmap:103 H264/90000',
  'a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f',
  'a=rtpmap:106 H264/90000',
  'a=rtcp-fb:106 nack pli',
  'a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  'a=rtpmap:107 rtx/90000',
  'a=fmtp:107 apt=106',
  'a=rtpmap:112 ulpfec/90000',
  'a=sendonly',
  '',
].join('\r\n')

describe('ingest SDP', () => {
  test('picks H.264 baseline with packetization-mode 1 and Opus from a browser offer', () => {
    const { video, audio } = chooseIngestCodecs(BROWSER_OFFER)
    expect(video.payloadType).toBe(106)
    expect(video.fmtp['profile-level-id']).toBe('42e01f')
    expect(audio!.payloadType).toBe(111)
  })

  test('the restricted offer keeps only the chosen payload types and their attributes', () => {
    const restricted = restrictOffer(BROWSER_OFFER, [106, 111])
    const media = parseMedia(restricted)
    expect(media.map((m) => m.codecs.map((c) => c.payloadType))).toEqual([[111], [106]])
    expect(restricted).toContain('a=rtcp-fb:106 nack pli')
    expect(restricted).not.toContain('VP8')
    expect(restricted).not.toContain('apt=106')
    expect(restricted).toContain('a=group:BUNDLE 0 1')
  })

  test('an offer without usable H.264 is refused with a message saying what to change', () => {
    const vp8Only = BROWSER_OFFER.replace(/a=rtpmap:10[236] H264/g, 'a=rtpmap:120 X')
    expect(() => chooseIngestCodecs(vp8Only)).toThrow(SdpError)
    expect(() => chooseIngestCodecs(vp8Only)).toThrow('H.264')
    const highOnly = BROWSER_OFFER.replace('profile-level-id=42e01f', 'profile-level-id=640c1f')
    expect(() => chooseIngestCodecs(highOnly)).toThrow('baseline')
    expect(() => chooseIngestCodecs('hello')).toThrow('not an SDP offer')
  })

  test('negotiated payload types are read from an answer', () => {
    expect(negotiatedPayloadTypes(restrictOffer(BROWSER_OFFER, [106, 111]))).toEqual({ video: 106, audio: 111 })
    expect(negotiatedPayloadTypes('v=0\r\n')).toEqual({ video: null, audio: null })
  })
})

test('header extensions and transport-cc are not accepted from the publisher', () => {
  const offer = BROWSER_OFFER.replace(
    'a=rtcp-fb:106 nack pli',
    'a=rtcp-fb:106 nack pli\r\na=rtcp-fb:106 transport-cc\r\na=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  )
  const restricted = restrictOffer(offer, [106, 111])
  expect(restricted).not.toContain('transport-cc')
  expect(restricted).not.toContain('a=extmap')
  expect(restricted).toContain('a=rtcp-fb:106 nack pli')
})
