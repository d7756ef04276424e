import type { CounterSample } from '../metrics/counters'

/** One IVS operation's calls (attempts: a retried call counts once per attempt) and its waits for the quota gate. */
export interface IvsOperationActivity {
  operation: string
  attempts: number
  ok: number
  throttled: number
  errors: number
  /** Milliseconds its calls waited for a slot of the fleet-wide quota gate, summed. */
  gateWaitMs: number
}

/**
 * The IVS API calls this instance made since it started, from its counters (IvsCalls by operation
 * and outcome, IvsGateWaitMs by operation: src/ivs/aws-api.ts' observer). The local stage provider
 * calls no IVS API: zeros.
 */
export interface IvsActivity {
  /** `aws`: IVS's API; `local`: stages in the process, no IVS calls. */
  provider: 'aws' | 'local'
  /** When this instance's counts start (its start), ISO 8601. */
  since: string
  totals: Omit<IvsOperationActivity, 'operation'>
  /** Each operation called at least once, most attempts first. */
  operations: IvsOperationActivity[]
}

const zeros = (): Omit<IvsOperationActivity, 'operation'> => ({ attempts: 0, ok: 0, throttled: 0, errors: 0, gateWaitMs: 0 })

const OUTCOME_FIELD = { ok: 'ok', throttled: 'throttled', error: 'errors' } as const

export function ivsActivity(samples: readonly CounterSample[], provider: IvsActivity['provider'], since: string): IvsActivity {
  const byOperation = new Map<string, IvsOperationActivity>()
  const of = (operation: string) => {
    let entry = byOperation.get(operation)
    if (!entry) {
      entry = { operation, ...zeros() }
      byOperation.set(operation, entry)
    }
    return entry
  }
  for (const { name, dimensions, value } of samples) {
    const operation = dimensions.operation
    if (operation === undefined) continue
    if (name === 'IvsCalls') {
      const field = OUTCOME_FIELD[dimensions.outcome as keyof typeof OUTCOME_FIELD]
      if (!field) continue
      const entry = of(operation)
      entry[field] += value
      entry.attempts += value
    } else if (name === 'IvsGateWaitMs') of(operation).gateWaitMs += value
  }
  for (const entry of byOperation.values()) entry.gateWaitMs = Math.round(entry.gateWaitMs)
  const operations = [...byOperation.values()].sort((a, b) => b.attempts - a.attempts || a.operation.localeCompare(b.operation))
  const totals = zeros()
  for (const o of operations) for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += o[key]
  return { provider, since, totals, operations }
}
