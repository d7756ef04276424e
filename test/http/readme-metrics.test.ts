/**
 * The README's metric names against serve's /metrics: every `ivs_fanout_…{labels}` it names that
 * serve exports carries exactly those labels (a label added in code must be added to the README).
 */
import { expect, test } from 'bun:test'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { freshServer } from '../support/serve'

type Family = { name: string; metrics: { labels?: Record<string, string> }[] }

test("the README's labels of serve's metrics are the ones /metrics exports", async () => {
  await using serve = await freshServer({ FANOUT_MODE: 'hybrid' })
  const text = await (await fetch(`${serve.url}/metrics`, { headers: { 'x-api-key': serve.apiKey } })).text()
  const exported = new Map((parsePrometheusTextFormat(text) as Family[]).map((f) => [f.name, f]))
  const readme = await Bun.file(new URL('../../README.md', import.meta.url)).text()
  const named = [...readme.matchAll(/`(ivs_fanout_[a-z_]+)\{([a-z_, ]+)\}`/g)].map(([, name, labels]) => ({
    name: name!,
    labels: labels!
      .split(',')
      .map((l) => l.trim())
      .sort(),
  }))
  const checked = named.filter((n) => exported.get(n.name)?.metrics.length)
  // What serve exports in hybrid mode from the start, at least.
  expect(checked.map((n) => n.name)).toContain('ivs_fanout_stage_feeds')
  for (const { name, labels } of checked) {
    const sets = new Set(
      exported.get(name)!.metrics.map((m) =>
        Object.keys(m.labels ?? {})
          .sort()
          .join(','),
      ),
    )
    expect([name, [...sets]]).toEqual([name, [labels.join(',')]])
  }
})
