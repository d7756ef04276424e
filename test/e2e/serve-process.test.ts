import { afterEach, describe, expect, test } from 'bun:test'
import { createPrivateKey } from 'node:crypto'
import { eventually } from '../support/eventually'
import { BUN, bareEnv, freePort, type Spawned, spawnProcess } from '../support/process'

const running: Spawned[] = []
afterEach(() => {
  for (const p of running.splice(0)) if (p.proc.exitCode === null) p.kill('SIGKILL')
})

function serve(env: Record<string, string>) {
  const p = spawnProcess([BUN, 'run', 'src/main.ts', 'serve'], bareEnv(env))
  running.push(p)
  return p
}

describe('ivs-fanout serve as a process', () => {
  test('starts on embedded defaults within 5 s, prints the generated key once, and the README curls work', async () => {
    const port = await freePort()
    const started = performance.now()
    const p = serve({ API_PORT: String(port) })
    const [, key] = await p.waitFor(/this run's API key is (\S+)/, 5_000)
    await p.waitFor(/"msg":"serving"/, 5_000)
    const readyMs = performance.now() - started
    console.log(`serve ready in ${readyMs.toFixed(0)} ms (process start to listening)`)
    expect(readyMs).toBeLessThan(5_000)
    expect(p.stdout().match(/API key is/g)!.length).toBe(1)

    const base = `http://localhost:${port}`
    const headers = { 'x-api-key': key!, 'Content-Type': 'application/json' }
    const publisher = await fetch(`${base}/api/token/publisher`, { method: 'POST', headers, body: '{"userId": "publisher-123"}' })
    expect(publisher.status).toBe(200)
    const viewer = await fetch(`${base}/api/token/viewer`, { method: 'POST', headers, body: '{"userId": "viewer-456"}' })
    expect(viewer.status).toBe(200)
    const stats = await (await fetch(`${base}/api/stats`, { headers: { 'x-api-key': key! } })).json()
    expect(stats.data.totalViewers).toBe(1)
  })

  test('bad configuration: every problem at once, exit code 2, no stack trace', async () => {
    const p = serve({ API_PORT: 'abc', STAGE_CAPACITY: '-1', SKIP_AUTH: 'true', LOG_LEVEL: 'verbose' })
    const code = await p.proc.exited
    expect(code).toBe(2)
    const err = p.stderr()
    for (const name of ['API_PORT', 'STAGE_CAPACITY', 'SKIP_AUTH', 'LOG_LEVEL']) expect(err).toContain(name)
    expect(err).not.toMatch(/\n\s+at /)
    expect(p.stdout()).toBe('')
  })

  test('a port already in use is an error, not a silent second listener', async () => {
    const port = await freePort()
    const first = serve({ API_PORT: String(port) })
    await first.waitFor(/"msg":"serving"/)
    const second = serve({ API_PORT: String(port) })
    expect(await second.proc.exited).toBe(1)
  })

  test('LOG_LEVEL filters the JSON log lines', async () => {
    const port = await freePort()
    const quiet = serve({ API_PORT: String(port), LOG_LEVEL: 'warn', API_SECRET_KEY: 'k'.repeat(32) })
    await Bun.sleep(100)
    // "serving" is info: with warn it must not appear; wait for the port instead.
    for (
      let i = 0;
      i < 100 &&
      !(await fetch(`http://127.0.0.1:${port}/health/live`).then(
        (r) => r.ok,
        () => false,
      ));
      i++
    )
      await Bun.sleep(50)
    expect(quiet.stdout()).not.toContain('"level":"info"')

    const port2 = await freePort()
    const loud = serve({ API_PORT: String(port2), LOG_LEVEL: 'debug', API_SECRET_KEY: 'k'.repeat(32) })
    await loud.waitFor(/"msg":"serving"/)
    await fetch(`http://127.0.0.1:${port2}/health/live`)
    const line = (await loud.waitFor(/\{[^\n]*"msg":"request"[^\n]*\}/))[0]
    const entry = JSON.parse(line)
    expect(entry).toMatchObject({ level: 'debug', method: 'GET', path: '/health/live', status: 200 })
    expect(Date.parse(entry.time)).not.toBeNaN()
  })

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal}: stops accepting, finishes the in-flight request, exits 0`, async () => {
      const port = await freePort()
      const key = 'k'.repeat(32)
      // No drain period (test/e2e/drain.test.ts covers it): the listener closes at the signal.
      const p = serve({ API_PORT: String(port), API_SECRET_KEY: key, SHUTDOWN_GRACE_MS: '0' })
      await p.waitFor(/"msg":"serving"/)

      // An in-flight request: headers sent, body still on its way when the signal arrives.
      const body = '{"userId":"in-flight"}'
      let response = ''
      const socket = await Bun.connect({
        hostname: '127.0.0.1',
        port,
        socket: { data: (_s, chunk) => void (response += chunk.toString()) },
      })
      socket.write(
        `POST /api/token/viewer HTTP/1.1\r\nHost: x\r\nx-api-key: ${key}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body.slice(0, 5)}`,
      )
      await Bun.sleep(100)
      p.kill(signal)
      await p.waitFor(/"msg":"shutting down"/)
      await Bun.sleep(100)
      const refused = await fetch(`http://127.0.0.1:${port}/health/live`).then(
        () => false,
        () => true,
      )
      expect(refused).toBe(true)
      socket.write(body.slice(5))
      const code = await p.proc.exited
      await eventually('the whole response', () => response.includes('}'), 500, 25)
      expect(response).toStartWith('HTTP/1.1 200')
      expect(response).toContain('"success":true')
      expect(code).toBe(0)
      expect(p.stdout()).toContain('"msg":"stopped"')
    })
  }

  test('version, --help, keygen', async () => {
    const run = async (...args: string[]) => {
      const p = Bun.spawn([BUN, 'run', 'src/main.ts', ...args], { env: bareEnv(), stdout: 'pipe', stderr: 'pipe' })
      return { code: await p.exited, out: await new Response(p.stdout).text(), err: await new Response(p.stderr).text() }
    }
    const version = await run('version')
    expect(version.out.trim()).toMatch(/^\d+\.\d+\.\d+$/)
    const help = await run('--help')
    for (const cmd of ['serve', 'relay', 'keygen', 'version']) expect(help.out).toContain(cmd)
    const keygen = await run('keygen')
    expect(keygen.code).toBe(0)
    expect(keygen.out).toContain('-----BEGIN PRIVATE KEY-----')
    expect(keygen.out).toContain('-----BEGIN PUBLIC KEY-----')
    expect(keygen.out).toContain('aws ivs-realtime import-public-key')
    const privatePem = keygen.out.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/)![0]
    expect(createPrivateKey(privatePem).asymmetricKeyDetails?.namedCurve).toBe('secp384r1')
    const unknown = await run('frobnicate')
    expect(unknown.code).toBe(2)
    expect(unknown.err).toContain('unknown command "frobnicate"')
  })
})
