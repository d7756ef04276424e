/**
 * Viewer tokens per second through the real server, against two ceilings measured in the same run:
 * bare Bun.serve (HTTP) and raw ES384 signing with all cores busy (crypto). DESIGN.md §9.
 *
 *   bun run bench:tokens [--json] [--rounds 5] [--seconds 3] [--concurrency 64]
 *
 * Concurrency 64 gave the server its best token rate here (2 cores): 16 and 32 about 7 % fewer
 * tokens/s, 128 the same tokens/s but a ~30 % lower HTTP ceiling (the fetch client, not the server).
 *
 * Every target runs in its own process; one load generator process drives both HTTP targets.
 * Rounds interleave the three measurements so a noisy neighbour hits them alike, and each
 * figure is the median over rounds. Exits non-zero when anything fails, not when a target is missed.
 */
import { parseArgs } from 'node:util'
import { type Child, machineInfo, runBench, spawnChild } from './support/child'
import { median } from './support/common'
import type { LoadJob, LoadResult } from './support/loadgen'
import type { SignJob } from './support/sign'

const TARGET_RATIO = 0.7
const TARGET_TOKENS_PER_S = 2000
const WARMUP_SECONDS = 2
const SIGN_IN_FLIGHT = 64 // as many as the load generator's requests; any count >= cores saturates them
const API_KEY = 'bench-api-key-0123456789abcdefgh' // 32 characters
const HEADERS = { 'content-type': 'application/json', 'x-api-key': API_KEY }
const ROOT = new URL('..', import.meta.url).pathname

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '64' },
  },
})
const rounds = positiveInt('rounds', args.rounds)
const seconds = Number(args.seconds)
const concurrency = positiveInt('concurrency', args.concurrency)
if (!(seconds > 0)) usage('--seconds must be a positive number')

