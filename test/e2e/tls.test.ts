/**
 * https in both modes (issue 20 item 2): TLS_CERT_FILE / TLS_KEY_FILE, real processes, certificates
 * from openssl. The relay talks to an https API server, trusting its CA through NODE_EXTRA_CA_CERTS;
 * SIGHUP swaps the certificate with no failed request.
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { eventually } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { BUN, bareEnv, freePort, type Spawned, spawnProcess } from '../support/process'
import { makeTlsFiles, type TlsFiles } from '../support/redis'

const KEY = 'tls-test-api-key-0123456789'
const running: Spawned[] = []
afterEach(() => {
  for (const p of running.splice(0)) if (p.proc.exitCode === null) p.kill('SIGKILL')
})

let first: TlsFiles
let second: TlsFiles
/** Both test CAs, as a client trusts them. */
let caBundle: string
/** The files a server is started with (first's pair, overwritten with second's to reload). */
let live: { cert: string; key: string }

beforeAllOrFail(async () => {
  first = await makeTlsFiles()
  second = await makeTlsFiles()
  caBundle = join(first.dir, 'both-cas.pem')
  writeFileSync(caBundle, readFileSync(first.caCert, 'utf8') + readFileSync(second.caCert, 'utf8'))
  live = { cert: join(first.dir, 'live.crt'), key: join(first.dir, 'live.key') }
})

const ca = () => readFileSync(caBundle, 'utf8')
const httpsFetch = (url: string, init: RequestInit = {}) => fetch(url, { ...init, tls: { ca: ca() } } as RequestInit)

/** The certificate a new TLS connection is given (its serial: the two pairs differ). */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca(), servername: 'localhost' }, () => {
      resolve(socket.getPeerCertificate().serialNumber)
      socket.end()
    })
    socket.on('error', reject)
  })
}

const serialOf = (certFile: string) => new (require('node:crypto').X509Certificate)(readFileSync(certFile)).serialNumber as string

function startServe(env: Record<string, string> = {}) {
  copyFileSync(first.serverCert, live.cert)
  copyFileSync(first.serverKey, live.key)
  return freePort().then((port) => {
    const p = spawnProcess(
      [BUN, 'run', 'src/main.ts', 'serve'],
      bareEnv({ API_PORT: String(port), API_SECRET_KEY: KEY, TLS_CERT_FILE: live.cert, TLS_KEY_FILE: live.key, ...env }),
    )
    running.push(p)
    return { p, port }
  })
}

