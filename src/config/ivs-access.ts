import { PUBLIC_KEY_ARN_PATTERN, STAGE_ARN_PATTERN } from '../ivs/arn'
import type { EnvReader } from './env'

/** The longest participant token (IVS: `exp` at most 14 days after `iat`). */
export const MAX_TOKEN_TTL_MIN = 14 * 24 * 60
/** PUBLISHER_TOKEN_TTL_MIN unless set. */
export const DEFAULT_PUBLISHER_TOKEN_TTL_MIN = 240
/** VIEWER_TOKEN_TTL_MIN unless set. */
export const DEFAULT_VIEWER_TOKEN_TTL_MIN = 60

/** Where IVS is: the region (AWS_REGION, else AWS_DEFAULT_REGION) and IVS_ENDPOINT (the SDK also honours AWS_ENDPOINT_URL_IVS_REALTIME). */
export function readIvsAccess(r: EnvReader): { awsRegion: string; ivsEndpoint: string | null } {
  return { awsRegion: r.string('AWS_REGION', r.string('AWS_DEFAULT_REGION', 'us-east-1')), ivsEndpoint: r.url('IVS_ENDPOINT', null) }
}

/** IVS_PUBLIC_KEY_ARN: the key self-signed tokens name in their `kid`. */
export function readPublicKeyArn(r: EnvReader): string | null {
  return r.matching('IVS_PUBLIC_KEY_ARN', PUBLIC_KEY_ARN_PATTERN, 'an IVS public key ARN (arn:aws:ivs:<region>:<account>:public-key/<id>)')
}

/** MASTER_STAGE_ARN: the publisher's stage, when the operator made it (else the fleet creates and tags one). */
export function readMasterStageArn(r: EnvReader): string | null {
  return r.matching('MASTER_STAGE_ARN', STAGE_ARN_PATTERN, 'an IVS stage ARN (arn:aws:ivs:<region>:<account>:stage/<12 letters or digits>)')
}

/** How long the tokens serve issues live, unless the caller asks for another duration. */
export function readTokenTtls(r: EnvReader): { publisherTokenTtlMin: number; viewerTokenTtlMin: number } {
  return {
    publisherTokenTtlMin: r.int('PUBLISHER_TOKEN_TTL_MIN', DEFAULT_PUBLISHER_TOKEN_TTL_MIN, 1, MAX_TOKEN_TTL_MIN),
    viewerTokenTtlMin: r.int('VIEWER_TOKEN_TTL_MIN', DEFAULT_VIEWER_TOKEN_TTL_MIN, 1, MAX_TOKEN_TTL_MIN),
  }
}
