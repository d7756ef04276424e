import { expect, test } from 'bun:test'
import { createLogger } from '../../src/log'
import { Counters } from '../../src/metrics/counters'
import { ApiKeys, PREVIOUS_KEY_COUNTER, PreviousKeyWatch } from '../../src/web/api-keys'
import { counterFamilies } from '../../src/web/metrics'
import { ManualClock } from '../support/clock'

const NEW = 'the-new-api-key-0123456789'
const OLD = 'the-old-api-key-0123456789'

function watched() {
  const clock = new ManualClock()
  const counters = new Counters()
  const lines: string[] = []
  const watch = new PreviousKeyWatch({ counters, clock, logger: createLogger('info', {}, (line) => lines.push(line)) }, 60_000)
  const used = () => counters.snapshot().find((s) => s.name === PREVIOUS_KEY_COUNTER)?.value
  const warnings = () => lines.map((l) => JSON.parse(l) as { level: string; msg: string; route: string; sinceLastWarning: number })
  return { clock, counters, lines, watch, used, warnings }
}

test('either key matches while a rotation rolls out, and says which; anything else (a prefix, a longer one, none) matches neither', () => {
  const keys = new ApiKeys(NEW, OLD)
  expect([keys.match(NEW), keys.match(OLD)]).toEqual(['current', 'previous'])
  for (const wrong of ['third-key-0123456789abc', NEW.slice(0, -1), `${OLD}x`, '', undefined, null]) {
    expect([wrong, keys.match(wrong), keys.matches(wrong)]).toEqual([wrong, null, false])
  }
  // Without a previous key, only the current one.
  expect([new ApiKeys(NEW).match(NEW), new ApiKeys(NEW).match(OLD)]).toEqual(['current', null])
})

test('a use of the previous key is counted each time; the current key, a wrong one and no previous key count nothing', () => {
  const { watch, used, counters } = watched()
  // The series exists at 0 from the start, so a dashboard sees it fall to 0 rather than vanish.
  expect(used()).toBe(0)
  expect(counterFamilies(counters.snapshot()).map((f) => [f.name, f.samples[0]!.value])).toEqual([['ivs_fanout_api_key_previous_used_total', 0]])
  const keys = new ApiKeys(NEW, OLD, watch)
  keys.noteUse(OLD, 'POST /api/token/viewer')
  keys.noteUse(OLD, 'POST /api/token/viewer')
  keys.noteUse(NEW, 'POST /api/token/viewer')
  keys.noteUse('wrong-key-0123456789abc', 'POST /api/token/viewer')
  keys.noteUse(undefined, 'GET /api/stats')
  expect(used()).toBe(2)
  // Once the previous key is removed from the configuration, it is no key at all.
  new ApiKeys(NEW, null, watch).noteUse(OLD, 'GET /api/stats')
  expect(used()).toBe(2)
})

test('the warning names the route, at most once a minute per route with the count since the last one, and never the key', () => {
  const { watch, clock, lines, warnings } = watched()
  const keys = new ApiKeys(NEW, OLD, watch)
  for (let i = 0; i < 5; i++) keys.noteUse(OLD, 'POST /api/media/heartbeat')
  keys.noteUse(OLD, 'GET /api/stats')
  expect(warnings().map((w) => [w.level, w.route, w.sinceLastWarning])).toEqual([
    ['warn', 'POST /api/media/heartbeat', 1],
    ['warn', 'GET /api/stats', 1],
  ])
  clock.advance(59_999)
  keys.noteUse(OLD, 'POST /api/media/heartbeat')
  expect(warnings().length).toBe(2)
  clock.advance(1)
  keys.noteUse(OLD, 'POST /api/media/heartbeat')
  expect(
    warnings()
      .slice(2)
      .map((w) => [w.route, w.sinceLastWarning]),
  ).toEqual([['POST /api/media/heartbeat', 6]])
  expect(warnings()[0]!.msg).toContain('API_SECRET_KEY_PREVIOUS')
  for (const line of lines) expect([line.includes(OLD), line.includes(NEW)]).toEqual([false, false])
})
