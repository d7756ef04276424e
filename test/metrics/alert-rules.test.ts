/**
 * The alert rules (docs/monitoring/ivs-fanout.rules.yml) as promtool sees them: `promtool check
 * rules` passes, `promtool test rules` runs the unit tests beside them (ivs-fanout.rules.test.yml)
 * and they pass, every alert has a severity, a summary, a description and a `for:`, and every alert
 * is tested both firing and quiet, and those tests bite: with an alert's expression made never true,
 * or always true, the unit tests fail. The example Prometheus configuration passes `promtool check
 * config` with the rules. (test/e2e/monitoring.test.ts loads them into a real Prometheus.)
 */
import { describe, expect, test } from 'bun:test'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { requireTool } from '../setup/system-tools'
import { tempDir } from '../support/leftovers'
import { ROOT } from '../support/process'

const FOLDER = join(ROOT, 'docs/monitoring')
const RULES = join(FOLDER, 'ivs-fanout.rules.yml')
const UNIT_TESTS = join(FOLDER, 'ivs-fanout.rules.test.yml')

interface Rule {
  alert: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
interface UnitTests {
  rule_files: string[]
  tests: { name: string; alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[]
}
const rulesText = readFileSync(RULES, 'utf8')
const alerts = (Bun.YAML.parse(rulesText) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules)
const unitTests = Bun.YAML.parse(readFileSync(UNIT_TESTS, 'utf8')) as UnitTests

function promtool(args: string[], cwd = FOLDER): { code: number; output: string } {
  const result = Bun.spawnSync([requireTool('promtool'), ...args], { cwd, stdout: 'pipe', stderr: 'pipe' })
  return { code: result.exitCode, output: result.stdout.toString() + result.stderr.toString() }
}

describe('the alert rules', () => {
  test('promtool check rules: valid, one rule per alert', () => {
    const { code, output } = promtool(['check', 'rules', RULES])
    expect(output).toContain(`SUCCESS: ${alerts.length} rules found`)
    expect(code).toBe(0)
  })

  test('promtool test rules: the unit tests pass', () => {
    const { code, output } = promtool(['test', 'rules', UNIT_TESTS])
    expect(output).toContain('SUCCESS')
    expect(code).toBe(0)
  })

  test('the alerts the issue asks for, each with a severity (critical or warning), a summary, a description and a for:', () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual([
      'IvsFanoutBroadcasterGone',
      'IvsFanoutCapacityExhausted',
      'IvsFanoutIngestLossUnrepaired',
      'IvsFanoutIvsThrottled',
      'IvsFanoutNoLeader',
      'IvsFanoutPreviousApiKeyStillSet',
      'IvsFanoutQuotaGateSlow',
      'IvsFanoutRelayStageSessionFailing',
      'IvsFanoutReplicationsRefused',
      'IvsFanoutStoreUnreachable',
      'IvsFanoutTargetDown',
    ])
    for (const a of alerts) {
      expect({ alert: a.alert, severity: a.labels?.severity }).toEqual({ alert: a.alert, severity: expect.stringMatching(/^(critical|warning)$/) })
      expect({ alert: a.alert, for: a.for }).toEqual({ alert: a.alert, for: expect.stringMatching(/^\d+[mh]$/) })
      expect(Object.keys(a.annotations ?? {}).sort()).toEqual(['description', 'summary'])
      expect(a.annotations!.description!.length).toBeGreaterThan(80)
      expect(a.annotations!.description).toContain('First check:')
    }
  })

  test('the unit tests load these rules and test every alert firing and quiet', () => {
    expect(unitTests.rule_files).toEqual(['ivs-fanout.rules.yml'])
    const cases = unitTests.tests.flatMap((t) => t.alert_rule_test)
    const coverage = alerts.map((a) => ({
      alert: a.alert,
      fires: cases.some((c) => c.alertname === a.alert && c.exp_alerts.length > 0),
      quiet: cases.some((c) => c.alertname === a.alert && c.exp_alerts.length === 0),
    }))
    expect(coverage).toEqual(alerts.map((a) => ({ alert: a.alert, fires: true, quiet: true })))
  })

  test('the unit tests bite: each alert made never true, or always true, fails them', () => {
    const dir = tempDir('ivsf-rules-')
    copyFileSync(UNIT_TESTS, join(dir, 'ivs-fanout.rules.test.yml'))
    const survived: string[] = []
    for (const a of alerts) {
      for (const [what, expr] of [
        ['never', 'vector(1) > 2'],
        ['always', 'vector(1)'],
      ] as const) {
        const line = `expr: ${a.expr}\n`
        expect(rulesText.split(line).length).toBe(2)
        writeFileSync(join(dir, 'ivs-fanout.rules.yml'), rulesText.replace(line, `expr: ${expr}\n`))
        const { code, output } = promtool(['test', 'rules', 'ivs-fanout.rules.test.yml'], dir)
        if (code === 0) survived.push(`${a.alert} ${what} true`)
        else expect(output).toContain(`alertname: ${a.alert}`)
      }
    }
    expect(survived).toEqual([])
  }, 120_000)
})

describe('the example Prometheus configuration', () => {
  test("IvsFanoutTargetDown watches every job of the example's scrape configuration, and nothing else", () => {
    const config = Bun.YAML.parse(readFileSync(join(FOLDER, 'prometheus.yml'), 'utf8')) as { scrape_configs: { job_name: string }[] }
    const jobs = config.scrape_configs.map((c) => c.job_name)
    expect(jobs.sort()).toEqual(['ivs-fanout-relay', 'ivs-fanout-serve'])
    const rule = alerts.find((a) => a.alert === 'IvsFanoutTargetDown')!
    const selector = /^up\{job=~"([^"]+)"\} == 0$/.exec(rule.expr)
    expect(selector).not.toBeNull()
    // PromQL's =~ is anchored at both ends.
    const matcher = new RegExp(`^(?:${selector![1]})$`)
    for (const job of jobs) expect({ job, watched: matcher.test(job) }).toEqual({ job, watched: true })
    for (const job of ['node', 'prometheus', 'redis']) expect({ job, watched: matcher.test(job) }).toEqual({ job, watched: false })
  })

  test('promtool check config: valid, with the rules beside it (its token file made up here)', () => {
    const dir = tempDir('ivsf-prom-config-')
    writeFileSync(join(dir, 'token'), 'a-metrics-token-0123456789\n')
    const config = readFileSync(join(FOLDER, 'prometheus.yml'), 'utf8')
    expect(config.split('/etc/prometheus/ivs-fanout-metrics-token').length - 1).toBe(2)
    writeFileSync(join(dir, 'prometheus.yml'), config.replaceAll('/etc/prometheus/ivs-fanout-metrics-token', join(dir, 'token')))
    copyFileSync(RULES, join(dir, 'ivs-fanout.rules.yml'))
    const { code, output } = promtool(['check', 'config', 'prometheus.yml'], dir)
    expect(output).toContain('SUCCESS: 1 rule files found')
    expect(output).toContain(`SUCCESS: ${alerts.length} rules found`)
    expect(code).toBe(0)
  })
})
