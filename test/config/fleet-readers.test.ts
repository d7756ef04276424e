import { expect, test } from 'bun:test'
import { EnvReader } from '../../src/config/env'
import { fleetIdOf, readCloudWatch, readFanoutMode, readRedisKeyPrefix } from '../../src/config/fleet'
import { readIvsAccess, readMasterStageArn } from '../../src/config/ivs-access'
import { loadServeConfig } from '../../src/config/serve'
import { fleetSettings } from '../../src/config/settings'

/**
 * The readers in src/config/fleet.ts and ivs-access.ts are the one copy of FANOUT_MODE, CloudWatch,
 * REDIS_KEY_PREFIX (and the fleet id it makes), the region and MASTER_STAGE_ARN: serve's loader is
 * built from them, and operator commands (iam-policy, doctor) call them rather than reading the
 * variables again.
 */

const MASTER = 'arn:aws:ivs:eu-west-1:111122223333:stage/AbCdEfGhIjKl'

const read = (env: Record<string, string>) => {
  const r = new EnvReader(env)
  const out = {
    awsRegion: readIvsAccess(r).awsRegion,
    fanoutMode: readFanoutMode(r),
    ...readCloudWatch(r),
    redisKeyPrefix: readRedisKeyPrefix(r),
    masterStageArn: readMasterStageArn(r),
  }
  return { out, errors: r.errors }
}

test('defaults, and what serve’s loader reads, for the same environments', () => {
  expect(read({}).out).toEqual({
    awsRegion: 'us-east-1',
    fanoutMode: 'relay',
    cloudwatchEnabled: false,
    cloudwatchNamespace: 'IVS/Production',
    redisKeyPrefix: 'ivsf:',
    masterStageArn: null,
  })
  const envs: Record<string, string>[] = [
    {},
    { AWS_DEFAULT_REGION: 'ap-south-1', FANOUT_MODE: 'Hybrid', CLOUDWATCH_ENABLED: 'yes', REDIS_KEY_PREFIX: '{eu}:' },
    { AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'us-west-2', CLOUDWATCH_NAMESPACE: 'Live', MASTER_STAGE_ARN: MASTER },
  ]
  for (const env of envs) {
    const serve = loadServeConfig(env)
    if (!serve.ok) throw new Error(serve.errors.join('; '))
    const { out } = read(env)
    expect(out).toEqual({
      awsRegion: serve.config.awsRegion,
      fanoutMode: serve.config.fanoutMode,
      cloudwatchEnabled: serve.config.cloudwatchEnabled,
      cloudwatchNamespace: serve.config.cloudwatchNamespace,
      redisKeyPrefix: serve.config.redisKeyPrefix,
      masterStageArn: serve.config.masterStageArn,
    })
    const settings = fleetSettings(serve.config, { instanceId: 'i', storeKind: 'memory', providerKind: 'aws' })
    expect(settings.stages.fleetId).toBe(fleetIdOf(out.redisKeyPrefix))
  }
})

test('the fleet id (the ivs-fanout:fleet tag’s value): the prefix without what a tag value cannot hold, ivsf when nothing is left', () => {
  expect(['ivsf:', '{prod-eu}:', 'policy3:', '::', 'a_b.c'].map(fleetIdOf)).toEqual(['ivsf', 'prod-eu', 'policy3', 'ivsf', 'abc'])
})

test('refusals name the variable', () => {
  expect(read({ FANOUT_MODE: 'mesh' }).errors).toEqual(['FANOUT_MODE must be one of relay, replicate, hybrid, got "mesh"'])
  expect(read({ CLOUDWATCH_ENABLED: 'maybe' }).errors).toEqual(['CLOUDWATCH_ENABLED must be true or false, got "maybe"'])
  expect(read({ MASTER_STAGE_ARN: 'stage/abc' }).errors[0]).toStartWith('MASTER_STAGE_ARN must be an IVS stage ARN')
})
