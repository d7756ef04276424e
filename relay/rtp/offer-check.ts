/**
 * The transport lines of a WHIP offer, checked before anything is done with it: the DTLS fingerprint,
 * the ICE credentials and the candidates (RFC 8122, RFC 8839) and the m= lines. libdatachannel throws
 * on most of these mistakes itself, but only once a session is being set up; checked here, a
 * malformed offer is a 400 naming the line, and no session (a connected or connecting publisher's
 * included) is touched.
 */
import { SdpError } from './sdp'

/** Hash functions libdatachannel takes for a certificate fingerprint, and their digest sizes in bytes. */
const FINGERPRINT_BYTES: Record<string, number> = { 'sha-1': 20, 'sha-224': 28, 'sha-256': 32, 'sha-384': 48, 'sha-512': 64 }
const ICE_CHARS = /^[A-Za-z0-9+/]+$/
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/
const HOST = /^(?:[0-9.]+|[0-9A-Fa-f:.]+|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?)$/
const QUOTE_MAX = 80

const quote = (value: string) => JSON.stringify(value.length > QUOTE_MAX ? `${value.slice(0, QUOTE_MAX)}…` : value)
const refuse = (line: string, problem: string) => new SdpError(`the offer's ${line} line ${problem}; send the offer your WebRTC stack made, unedited`)
const isPort = (value: string | undefined) => value !== undefined && /^\d{1,5}$/.test(value) && Number(value) <= 65535

function checkFingerprint(value: string): void {
  const [hash = '', digest = '', ...rest] = value.split(' ')
  const bytes = FINGERPRINT_BYTES[hash.toLowerCase()]
  if (bytes === undefined || rest.length > 0)
    throw refuse('a=fingerprint', `${quote(value)} is not "<hash> <hex bytes>" with a hash of ${Object.keys(FINGERPRINT_BYTES).join(', ')}`)
  if (!new RegExp(`^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){${bytes - 1}}$`).test(digest))
    throw refuse('a=fingerprint', `${quote(digest)} is not ${bytes} colon-separated hex bytes (a ${hash} digest)`)
}

function checkIceCredential(name: 'ice-ufrag' | 'ice-pwd', value: string): void {
  const [min, max] = name === 'ice-ufrag' ? [4, 256] : [22, 256]
  if (value.length < min || value.length > max || !ICE_CHARS.test(value))
    throw refuse(`a=${name}`, `${quote(value)} is not ${min}-${max} characters of letters, digits, "+" and "/"`)
}

/** RFC 8839 §5.1: foundation component transport priority address port "typ" type, then name/value pairs. */
function checkCandidate(value: string): void {
  const [foundation, component, transport, priority, address, port, typ, type, ...extensions] = value.split(' ')
  const problem =
    !foundation || foundation.length > 32 || !ICE_CHARS.test(foundation)
      ? 'a foundation of 1-32 letters, digits, "+" or "/"'
      : !component || !/^\d{1,3}$/.test(component)
        ? 'a component id'
        : !transport || !TOKEN.test(transport)
          ? 'a transport'
          : !priority || !/^\d{1,10}$/.test(priority) || Number(priority) > 0xffffffff
            ? 'a priority of at most 2^32 - 1'
            : !address || address.length > 255 || !HOST.test(address)
              ? 'an IP address or host name'
              : !isPort(port)
                ? 'a port (0-65535)'
                : typ !== 'typ' || !type || !TOKEN.test(type)
                  ? '"typ" and a candidate type'
                  : extensions.length % 2 !== 0 || !extensions.every((part) => part !== '')
                    ? 'name/value pairs after the type'
                    : null
  if (problem) throw refuse('a=candidate', `${quote(value)} lacks ${problem} (RFC 8839: foundation component transport priority address port typ type)`)
}

/**
 * Throws SdpError naming the first malformed transport line of `offer`: a=fingerprint (at least
 * one), a=ice-ufrag and a=ice-pwd (for every media section taken, at its level or the session's),
 * a=candidate, a=setup and m= lines.
 */
export function checkOfferTransport(offer: string): void {
  if (!/^m=/m.test(offer)) throw new SdpError('the body is not an SDP offer (it has no m= line); send the offer your WebRTC stack made')
  let fingerprints = 0
  const session = { ufrag: false, pwd: false }
  const sections: { ufrag: boolean; pwd: boolean; port: string }[] = []
  for (const line of offer.split(/\r?\n/)) {
    const current = sections.at(-1) ?? session
    const colon = line.indexOf(':')
    const attribute = line.startsWith('a=') && colon !== -1 ? line.slice(2, colon) : null
    const value = colon === -1 ? '' : line.slice(colon + 1)
    if (line.startsWith('m=')) {
      const [, port, proto, ...formats] = line.slice(2).split(' ')
      if (!isPort(port?.split('/')[0]) || !proto || formats.length === 0 || formats.some((format) => format === ''))
        throw refuse('m=', `${quote(line)} is not "m=<media> <port> <protocol> <formats>"`)
      sections.push({ ufrag: false, pwd: false, port: port! })
    } else if (attribute === 'fingerprint') {
      checkFingerprint(value)
      fingerprints++
    } else if (attribute === 'ice-ufrag') {
      checkIceCredential('ice-ufrag', value)
      current.ufrag = true
    } else if (attribute === 'ice-pwd') {
      checkIceCredential('ice-pwd', value)
      current.pwd = true
    } else if (attribute === 'candidate') checkCandidate(value)
    else if (attribute === 'setup' && !['actpass', 'active', 'passive', 'holdconn'].includes(value))
      throw refuse('a=setup', `${quote(value)} is not actpass, active, passive or holdconn`)
  }
  if (fingerprints === 0) throw refuse('a=fingerprint', 'is missing (DTLS needs the certificate fingerprint)')
  for (const section of sections) {
    if (section.port === '0') continue
    if (!section.ufrag && !session.ufrag) throw refuse('a=ice-ufrag', 'is missing (ICE needs a user fragment for every media section)')
    if (!section.pwd && !session.pwd) throw refuse('a=ice-pwd', 'is missing (ICE needs a password for every media section)')
  }
}

const LIBDATACHANNEL_PREFIX = /^libdatachannel error while adding remote description:\s*/i

/**
 * Sets `offer` as the remote description of a peer connection. One libdatachannel refuses (a mistake
 * checkOfferTransport does not know) closes that connection and throws SdpError with its reason.
 */
export function setOffer(pc: { setRemoteDescription(sdp: string, type: 'offer'): void; close(): void }, offer: string): void {
  try {
    pc.setRemoteDescription(offer, 'offer')
  } catch (error) {
    pc.close()
    const reason = (error instanceof Error ? error.message : String(error)).replace(LIBDATACHANNEL_PREFIX, '').slice(0, 200)
    throw new SdpError(`the offer could not be applied: ${reason}; send the offer your WebRTC stack made, unedited`)
  }
}
