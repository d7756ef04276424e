/**
 * Loaded before the test files (bunfig.toml `[test] preload`). Its `afterAll` is global: it runs
 * once after the last file (after every file with `--parallel`). It removes the run's temporary
 * folders and kills the servers left running (test/support/leftovers.ts), then names each missing
 * system tool the tests met, once, with the one line installing every tool missing here.
 */
import { afterAll } from 'bun:test'
import { cleanUpLeftovers } from '../support/leftovers'
import { findTool, missingSummary, missingThisRun, missingTools } from './system-tools'

afterAll(() => {
  const left = cleanUpLeftovers()
  if (left.processes) console.error(`preload: killed ${left.processes} server process(es) still running at the end of the run`)
  const summary = missingSummary([...missingThisRun], missingThisRun.size ? missingTools(findTool) : [])
  missingThisRun.clear()
  if (summary) console.error(`\n${summary}\n`)
})
