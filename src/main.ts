#!/usr/bin/env bun
import { hostname, networkInterfaces } from 'node:os'
import { loadRelayConfig } from '../relay/config'
import { startRelay } from '../relay/main'
import { runDoctor } from './cli/doctor'
import { runIamPolicy } from './cli/iam-policy'
import { runKeys } from './cli/keys'
import { systemClock } from './clock'
import type { ConfigResult } from './config/env'
import { loadServeConfig } from './config/serve'
import { loadShutdownConfig } from './config/shutdown'
import { describeError } from './errors'
import { generateKeyPair } from './ivs/signer'
import { createLogger } from './log'
import { StartupError, startServe } from './serve'
import { VERSION } from './version'

const HELP = `ivs-fanout ${VERSION}: one broadcaster, thousands of real-time viewers on Amazon IVS stages

Usage: ivs-fanout <command>

Commands:
  serve     API server, WebSocket hub, autoscaler and presence sweeper (default)
  relay     WHIP ingest and fan-out of the broadcaster's media into every stage
  keygen    print a new P-384 key pair for self-signed participant tokens
  keys list | rotate [--private-key-file PATH] | retire ARN [--force] [--token-minutes N]
            the Region's IVS public keys for self-signed tokens: list, import a new one, delete an old one
            (ivs-fanout keys --help for the details)
  iam-policy [--operator] [--account ID]
            print the least-privilege IAM policy for this configuration (--operator: for keys and doctor)
  doctor [relay]
            check this configuration against its store and IVS (relay: its API server), one line per check
  healthcheck [port]
            exit 0 when /health/live answers on this machine (for container health checks)
  version   print the version
  --help    this text

Configuration comes from the environment (and .env); see README.md.
`

const EXIT_RUNTIME = 1
const EXIT_CONFIG = 2

function fail(code: number, message: string): never {
  process.stderr.write(`ivs-fanout: ${message}\n`)
  process.exit(code)
}

/** Both loaders' problems at once (exit 2), or the configs. */
function configured<T>(result: ConfigResult<T>): { config: T; shutdownGraceMs: number } {
  const shutdown = loadShutdownConfig(process.env)
  const errors = [...(result.ok ? [] : result.errors), ...(shutdown.ok ? [] : shutdown.errors)]
  if (!result.ok || !shutdown.ok) fail(EXIT_CONFIG, `bad configuration:\n${errors.map((e) => `  - ${e}`).join('\n')}`)
  return { config: result.config, shutdownGraceMs: shutdown.config.shutdownGraceMs }
}

async function serve(): Promise<void> {
  const result = configured(loadServeConfig(process.env))
  const logger = createLogger(result.config.logLevel)
  let handle: Awaited<ReturnType<typeof startServe>>
  try {
    handle = await startServe({
      config: result.config,
      logger,
      announce: (line) => process.stdout.write(`${line}\n`),
      onFatal: (error) => fail(EXIT_CONFIG, error.message),
    })
  } catch (error) {
    if (error instanceof StartupError) fail(EXIT_CONFIG, error.message)
    logger.error('start failed', { error: describeError(error) })
    process.exit(EXIT_RUNTIME)
  }
  onSignals(logger, handle, result.shutdownGraceMs)
}

async function relay(): Promise<void> {
  const result = configured(loadRelayConfig(process.env, hostname()))
  const logger = createLogger(result.config.logLevel, { mode: 'relay' })
  let handle: Awaited<ReturnType<typeof startRelay>>
  try {
    handle = await startRelay({ config: result.config, logger, announce: (line) => process.stdout.write(`${line}\n`) })
  } catch (error) {
    logger.error('start failed', { error: describeError(error) })
    process.exit(EXIT_RUNTIME)
  }
  onSignals(logger, handle, result.shutdownGraceMs)
}

/** SIGTERM/SIGINT drain and stop; SIGHUP reloads the TLS certificate files (it would otherwise end the process). */
function onSignals(
  logger: ReturnType<typeof createLogger>,
  handle: { stop(o: { drainMs: number }): Promise<void>; reloadTls(): Promise<boolean> },
  drainMs: number,
): void {
  const shutdown = (signal: string) => {
    logger.info('shutting down', { signal })
    handle.stop({ drainMs }).then(
      () => process.exit(0),
      () => process.exit(EXIT_RUNTIME),
    )
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGHUP', () => void handle.reloadTls())
}

async function healthcheck(portArg: string | undefined): Promise<void> {
  const port = portArg ?? process.env.API_PORT ?? process.env.PORT ?? '3000'
  // With TLS the process serves https only; it is asking itself, by address, so the name is not checked.
  const scheme = process.env.TLS_CERT_FILE ? 'https' : 'http'
  const ok = await fetch(`${scheme}://127.0.0.1:${port}/health/live`, {
    signal: AbortSignal.timeout(2_000),
    tls: { rejectUnauthorized: false },
  } as RequestInit).then(
    (r) => r.ok,
    () => false,
  )
  process.exit(ok ? 0 : 1)
}

async function doctor(): Promise<void> {
  const addresses = () => Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address))
  const report = await runDoctor(process.argv.slice(3), { env: process.env, hostname: hostname(), localAddresses: addresses })
  process.stdout.write(report.text)
  // A store still reconnecting in the background must not keep the process alive.
  process.exit(report.code)
}

async function keygen(): Promise<void> {
  const { privateKeyPem, publicKeyPem } = await generateKeyPair()
  process.stdout.write(`${privateKeyPem}\n${publicKeyPem}
# Save the private key (e.g. ivs-private.pem, readable only by the server) and set IVS_PRIVATE_KEY to it.
# Save the public key as ivs-public.pem, import it into IVS, and set IVS_PUBLIC_KEY_ARN to the ARN it prints:
#   aws ivs-realtime import-public-key --name ivs-fanout --public-key-material "$(cat ivs-public.pem)"
`)
}

const command = process.argv[2] ?? 'serve'
switch (command) {
  case 'serve':
    await serve()
    break
  case 'keygen':
    await keygen()
    break
  case 'keys':
    process.exitCode = await runKeys(process.argv.slice(3), {
      env: process.env,
      clock: systemClock,
      out: (t) => process.stdout.write(t),
      err: (t) => process.stderr.write(t),
    })
    break
  case 'iam-policy': {
    const policy = runIamPolicy(process.argv.slice(3), process.env)
    process.stdout.write(policy.stdout)
    process.stderr.write(policy.stderr)
    process.exitCode = policy.code
    break
  }
  case 'doctor':
    await doctor()
    break
  case 'healthcheck':
    await healthcheck(process.argv[3])
    break
  case 'version':
  case '--version':
    process.stdout.write(`${VERSION}\n`)
    break
  case '--help':
  case '-h':
  case 'help':
    process.stdout.write(HELP)
    break
  case 'relay':
    await relay()
    break
  default:
    process.stderr.write(HELP)
    fail(EXIT_CONFIG, `unknown command "${command}"`)
}
