import type { Store } from '../store/types'

export type FleetEventType =
  | 'stage_created'
  | 'stage_deleted'
  | 'publisher_state'
  | 'rejoin_required'
  | 'stats_update'
  | 'media_server_offline'
  | 'feeding_relay'
  | 'replication_started'
  | 'replication_stopped'
  /** FANOUT_MODE=hybrid: the stages the relay publishes into changed (an origin added or folded back). */
  | 'relay_stages'

/** Fleet events go to the store's event stream so every instance's sockets see them. */
export interface EventPublisher {
  publish(type: FleetEventType, data: Record<string, unknown>): Promise<void>
}

export function storeEventPublisher(store: Store): EventPublisher {
  return {
    async publish(type, data) {
      await store.appendEvent({ type, data })
    },
  }
}
