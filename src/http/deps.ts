import type { ServeConfig } from '../config'
import type { FleetService } from '../fleet/service'
import type { Authenticator } from './auth'

/** What the resource plugins need; built once in serve.ts (or by a test) and handed down. */
export interface RouteDeps {
  fleet: FleetService
  auth: Authenticator
  config: Pick<ServeConfig, 'stageCapacity' | 'maxStages' | 'heartbeatIntervalMs'>
}
