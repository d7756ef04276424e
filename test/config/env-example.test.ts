import { describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadRelayConfig } from '../../relay/config'
import type { ConfigResult, Env } from '../../src/config/env'
import { loadServeConfig, RELAY_ONLY } from '../../src/config/serve'

/**
 * Keeps three descriptions of the configuration in step: what the loaders read, `.env.example`, and
 * README.md's two configuration tables (serve's under "## Configuration", the relay's in "## The relay").
 */

const ROOT = join(import.meta.dir, '..', '..')
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')

/**
 * Read by the AWS SDK's credential/region chain. `hasAwsCredentials` looks at some of them (they make
 * IVS_PROVIDER default to aws), but they are the SDK's variables: documenting them is allowed, not required.
 */
const SDK_CHAIN_ONLY = (name: string) =>
  [
    'AWS_PROFILE',
    'AWS_WEB_IDENTITY_TOKEN_FILE',
    'AWS_ROLE_ARN',
    'AWS_ROLE_SESSION_NAME',
    'AWS_SESSION_TOKEN',
    'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
    'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  ].includes(name) || name.startsWith('AWS_ENDPOINT_URL_')

const ENV_NAME = /^[A-Z][A-Z0-9_]*$/
const HOST = 'test-host'
const KEY = 'k'.repeat(16)
const loadServe = (env: Env) => loadServeConfig(env)
const loadRelay = (env: Env) => loadRelayConfig(env, HOST)

// ---------------------------------------------------------------------------------------------------
// 1. What the loaders read.
// ---------------------------------------------------------------------------------------------------

/** Runs a loader on an env that records every name it touches (get, in, hasOwn, descriptor). */
function recordReads(load: (env: Env) => unknown, env: Env): Set<string> {
  const seen = new Set<string>()
  const note = (key: string | symbol) => {
    if (typeof key === 'string' && ENV_NAME.test(key)) seen.add(key)
  }
  const proxy = new Proxy(
    { ...env },
    {
      get: (target, key) => (note(key), Reflect.get(target, key)),
      has: (target, key) => (note(key), Reflect.has(target, key)),
      getOwnPropertyDescriptor: (target, key) => (note(key), Reflect.getOwnPropertyDescriptor(target, key)),
      ownKeys: () => {
        // A loader that enumerates the environment (e.g. by prefix) would read names no scenario can foresee.
        throw new Error('a config loader enumerates the environment: teach test/config/env-example.test.ts which names it reads')
      },
    },
  )
  load(proxy as Env)
  return seen
}

/** Environments that take each conditional path of the loaders (stores, AWS, ports, auth). */
const SERVE_SCENARIOS: Env[] = [
  {},
  { API_PORT: '4000' },
  { PORT: '4000' },
  { NODE_ENV: 'development', SKIP_AUTH: 'true' },
  { REDIS_HOST: 'redis.example', REDIS_PORT: '6380', REDIS_TLS: 'true', REDIS_CLUSTER: 'true', REDIS_USERNAME: 'u', REDIS_PASSWORD: 'p' },
  { REDIS_HOST: 'redis.example', REDIS_CLUSTER: 'auto' },
  { REDIS_URL: 'rediss://u:p@redis.example:6380/0' },
  { REDIS_URL: 'redis://redis.example', UPSTASH_REDIS_REST_URL: 'https://upstash.example', UPSTASH_REDIS_REST_TOKEN: 'token' },
  { UPSTASH_REDIS_REST_URL: 'https://upstash.example', UPSTASH_REDIS_REST_TOKEN: 'token' },
  { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE' },
  { IVS_PROVIDER: 'aws', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'example', API_SECRET_KEY: KEY },
  { IVS_PROVIDER: 'aws', API_SECRET_KEY: KEY, IVS_PUBLIC_KEY_ARN: 'arn:aws:ivs:us-east-1:123456789012:public-key/abc' },
  { AWS_REGION: 'eu-west-1' },
  { CORS_ORIGINS: 'https://app.example.com' },
]
const RELAY_SCENARIOS: Env[] = [{}, { API_SECRET_KEY: KEY }, { API_SECRET_KEY: KEY, API_PORT: '4001' }, { API_SECRET_KEY: KEY, PORT: '4001' }]

/** Every env name written as a string literal (`r.int('X', …)`, `readPem(r, 'X')`, `['REDIS_…']`) or `env.X`. */
function scanSource(path: string): Set<string> {
  const text = read(path)
  const names = new Set<string>()
  for (const m of text.matchAll(/(['"`])([A-Z][A-Z0-9_]*)\1/g)) names.add(m[2]!)
  for (const m of text.matchAll(/\benv(?:\.([A-Z][A-Z0-9_]*)|\[\s*['"`]([A-Z][A-Z0-9_]*)['"`]\s*\])/g)) names.add((m[1] ?? m[2])!)
  return names
}

function loaderVariables(): { serve: Set<string>; relay: Set<string> } {
  const serve = new Set<string>()
  const relay = new Set<string>()
  for (const env of SERVE_SCENARIOS) for (const name of recordReads(loadServe, env)) serve.add(name)
  for (const env of RELAY_SCENARIOS) for (const name of recordReads(loadRelay, env)) relay.add(name)
  // The static scan catches reads on paths no scenario above takes.
  const configFiles = readdirSync(join(ROOT, 'src/config'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `src/config/${f}`)
  const shared = new Set<string>()
  for (const file of configFiles) for (const name of scanSource(file)) (file === 'src/config/env.ts' ? shared : serve).add(name)
  for (const name of scanSource('relay/config.ts')) relay.add(name)
  // Names in the shared reader (env.ts) belong to whichever loader was seen reading them; otherwise to serve.
  for (const name of shared) if (!serve.has(name) && !relay.has(name)) serve.add(name)
  // Serve reads the relay's own names only to warn that they were given to the wrong command.
  for (const name of RELAY_ONLY) serve.delete(name)
  return { serve, relay }
}

// ---------------------------------------------------------------------------------------------------
// 2. .env.example
// ---------------------------------------------------------------------------------------------------

const EXAMPLE = read('.env.example')
const RELAY_HEADER = /^# =+ Relay\b/m
const VARIABLE_LINE = /^#?\s*([A-Z][A-Z0-9_]*)=(\S*)$/

interface Documented {
  name: string
  value: string
  line: number
}

function exampleVariables(): { serve: Documented[]; relay: Documented[] } {
  const serve: Documented[] = []
  const relay: Documented[] = []
  let inRelay = false
  EXAMPLE.split('\n').forEach((text, i) => {
    if (RELAY_HEADER.test(text)) inRelay = true
    const m = VARIABLE_LINE.exec(text)
    if (m) (inRelay ? relay : serve).push({ name: m[1]!, value: m[2]!, line: i + 1 })
  })
  return { serve, relay }
}

// ---------------------------------------------------------------------------------------------------
// 3. README.md's configuration tables
// ---------------------------------------------------------------------------------------------------

const README = read('README.md')

/** The section under `heading`, up to the next heading of level 2 or 3. */
function section(heading: string): string {
  const start = README.indexOf(`\n${heading}\n`)
  if (start < 0) throw new Error(`README.md has no "${heading}" heading`)
  const rest = README.slice(start + heading.length + 2)
  const end = rest.search(/^#{2,3} /m)
  return end < 0 ? rest : rest.slice(0, end)
}

interface Row {
  names: string[]
  defaults: string
}

/** The table whose header starts with `| variable`: each row's backticked names and its default cell. */
function variableTable(text: string, where: string): Row[] {
  const lines = text.split('\n')
  const header = lines.findIndex((l) => /^\|\s*variable\s*\|/.test(l))
  if (header < 0) throw new Error(`README.md: no "| variable |" table in ${where}`)
  const rows: Row[] = []
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break
    const cells = line.split('|').map((c) => c.trim())
    const names = [...cells[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!).filter((n) => ENV_NAME.test(n))
    rows.push({ names, defaults: cells[2] ?? '' })
  }
  return rows
}

const SERVE_TABLE = variableTable(section('## Configuration'), '## Configuration')
const RELAY_TABLE = variableTable(section('## The relay'), '## The relay')
const namesOf = (rows: Row[]) => new Set(rows.flatMap((r) => r.names))

// ---------------------------------------------------------------------------------------------------

const sorted = (names: Iterable<string>) => [...names].sort()
const missing = (wanted: Iterable<string>, have: Set<string>) => sorted([...wanted].filter((n) => !have.has(n) && !SDK_CHAIN_ONLY(n)))
const unknown = (have: Iterable<string>, known: Set<string>) => sorted([...have].filter((n) => !known.has(n) && !SDK_CHAIN_ONLY(n)))

describe('.env.example, the loaders and README.md agree', () => {
  const loaders = loaderVariables()
  const relayOnly = new Set([...loaders.relay].filter((n) => !loaders.serve.has(n)))
  const example = exampleVariables()
  const exampleServe = new Set(example.serve.map((d) => d.name))
  const exampleRelay = new Set(example.relay.map((d) => d.name))
  const serveTable = namesOf(SERVE_TABLE)
  const relayTable = namesOf(RELAY_TABLE)

  test('the extraction found the loaders and the documents', () => {
    // Guards against a regex or heading change that would make every set empty (and equal).
    expect(loaders.serve.size).toBeGreaterThan(40)
    expect(loaders.relay.has('API_SERVER_URL')).toBe(true)
    expect(example.relay.length).toBeGreaterThan(5)
    expect(serveTable.size).toBeGreaterThan(30)
    expect(relayTable.has('PUBLISH_SECRET')).toBe(true)
  })

  test('.env.example is a valid .env file: comments, blank lines and KEY=VALUE only, secrets empty', () => {
    const problems: string[] = []
    EXAMPLE.split('\n').forEach((text, i) => {
      if (text.trim() === '' || text.startsWith('#') || /^[A-Z][A-Z0-9_]*=\S*$/.test(text)) return
      problems.push(`.env.example line ${i + 1} is neither a comment nor KEY=VALUE: ${text}`)
    })
    for (const d of [...example.serve, ...example.relay])
      if (/SECRET|PASSWORD|PRIVATE_KEY|ACCESS_KEY|_TOKEN$/.test(d.name) && d.value !== '')
        problems.push(`.env.example line ${d.line}: ${d.name} must be left empty (a secret), not "${d.value}"`)
    expect(problems).toEqual([])
  })

  test('.env.example names every variable the loaders read, and no other', () => {
    const problems = [
      ...missing(loaders.serve, exampleServe).map((n) => `${n} is read by loadServeConfig but missing from .env.example (serve sections)`),
      ...missing(loaders.relay, exampleRelay).map((n) => `${n} is read by loadRelayConfig but missing from .env.example (the final relay section)`),
      ...unknown(exampleServe, loaders.serve).map((n) => `${n} is in .env.example (serve sections) but loadServeConfig does not read it`),
      ...unknown(exampleRelay, loaders.relay).map((n) => `${n} is in .env.example (relay section) but loadRelayConfig does not read it`),
    ]
    expect(problems).toEqual([])
  })

  test("README.md's tables name every variable the loaders read, and no other", () => {
    const problems = [
      ...missing(loaders.serve, serveTable).map((n) => `${n} is read by loadServeConfig but missing from README.md's table under "## Configuration"`),
      ...missing(relayOnly, relayTable).map((n) => `${n} is read by loadRelayConfig but missing from README.md's table in "## The relay"`),
      ...unknown(serveTable, loaders.serve).map((n) => `${n} is in README.md's table under "## Configuration" but loadServeConfig does not read it`),
      ...unknown(relayTable, loaders.relay).map((n) => `${n} is in README.md's table in "## The relay" but loadRelayConfig does not read it`),
    ]
    expect(problems).toEqual([])
  })

  test('every default written in .env.example is what the loader yields when the variable is unset', () => {
    const problems = [
      ...checkDefaults(example.serve, 'serve', loadServe, [{}, { REDIS_HOST: 'redis.example' }]),
      ...checkDefaults(example.relay, 'relay', loadRelay, [{ API_SECRET_KEY: KEY }]),
    ]
    expect(problems).toEqual([])
  })

  test("README.md's plain numeric and boolean defaults match .env.example", () => {
    const documented = new Map(example.serve.map((d) => [d.name, d.value]))
    const relayDocumented = new Map(example.relay.map((d) => [d.name, d.value]))
    const problems = [...compareTable(SERVE_TABLE, documented, '## Configuration'), ...compareTable(RELAY_TABLE, relayDocumented, '## The relay')]
    expect(problems).toEqual([])
  })
})

/**
 * `NAME=value` is the default when setting it changes nothing: the config loaded with it equals the config
 * loaded without it. A base env is needed for variables that are only valid with another (REDIS_PORT needs a host).
 */
function checkDefaults(documented: Documented[], mode: string, load: (env: Env) => ConfigResult<object>, bases: Env[]): string[] {
  const problems: string[] = []
  for (const { name, value, line } of documented) {
    if (value === '') continue
    let compared = false
    for (const base of bases) {
      const unset = load(base)
      const set = load({ ...base, [name]: value })
      if (!unset.ok || !set.ok) continue
      compared = true
      const a = unset.config as Record<string, unknown>
      const b = set.config as Record<string, unknown>
      for (const key of Object.keys(a))
        if (!Bun.deepEquals(a[key], b[key]))
          problems.push(
            `.env.example line ${line} (${mode}): ${name}=${value} is not the default: it sets ${key} to ${JSON.stringify(b[key])}, unset gives ${JSON.stringify(a[key])}`,
          )
      break
    }
    if (!compared) {
      const set = load({ ...bases[0], [name]: value })
      problems.push(`.env.example line ${line} (${mode}): the loader refuses ${name}=${value}: ${set.ok ? '' : set.errors.join('; ')}`)
    }
  }
  return problems
}

/** Rows whose default cell has one plain number or boolean per named variable (`15000 / 60000`, `false, …`). */
function compareTable(rows: Row[], documented: Map<string, string>, where: string): string[] {
  const problems: string[] = []
  for (const row of rows) {
    const defaults = row.defaults
      .replace(/\([^)]*\)/g, '')
      .split(/ \/ |, /)
      .map((d) => d.trim())
    // One default for several names (`API_PORT` / `PORT` | 3000) applies to each.
    if (defaults.length !== row.names.length && defaults.length !== 1) continue
    row.names.forEach((name, i) => {
      const cell = defaults.length === 1 ? defaults[0]! : defaults[i]!
      if (!/^(\d+|true|false)$/.test(cell)) return
      const value = documented.get(name)
      if (value !== undefined && value !== cell)
        problems.push(`README.md's table in "${where}" gives ${name} the default ${cell}, .env.example gives ${value === '' ? 'none' : value}`)
    })
  }
  return problems
}
