import type { LocalStage, LocalStageRegistry } from './local-stages'

/**
 * The Lua of the local provider's stages (store/local-stages.ts), mirroring MemoryLocalStages:
 * P localstages is a HASH arn -> {arn, name, tags} JSON. ARGV[1] is the prefix, as in store/lua.ts.
 */
export const LOCAL_STAGES_LUA = {
  /** ARGV: P, arn, stage JSON. */
  localStagePut: `
redis.call('HSET', ARGV[1]..'localstages', ARGV[2], ARGV[3])
return 1
`,
  /** ARGV: P, an ARN or '' for every stage. Returns the stages' JSON. */
  localStageRead: `
local key = ARGV[1]..'localstages'
if ARGV[2] == '' then return redis.call('HVALS', key) end
local raw = redis.call('HGET', key, ARGV[2])
if not raw then return {} end
return {raw}
`,
  /** ARGV: P, arn, name. Returns the renamed stage's JSON, or nil when there is none. */
  localStageRename: `
local key = ARGV[1]..'localstages'
local raw = redis.call('HGET', key, ARGV[2])
if not raw then return false end
local stage = cjson.decode(raw)
stage.name = ARGV[3]
raw = cjson.encode(stage)
redis.call('HSET', key, ARGV[2], raw)
return raw
`,
  /** ARGV: P, arn. */
  localStageDelete: `
redis.call('HDEL', ARGV[1]..'localstages', ARGV[2])
return 1
`,
}

export type LocalStageScriptName = keyof typeof LOCAL_STAGES_LUA

/** The local provider's stages on a Redis store: one script per operation, run by the store's driver. */
export class LuaLocalStages implements LocalStageRegistry {
  constructor(private readonly run: <T>(name: LocalStageScriptName, args: string[]) => Promise<T>) {}

  async put(stage: LocalStage): Promise<void> {
    await this.run('localStagePut', [stage.arn, JSON.stringify({ arn: stage.arn, name: stage.name, tags: stage.tags })])
  }

  async get(arn: string): Promise<LocalStage | null> {
    const [raw] = await this.run<string[]>('localStageRead', [arn])
    return raw ? parse(raw) : null
  }

  async rename(arn: string, name: string): Promise<LocalStage | null> {
    const raw = await this.run<string | null>('localStageRename', [arn, name])
    return raw ? parse(raw) : null
  }

  async delete(arn: string): Promise<void> {
    await this.run('localStageDelete', [arn])
  }

  async list(): Promise<LocalStage[]> {
    return (await this.run<string[]>('localStageRead', [''])).map(parse)
  }
}

function parse(raw: string): LocalStage {
  const stage = JSON.parse(raw) as LocalStage
  // cjson writes an empty table as {} (Redis's default), but an array would also mean no tags.
  return { arn: stage.arn, name: stage.name, tags: Array.isArray(stage.tags) ? {} : stage.tags }
}
