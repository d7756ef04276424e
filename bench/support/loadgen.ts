import { describeError } from '../../src/errors'
import { serveCalls } from './child'

export interface LoadJob {
  url: string
  headers: Record<string, string>
  seconds: number
  concurrency: number
}

export interface LoadResult {
  ok: number
  failed: number
  /** Non-200 answers by status, and thrown fetch errors under "error: <message>". */
  failures: Record<string, number>
  seconds: number
  /** CPU this process used (user + system), in cores: 1 = one core busy for the whole run. */
  cpuCores: number
}

const userPrefix = `lg${process.pid}-`
let seq = 0

/**
 * Closed-loop load: `concurrency` workers, each POSTing {"userId": <unique>} and waiting for the
 * whole answer before the next. fetch keeps connections alive and pools them per origin.
 */
async function run(job: LoadJob): Promise<LoadResult> {
  const failures: Record<string, number> = {}
  let ok = 0
  let failed = 0
  const fail = (why: string) => {
    failed++
    failures[why] = (failures[why] ?? 0) + 1
  }
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const deadline = started + job.seconds * 1000
  const worker = async () => {
    while (performance.now() < deadline) {
      try {
        const res = await fetch(job.url, { method: 'POST', headers: job.headers, body: `{"userId":"${userPrefix}${seq++}"}` })
        await res.arrayBuffer()
        if (res.status === 200) ok++
        else fail(String(res.status))
      } catch (error) {
        fail(`error: ${describeError(error)}`)
      }
    }
  }
  await Promise.all(Array.from({ length: job.concurrency }, worker))
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  return { ok, failed, failures, seconds, cpuCores: (cpu.user + cpu.system) / 1e6 / seconds }
}

serveCalls(run)
