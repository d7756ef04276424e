import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { Server } from 'bun'
import type { Logger } from '../log'
import { type Drain, stopServer } from './drain'
import { listenOptions } from './request-limits'

/** TLS_CERT_FILE / TLS_KEY_FILE: where the PEM files are (read at start and again on each reload). */
export interface TlsFiles {
  certFile: string
  keyFile: string
}

/** The PEM contents, checked: the certificate parses and the key is its private key. */
export interface TlsPair {
  cert: string
  key: string
  /** The certificate's subject and expiry, for the log. */
  subject: string
  validTo: string
}

/** Reads and checks a certificate and its key; throws an Error that names the file at fault (never its contents). */
export function readTlsPair(files: TlsFiles): TlsPair {
  const read = (name: string, path: string) => {
    try {
      return readFileSync(path, 'utf8')
    } catch (error) {
      throw new Error(`${name} ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  }
  const cert = read('TLS_CERT_FILE', files.certFile)
  const key = read('TLS_KEY_FILE', files.keyFile)
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch {
    throw new Error(`TLS_CERT_FILE ${files.certFile} holds no PEM certificate`)
  }
  let privateKey: ReturnType<typeof createPrivateKey>
  try {
    privateKey = createPrivateKey(key)
  } catch {
    throw new Error(`TLS_KEY_FILE ${files.keyFile} holds no PEM private key (an encrypted key is not supported)`)
  }
  if (!x509.checkPrivateKey(privateKey)) throw new Error(`TLS_KEY_FILE ${files.keyFile} is not the key of the certificate in TLS_CERT_FILE ${files.certFile}`)
  return { cert, key, subject: x509.subject.replace(/\n/g, ', '), validTo: x509.validTo }
}

interface Listenable {
  listen(options: Record<string, unknown>): unknown
  server: Server<unknown> | null
  store: { drain: Drain }
}

/** How long a replaced listener keeps answering (each answer with Connection: close) before it stops. */
const RETIRE_MS = 1_000

/** Is the port free for us alone? Bound with SO_REUSEPORT (to hand over on a certificate reload), Bun would share it silently. */
function claimPort(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen({ port, host: '0.0.0.0', exclusive: true }, () => {
      const address = probe.address()
      const claimed = typeof address === 'object' && address ? address.port : port
      probe.close(() => resolve(claimed))
    })
  })
}

/**
 * The listening side of either mode: plain HTTP, or HTTPS with TLS_CERT_FILE / TLS_KEY_FILE. Bun's
 * `server.reload()` keeps the certificate it started with, so a reload (SIGHUP) starts a second
 * listener with the new certificate on the same port (SO_REUSEPORT) and then stops the first one
 * gracefully: no moment without a listener, requests in flight finish on the old one.
 */
export class Listener {
  private constructor(
    private readonly app: Listenable,
    private readonly port: number,
    private readonly tls: TlsFiles | null,
    private readonly logger: Logger,
  ) {}

  static async start(app: Listenable, options: { port: number; tls: TlsFiles | null; logger: Logger }): Promise<Listener> {
    if (!options.tls) {
      app.listen(listenOptions(options.port))
      return new Listener(app, app.server!.port!, null, options.logger)
    }
    const pair = readTlsPair(options.tls)
    const port = await claimPort(options.port)
    app.listen({ ...listenOptions(port), reusePort: true, tls: { cert: pair.cert, key: pair.key } })
    options.logger.info('https', { certificate: pair.subject, validTo: pair.validTo })
    return new Listener(app, port, options.tls, options.logger)
  }

  get server(): Server<unknown> {
    return this.app.server!
  }

  get scheme(): 'http' | 'https' {
    return this.tls ? 'https' : 'http'
  }

  get url(): string {
    return `${this.scheme}://127.0.0.1:${this.port}`
  }

  get listeningPort(): number {
    return this.port
  }

  /** SIGHUP: reads the certificate files again and serves new connections with them; a bad pair keeps the old one (logged). */
  async reloadTls(): Promise<boolean> {
    if (!this.tls) {
      this.logger.info('SIGHUP: no TLS_CERT_FILE / TLS_KEY_FILE set, nothing to reload')
      return false
    }
    let pair: TlsPair
    try {
      pair = readTlsPair(this.tls)
    } catch (error) {
      this.logger.error('TLS certificates not reloaded: still serving the previous ones', { reason: (error as Error).message })
      return false
    }
    const previous = this.app.server!
    this.app.listen({ ...listenOptions(this.port), reusePort: true, tls: { cert: pair.cert, key: pair.key } })
    this.logger.info('TLS certificates reloaded', { certificate: pair.subject, validTo: pair.validTo })
    // The old listener's clients are told to reconnect (Connection: close on each answer), so none is left
    // idle on it; then it stops taking connections and what it is serving finishes.
    this.app.store.drain.retire(previous)
    setTimeout(() => void stopServer(previous, 10_000), RETIRE_MS)
    return true
  }
}
