/**
 * `bun run bench`: every benchmark, one after another (they would compete for the 2 cores), then
 * one table of the figures that matter, each against its baseline or target.
 *   bun run bench [--only tokens,heartbeats,presence,stores,quotas,fanout,relay]
 */
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'

interface Row {
  bench: string
  figure: string
  value: string
  against: string
  verdict: string
}
type Summary = Record<string, any>
/** bench/relay.ts's hybrid row at one N (summary.hybrid.perN). */
interface HybridRow {
  n: number
  origins: number
  relayMode: { relayCpuMsPerS: number; egressMbps: number }
  hybrid: { relayCpuMsPerS: number; egressMbps: number }
  cpuRatio: number
  egressRatio: number
  cpuPass: boolean
  egressPass: boolean
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`
const n = (x: number) => Math.round(x).toLocaleString('en-US')
const verdict = (pass: boolean | undefined) => (pass === undefined ? '' : pass ? 'PASS' : 'MISS')

const BENCHES: Record<string, { script: string; rows(s: Summary): Row[] }> = {
  tokens: {
    script: 'bench/tokens.ts',
    rows: (s) => [
      {
        bench: 'tokens',
        figure: 'viewer tokens/s',
        value: n(s.tokensPerSec),
        against: `target ≥ ${n(s.targets.tokensPerSec.min)}`,
        verdict: verdict(s.targets.tokensPerSec.pass),
      },
      {
        bench: 'tokens',
        figure: 'tokens / min(HTTP, crypto ceiling)',
        value: pct(s.ratio),
        against: `HTTP ${n(s.httpCeilingPerSec)}/s, ES384 ${n(s.cryptoCeilingPerSec)}/s; target ≥ ${pct(s.targets.ratio.min)}`,
        verdict: verdict(s.targets.ratio.pass),
      },
    ],
  },
  heartbeats: {
    script: 'bench/heartbeats.ts',
    rows: (s) => [
      {
        bench: 'heartbeats',
        figure: 'heartbeats per REST call',
        value: n(s.heartbeatsPerRestCall),
        against: `unbatched: 1; target ≥ ${s.targets.heartbeatsPerRestCall.min}`,
        verdict: verdict(s.targets.heartbeatsPerRestCall.pass),
      },
      {
        bench: 'heartbeats',
        figure: 'heartbeat latency p99',
        value: `${s.latencyMs.p99} ms`,
        against: `p50 ${s.latencyMs.p50} ms; window ${s.windowMs} ms`,
        verdict: '',
      },
    ],
  },
  presence: {
    script: 'bench/presence-memory.ts',
    rows: (s) => [
      {
        bench: 'presence',
        figure: `RSS with ${n(s.viewers)} viewers`,
        value: `${s.rssMB.seated} MB`,
        against: `empty ${s.rssMB.baseline} MB; target ≤ ${s.targets.rssMB.max} MB`,
        verdict: verdict(s.targets.rssMB.pass),
      },
      { bench: 'presence', figure: 'sweep of all / of none', value: `${s.fullSweepMs} ms / ${s.emptySweepMs} ms`, against: '', verdict: '' },
    ],
  },
  limiter: {
    script: 'bench/limiter-memory.ts',
    rows: (s) => [
      {
        bench: 'limiter',
        figure: `heap after ${n(s.keys)} distinct keys`,
        value: `${s.capped.heapMb.toFixed(1)} MB (${n(s.capped.kept)} kept)`,
        against: `uncapped Map: ${s.uncapped.heapMb.toFixed(1)} MB; ${(s.heapRatio * 100).toFixed(1)} %`,
        verdict: verdict(s.capped.kept <= 100_000),
      },
    ],
  },
  stores: {
    script: 'bench/stores.ts',
    rows: (s) => [
      ...(
        s.stores as { name: string; assignsPerSec: number; heartbeatsPerSec: number; assignRatio: number; heartbeatRatio: number; roundTripsPer1000: number }[]
      )
        .filter((x) => x.name !== 'memory')
        .map((x) => ({
          bench: 'stores',
          figure: `${x.name}: assignments/s, heartbeats/s`,
          value: `${n(x.assignsPerSec)}, ${n(x.heartbeatsPerSec)}`,
          against: `× memory: ${x.assignRatio.toFixed(3)}, ${x.heartbeatRatio.toFixed(3)}; ${x.roundTripsPer1000} round trips / 1,000 heartbeats`,
          verdict: '',
        })),
      {
        bench: 'stores',
        figure: 'raw EVALSHA/s: ioredis vs Bun client',
        value: `${n(s.clients.ioredis)} vs ${n(s.clients.bun)}`,
        against: `ratio ${(s.clients.ioredis / s.clients.bun).toFixed(2)}`,
        verdict: '',
      },
    ],
  },
  quotas: {
    script: 'bench/quotas.ts',
    rows: (s) =>
      (s.perN as { instances: number; tokensPerSec: number; shareOfQuota: number; peakPerWindow: number; throttled: number; failed: number }[]).map((p) => ({
        bench: 'quotas',
        figure: `API tokens/s, ${p.instances} instance${p.instances === 1 ? '' : 's'}`,
        value: `${p.tokensPerSec}/s; steady ${pct(p.shareOfQuota)} of ${s.tps} TPS`,
        against: `peak ${p.peakPerWindow}/s, ${p.throttled} throttled; target ≥ 90.0 %, 0 throttled`,
        verdict: verdict(p.shareOfQuota >= 0.9 && p.throttled === 0 && p.failed === 0),
      })),
  },
  fanout: {
    script: 'bench/fanout.ts',
    rows: (s) => [
      {
        bench: 'fanout',
        figure: `hybrid, ${s.stages} stages: created → replica ACTIVE`,
        value: `p90 ${Math.round(s.largeP90Ms)} ms, max ${Math.round(s.largeMaxMs)} ms; ${s.late} of ${s.replicaStages} later than 1 s`,
        against: `first stages p90 ${Math.round(s.baselineP90Ms)} ms (${s.ratio.toFixed(1)}×); target max ≤ ${s.target.maxMs} ms`,
        verdict: verdict(s.target.pass),
      },
    ],
  },
  relay: {
    script: 'bench/relay.ts',
    rows: (s) => {
      const t = s.targets
      const byN = (s.perN as { n: number; relayCpuMsPerS: number }[]).map((p) => `N=${p.n}: ${Math.round(p.relayCpuMsPerS)}`).join(', ')
      return [
        {
          bench: 'relay',
          figure: 'relay CPU ms/s by stages',
          value: byN,
          against: `fit ${s.linearity.fitOfMedians.interceptMsPerS} + ${s.linearity.fitOfMedians.slopeMsPerSPerStage}·N ms/s, R² ${t.linear.value}; target linear`,
          verdict: verdict(t.linear.pass),
        },
        {
          bench: 'relay',
          figure: `relay CPU at N=${t.underOneCore.n}`,
          value: `${t.underOneCore.value} ms/s`,
          against: `one core = ${t.underOneCore.max} ms/s`,
          verdict: verdict(t.underOneCore.pass),
        },
        {
          bench: 'relay',
          figure: `relay µs per forwarded packet, N=${t.underOneCore.n}`,
          value: `${s.sendFloor.relayCpuUsPerPacketAtLargestN} µs`,
          against: `bare UDP send ${s.sendFloor.cpuUsPerSend.toFixed(2)} µs: ${s.sendFloor.ratio}×`,
          verdict: '',
        },
        {
          bench: 'relay',
          figure: `in→out delay p99 at N=${t.p99.n}`,
          value: `${t.p99.value} ms`,
          against: `target ≤ ${t.p99.max} ms`,
          verdict: verdict(t.p99.pass),
        },
        {
          bench: 'relay',
          figure: 'received per stage (least served)',
          value: `${t.bitrate.value} Mbit/s`,
          against: `sent 2.5 Mbit/s; target ≥ ${t.bitrate.min}`,
          verdict: verdict(t.bitrate.pass),
        },
        ...((s.hybrid?.perN ?? []) as HybridRow[]).map((r) => ({
          bench: 'relay',
          figure: `hybrid / relay mode, N=${r.n}: CPU, egress`,
          value: `${r.cpuRatio.toFixed(3)}, ${r.egressRatio.toFixed(3)}`,
          against: `${r.origins} sessions: ${Math.round(r.hybrid.relayCpuMsPerS)} of ${Math.round(r.relayMode.relayCpuMsPerS)} ms/s, ${Math.round(r.hybrid.egressMbps)} of ${Math.round(r.relayMode.egressMbps)} Mbit/s; goal ≤ ${s.targets.hybrid.max}`,
          verdict: verdict(r.cpuPass && r.egressPass),
        })),
        ...(s.loss as { lossPct: number; relay: { decodedShare: number }; direct: { decodedShare: number }; noRepair: { decodedShare: number } | null }[]).map(
          (r) => ({
            bench: 'relay',
            figure: `frames decoded per stage, ${r.lossPct} % ingest loss`,
            value: `${pct(r.relay.decodedShare)} via the relay`,
            against: `direct ${pct(r.direct.decodedShare)}${r.noRepair ? `, no repair ${pct(r.noRepair.decodedShare)}` : ''}`,
            verdict: '',
          }),
        ),
      ]
    },
  },
}

const { values } = parseArgs({ options: { only: { type: 'string' } } })
const selected = values.only ? values.only.split(',') : Object.keys(BENCHES)
const rows: Row[] = []
let failed = false
for (const name of selected) {
  const bench = BENCHES[name]
  if (!bench) {
    console.error(`unknown benchmark "${name}"; choose from ${Object.keys(BENCHES).join(', ')}`)
    process.exit(2)
  }
  console.error(`\n== ${name} (${bench.script}) ==`)
  const child = Bun.spawn([process.execPath, 'run', bench.script, '--json'], { stdout: 'pipe', stderr: 'inherit' })
  const out = await new Response(child.stdout).text()
  const code = await child.exited
  const line = out.trim().split('\n').pop() ?? ''
  try {
    rows.push(...bench.rows(JSON.parse(line)))
    if (code !== 0) failed = true
  } catch {
    failed = true
    rows.push({ bench: name, figure: 'run failed', value: `exit ${code}`, against: '', verdict: 'ERROR' })
  }
}

const header: Row = { bench: 'bench', figure: 'figure', value: 'median', against: 'baseline / target', verdict: '' }
const widths = (Object.keys(header) as (keyof Row)[]).map((k) => Math.max(...[header, ...rows].map((r) => r[k].length)))
const print = (r: Row) =>
  console.log(
    (Object.keys(header) as (keyof Row)[])
      .map((k, i) => r[k].padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  )
console.log(`\n${new Date().toISOString().slice(0, 10)}  ${cpus()[0]?.model.trim()} × ${cpus().length}  Bun ${Bun.version}  load ${loadavg()[0]!.toFixed(2)}`)
print(header)
print({
  bench: '-'.repeat(widths[0]!),
  figure: '-'.repeat(widths[1]!),
  value: '-'.repeat(widths[2]!),
  against: '-'.repeat(widths[3]!),
  verdict: '-'.repeat(widths[4]!),
})
for (const r of rows) print(r)
process.exit(failed ? 1 : 0)
