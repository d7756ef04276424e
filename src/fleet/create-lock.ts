import type { CreateLockSettings } from './settings'
import { StoreLock, type StoreLockDeps } from './store-lock'

export type CreateLockDeps = StoreLockDeps

/**
 * One stage creation at a time across the fleet: a store lease (StoreLock), held at least
 * `spacingMs` per creation so several instances together stay under IVS's stage-operation rate.
 *
 * A renewal that finds the lease taken by another holder means two creations may now overlap. The
 * one here cannot be recalled (IVS has been asked) and still finishes and records its stage; the
 * store's addStage still holds the fleet to MAX_STAGES and the IVS quota gate to 5 stage operations
 * a second, so the cost is at most a stage more than demand, which scale-down retires. It is logged
 * as a warning ("stage-creation lock lost while creating").
 */
export class CreateLock extends StoreLock {
  constructor(deps: CreateLockDeps, settings: CreateLockSettings) {
    super(deps, settings, {
      name: 'stage-create',
      lost: 'stage-creation lock lost while creating: another holder took it, and a creation may run alongside this one',
      notRenewed: 'stage-creation lock not renewed: the store did not answer',
      busy: 'the stage-creation lock stayed busy; retry shortly',
    })
  }
}
