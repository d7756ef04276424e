import type { FanoutMode } from '../fleet/settings'
import type { EnvReader } from './env'

/**
 * What decides the fleet's shape and the calls it makes, read alike by serve's loader and by the
 * operator commands (iam-policy, doctor) that must agree with it: FANOUT_MODE, CloudWatch, and the
 * fleet's name (REDIS_KEY_PREFIX, also the `ivs-fanout:fleet` tag's value on its stages).
 */

export const FANOUT_MODES: readonly FanoutMode[] = ['relay', 'replicate', 'hybrid']

/** FANOUT_MODE: relay (default), replicate or hybrid. */
export function readFanoutMode(r: EnvReader): FanoutMode {
  return r.oneOf<FanoutMode>('FANOUT_MODE', FANOUT_MODES, 'relay')
}

/** CLOUDWATCH_ENABLED (default false) and CLOUDWATCH_NAMESPACE (default IVS/Production). */
export function readCloudWatch(r: EnvReader): { cloudwatchEnabled: boolean; cloudwatchNamespace: string } {
  return { cloudwatchEnabled: r.bool('CLOUDWATCH_ENABLED', false), cloudwatchNamespace: r.string('CLOUDWATCH_NAMESPACE', 'IVS/Production') }
}

/** REDIS_KEY_PREFIX: the store's key namespace (default `ivsf:`). */
export function readRedisKeyPrefix(r: EnvReader): string {
  return r.string('REDIS_KEY_PREFIX', 'ivsf:')
}

/** The fleet's id, the value of the fleet tag on its stages: the key prefix without what a tag value cannot hold. */
export function fleetIdOf(redisKeyPrefix: string): string {
  return redisKeyPrefix.replace(/[^A-Za-z0-9-]/g, '') || 'ivsf'
}
