import { type ConfigResult, type Env, EnvReader } from './env'
import { readIvsAccess, readPublicKeyArn, readTokenTtls } from './ivs-access'

/** What `ivs-fanout keys` reads: serve's own settings for IVS and its tokens (no API key, no store). */
export interface KeysConfig {
  awsRegion: string
  ivsEndpoint: string | null
  /** The key serve signs with (null: not set here). */
  ivsPublicKeyArn: string | null
  publisherTokenTtlMin: number
  viewerTokenTtlMin: number
}

export function loadKeysConfig(env: Env): ConfigResult<KeysConfig> {
  const r = new EnvReader(env)
  return r.result({ ...readIvsAccess(r), ivsPublicKeyArn: readPublicKeyArn(r), ...readTokenTtls(r) })
}