// With --json, stdout carries only the final JSON object; everything human goes to stderr.
const say = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`)

interface Round {
  tokens: number
  http: number
  crypto: number
  ratio: number
  valid: boolean
  failures: Record<string, number>
  loadgenCpuCores: number
}

await runBench('bench:tokens', main)

async function main(): Promise<void> {
  const machine = machineInfo()
  say(`machine: ${machine.cpu}, ${machine.cores} cores, bun ${machine.bun}, ${machine.date}, load ${machine.load1}`)

  const bun = process.execPath
  const signer = spawnChild('signer', [bun, 'bench/support/sign.ts'], { cwd: ROOT, ipc: true })
  const loadgen = spawnChild('loadgen', [bun, 'bench/support/loadgen.ts'], { cwd: ROOT, ipc: true })
  const bare = spawnChild('bare server', [bun, 'bench/support/bare-server.ts'], { cwd: ROOT, ipc: true })
  const port = freePort()
  const server = spawnChild('serve', [bun, 'run', 'src/main.ts', 'serve'], {
    cwd: ROOT,
    env: {
      API_PORT: String(port),
      API_SECRET_KEY: API_KEY,
      RATE_LIMIT_MAX_REQUESTS: '1000000000',
      STAGE_CAPACITY: '10000',
      MAX_STAGES: '1000',
      // Seats for every token the rounds issue (the default subscription quota, 20,000, would start
      // refusing viewers after a few rounds: those rounds measured 503s).
      IVS_MAX_SUBSCRIPTIONS: String(10_000 * 1000),
      LOG_LEVEL: 'warn',
      IVS_PROVIDER: 'local',
    },
  })
  const tokenUrl = `http://127.0.0.1:${port}/api/token/viewer`
  await waitUntilUp(server, `http://127.0.0.1:${port}/health/live`)

  // One real answer fixes the size of the bare server's answer and the crypto ceiling's signing input.
  const sample = await fetch(tokenUrl, { method: 'POST', headers: HEADERS, body: JSON.stringify({ userId: 'bench-sample' }) })
  const sampleBody = await sample.text()
  const token: unknown = sample.status === 200 ? JSON.parse(sampleBody)?.data?.token : undefined
  if (typeof token !== 'string' || token.split('.').length !== 3) throw new Error(`sample viewer token request failed: ${sample.status} ${sampleBody}`)
  const signingInput = token.slice(0, token.lastIndexOf('.'))
  const { port: barePort } = await bare.call<{ port: number }>({ body: sampleBody })
  const bareUrl = `http://127.0.0.1:${barePort}/api/token/viewer`
  say(
    `viewer-token response: ${Buffer.byteLength(sampleBody)} bytes; load: ${concurrency} concurrent fetches; ${rounds} rounds of ${seconds} s after a ${WARMUP_SECONDS} s warm-up`,
  )

  const load = (url: string, secs: number) => loadgen.call<LoadResult>({ url, headers: HEADERS, seconds: secs, concurrency } satisfies LoadJob)
  const sign = (secs: number) => signer.call<{ perSecond: number }>({ input: signingInput, seconds: secs, inFlight: SIGN_IN_FLIGHT } satisfies SignJob)

  const warm = [await load(tokenUrl, WARMUP_SECONDS), await load(bareUrl, WARMUP_SECONDS)]
  await sign(WARMUP_SECONDS / 2)
  const warmFailures = warm.reduce((n, r) => n + r.failed, 0)
  if (warmFailures > 0) throw new Error(`warm-up had ${warmFailures} failed requests: ${JSON.stringify(warm.map((r) => r.failures))}`)

  const results: Round[] = []
  for (let i = 1; i <= rounds; i++) {
    const tokens = await load(tokenUrl, seconds)
    const http = await load(bareUrl, seconds)
    const crypto = (await sign(seconds)).perSecond
    server.assertRunning()
    const failures = mergeCounts(tokens.failures, http.failures)
    const tokenRate = tokens.ok / tokens.seconds
    const httpRate = http.ok / http.seconds
    const round: Round = {
      tokens: tokenRate,
      http: httpRate,
      crypto,
      ratio: tokenRate / Math.min(httpRate, crypto),
      valid: tokens.failed + http.failed === 0,
      failures,
      loadgenCpuCores: tokens.cpuCores,
    }
    results.push(round)
    say(
      `round ${i}: tokens ${fmt(round.tokens)}/s  http ${fmt(round.http)}/s  crypto ${fmt(round.crypto)}/s  ratio ${pct(round.ratio)}` +
        `  (loadgen ${round.loadgenCpuCores.toFixed(2)} cores)${round.valid ? '' : `  INVALID, non-200: ${JSON.stringify(failures)}`}`,
    )
  }

  const valid = results.filter((r) => r.valid)
  const invalid = results.length - valid.length
  if (valid.length === 0) throw new Error('every round had failed requests; no figures')
  const mid = (pick: (r: Round) => number) => median(valid.map(pick))
  const tokensPerSec = Math.round(mid((r) => r.tokens))
  const ratio = Math.round(mid((r) => r.ratio) * 1000) / 1000
  const summary = {
    machine,
    concurrency,
    rounds: results.length,
    invalidRounds: invalid,
    secondsPerRound: seconds,
    responseBytes: Buffer.byteLength(sampleBody),
    tokensPerSec,
    httpCeilingPerSec: Math.round(mid((r) => r.http)),
    cryptoCeilingPerSec: Math.round(mid((r) => r.crypto)),
    ratio,
    loadgenCpuCores: Math.round(mid((r) => r.loadgenCpuCores) * 100) / 100,
    targets: {
      ratio: { min: TARGET_RATIO, pass: ratio >= TARGET_RATIO },
      tokensPerSec: { min: TARGET_TOKENS_PER_S, pass: tokensPerSec >= TARGET_TOKENS_PER_S },
    },
    perRound: results.map((r) => ({
      tokens: Math.round(r.tokens),
      http: Math.round(r.http),
      crypto: Math.round(r.crypto),
      ratio: Math.round(r.ratio * 1000) / 1000,
      valid: r.valid,
    })),
  }

  say(`\nmedians of ${valid.length} valid round(s)${invalid ? ` (${invalid} invalid, excluded)` : ''}:`)
  say(`  viewer tokens   ${fmt(summary.tokensPerSec)}/s   target >= ${fmt(TARGET_TOKENS_PER_S)}/s  ${passMiss(summary.targets.tokensPerSec.pass)}`)
  say(`  HTTP ceiling    ${fmt(summary.httpCeilingPerSec)}/s   (bare Bun.serve, same request, ${summary.responseBytes}-byte answer)`)
  say(`  crypto ceiling  ${fmt(summary.cryptoCeilingPerSec)}/s   (ES384 crypto.subtle.sign, ${SIGN_IN_FLIGHT} in flight)`)
  say(`  ratio           ${pct(summary.ratio)}   tokens / min(ceilings), per round   target >= ${pct(TARGET_RATIO)}  ${passMiss(summary.targets.ratio.pass)}`)
  if (args.json) process.stdout.write(`${JSON.stringify(summary)}\n`)
  if (invalid > 0) {
    process.stderr.write(`bench:tokens: ${invalid} round(s) had non-200 answers\n`)
    process.exitCode = 1
  }
}

async function waitUntilUp(server: Child, url: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    server.assertRunning()
    const up = await fetch(url).then(
      (r) => r.ok,
      () => false,
    )
    if (up) return
    await Bun.sleep(100)
  }
  throw new Error(`serve did not answer ${url} within 20 s`)
}

/** A port nothing listens on right now (the OS picks it; the tiny race until serve binds it is acceptable here). */
function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = probe.port!
  probe.stop(true)
  return port
}

function mergeCounts(...maps: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const map of maps) for (const [k, v] of Object.entries(map)) out[k] = (out[k] ?? 0) + v
  return out
}

function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) usage(`--${name} must be a positive integer`)
  return n
}

function usage(message: string): never {
  process.stderr.write(`bench:tokens: ${message}\nusage: bun run bench:tokens [--json] [--rounds N] [--seconds S] [--concurrency C]\n`)
  process.exit(2)
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(1)} %`
}

function passMiss(pass: boolean): string {
  return pass ? 'PASS' : 'MISS'
}