describe('https in both modes', () => {
  test('serve answers https only; the relay registers with it over https (NODE_EXTRA_CA_CERTS) and serves WHIP over https', async () => {
    const { p, port } = await startServe()
    await p.waitFor(/"msg":"serving"/)
    expect(p.stdout()).toContain('"scheme":"https"')
    const health = await httpsFetch(`https://127.0.0.1:${port}/health/live`)
    expect(health.status).toBe(200)
    // Plain http to the https port gets no HTTP answer.
    expect(
      await fetch(`http://127.0.0.1:${port}/health/live`).then(
        (r) => r.status,
        () => 'refused',
      ),
    ).not.toBe(200)
    // A client that does not trust the CA is refused by TLS.
    expect(
      await fetch(`https://127.0.0.1:${port}/health/live`).then(
        () => 'trusted',
        () => 'untrusted',
      ),
    ).toBe('untrusted')

    const relayPort = await freePort()
    const relay = spawnProcess(
      [BUN, 'run', 'src/main.ts', 'relay'],
      bareEnv({
        API_PORT: String(relayPort),
        API_SERVER_URL: `https://127.0.0.1:${port}`,
        API_SECRET_KEY: KEY,
        SERVER_ID: 'relay-tls',
        NODE_EXTRA_CA_CERTS: caBundle,
        TLS_CERT_FILE: second.serverCert,
        TLS_KEY_FILE: second.serverKey,
      }),
    )
    running.push(relay)
    // Registered and following events over wss: the relay's readiness says both.
    await eventually(
      'the relay is ready over https',
      () =>
        httpsFetch(`https://127.0.0.1:${relayPort}/health/ready`).then(
          (r) => r.status === 200,
          () => false,
        ),
      15_000,
      100,
    )
    const relays = (await (await httpsFetch(`https://127.0.0.1:${port}/api/stats/publisher`, { headers: { 'x-api-key': KEY } })).json()).data.relays
    expect(relays).toEqual([expect.objectContaining({ serverId: 'relay-tls', state: 'online' })])
    // WHIP over https: the publish secret never crosses in clear text.
    const whip = await httpsFetch(`https://127.0.0.1:${relayPort}/whip`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0\r\n' })
    expect(whip.status).toBe(401)
    expect(await servedSerial(relayPort)).toBe(serialOf(second.serverCert))
  }, 40_000)

  test('SIGHUP reloads the certificate: new connections get the new one, no request fails across the swap; a bad pair keeps the old', async () => {
    const { p, port } = await startServe()
    await p.waitFor(/"msg":"serving"/)
    expect(await servedSerial(port)).toBe(serialOf(first.serverCert))

    // Requests back to back across the reload, each on its own connection and on one kept-alive one.
    let running = true
    const failures: string[] = []
    let answered = 0
    const load = (async () => {
      while (running) {
        const response = await httpsFetch(`https://127.0.0.1:${port}/health/live`).catch((error) => {
          failures.push(String(error))
          return null
        })
        if (response) {
          answered++
          if (response.status !== 200) failures.push(`status ${response.status}`)
          await response.arrayBuffer()
        }
      }
    })()

    copyFileSync(second.serverCert, live.cert)
    copyFileSync(second.serverKey, live.key)
    p.kill('SIGHUP')
    await p.waitFor(/TLS certificates reloaded/)
    // The replaced listener answers for another second (each answer closing its connection), then stops.
    await Bun.sleep(1_500)
    running = false
    await load
    expect(failures).toEqual([])
    expect(answered).toBeGreaterThan(10)
    for (let i = 0; i < 5; i++) expect(await servedSerial(port)).toBe(serialOf(second.serverCert))
    expect(p.proc.exitCode).toBeNull()

    // A key that is not the certificate's: refused, the process keeps serving the pair it has.
    copyFileSync(first.serverKey, live.key)
    p.kill('SIGHUP')
    await p.waitFor(/TLS certificates not reloaded/)
    expect(p.stdout()).toContain('is not the key of the certificate')
    expect(await servedSerial(port)).toBe(serialOf(second.serverCert))
    expect((await httpsFetch(`https://127.0.0.1:${port}/health/live`)).status).toBe(200)

    // The container health check probes its own https port.
    const check = spawnProcess(
      [BUN, 'run', 'src/main.ts', 'healthcheck'],
      bareEnv({ API_PORT: String(port), TLS_CERT_FILE: live.cert, TLS_KEY_FILE: live.key }),
    )
    expect(await check.proc.exited).toBe(0)
  }, 40_000)

  test("configuration: one file without the other, an unreadable file or a key that is not the certificate's exits 2 naming it", async () => {
    const cases: [Record<string, string>, string][] = [
      [{ TLS_CERT_FILE: first.serverCert }, 'TLS_CERT_FILE and TLS_KEY_FILE must be set together'],
      [{ TLS_CERT_FILE: '/nonexistent/cert.pem', TLS_KEY_FILE: first.serverKey }, 'TLS_CERT_FILE /nonexistent/cert.pem cannot be read'],
      [{ TLS_CERT_FILE: first.serverCert, TLS_KEY_FILE: second.serverKey }, 'is not the key of the certificate'],
      [{ TLS_CERT_FILE: first.serverKey, TLS_KEY_FILE: first.serverKey }, 'holds no PEM certificate'],
    ]
    for (const mode of ['serve', 'relay']) {
      for (const [env, message] of cases) {
        const p = spawnProcess([BUN, 'run', 'src/main.ts', mode], bareEnv({ API_PORT: String(await freePort()), API_SECRET_KEY: KEY, ...env }))
        expect({ mode, message, code: await p.proc.exited }).toEqual({ mode, message, code: 2 })
        expect(p.stderr()).toContain(message)
        expect(p.stderr()).not.toContain('BEGIN')
      }
    }
  }, 60_000)
})
