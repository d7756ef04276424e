import { afterAll, beforeAll, beforeEach } from 'bun:test'

/**
 * Set-up failures of the blocks being run, innermost last. Hooks run in order and files one at a
 * time (per worker), so a block's set-up sees here only the failures of the blocks around it.
 */
const failedAround: unknown[] = []

/**
 * `beforeAll`, except that a failure fails every test of the block by name, with the set-up's error
 * (a missing system tool, a server that did not start). Bun reports a failed `beforeAll` as one
 * "(unnamed)" failure and never runs, nor counts, the block's tests. When a block around this one
 * already failed to set up, `setUp` is not called at all (it would only meet undefined fixtures).
 * The block's `afterAll` still runs: it must cope with a partial set-up (`x?.stop()`). With
 * `timeoutMs`, a set-up that takes longer fails the same way (Bun's own hook timeout, a little later,
 * would be "(unnamed)" again).
 */
export function beforeAllOrFail(setUp: () => unknown, timeoutMs?: number): void {
  let failure: { error: unknown } | null = null
  let mine = false
  beforeAll(
    async () => {
      if (failedAround.length) {
        failure = { error: failedAround.at(-1) }
        return
      }
      let timer: Timer | undefined
      try {
        const late = new Promise<never>((_, reject) => {
          if (timeoutMs !== undefined) timer = setTimeout(() => reject(new Error(`set-up timed out after ${timeoutMs} ms`)), timeoutMs)
        })
        await Promise.race([setUp(), late])
      } catch (error) {
        failure = { error }
        failedAround.push(error)
        mine = true
      } finally {
        clearTimeout(timer)
      }
    },
    timeoutMs && timeoutMs + 5_000,
  )
  beforeEach(() => {
    if (failure) throw failure.error
  })
  afterAll(() => {
    if (mine) failedAround.pop()
    failure = null
    mine = false
  })
}
