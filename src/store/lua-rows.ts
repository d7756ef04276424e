import type { Presence, RelayBeat, StageRecord, StageView } from './types'

/** How the Lua scripts' answers become domain records. */

export const NO_RELAY_BEAT = '{"publisherActive":false,"connectedStages":0,"stageArns":[],"lastHeartbeatAt":0,"offlineSince":null}'

/** A stored beat; records written before counts existed hold the stage list in `connectedStages`. */
export function readBeat(raw: string): RelayBeat {
  const beat = JSON.parse(raw) as Omit<RelayBeat, 'connectedStages'> & { connectedStages: number | string[] }
  const list = Array.isArray(beat.connectedStages) ? beat.connectedStages : (beat.stageArns ?? [])
  const count = Array.isArray(beat.connectedStages) ? beat.connectedStages.length : beat.connectedStages
  return {
    publisherActive: beat.publisherActive,
    connectedStages: count,
    stageArns: list,
    ...(beat.publisherSince === undefined ? {} : { publisherSince: beat.publisherSince }),
    lastHeartbeatAt: beat.lastHeartbeatAt,
    offlineSince: beat.offlineSince ?? null,
    ...(beat.ingest === undefined ? {} : { ingest: beat.ingest }),
    ...(beat.stageSessions === undefined ? {} : { stageSessions: beat.stageSessions }),
  }
}

/** Flat [key, value, …] arrays (HGETALL, stream entries in RESP2) as maps. */
export function pairs(flat: string[] | null | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; flat && i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!
  return out
}

/** A stored record and its viewer count as a view with the store's capacity (not stored: the store's setting). */
export function toView([raw, count]: [string, number], capacity: number): StageView {
  return { ...(JSON.parse(raw) as StageRecord), viewerCount: Number(count), capacity }
}

export function toPresence(userId: string, raw: string, seen: string): Presence {
  const p = JSON.parse(raw) as { stageArn: string; participantId: string; joinedAt: number }
  return { userId, stageArn: p.stageArn, participantId: p.participantId, joinedAt: p.joinedAt, lastHeartbeatAt: Number(seen) }
}
