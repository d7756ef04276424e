import { existsSync, readFileSync } from 'node:fs'
import { LOG_LEVELS, type LogLevel } from '../log'
import { type ProxyTrust, parseProxyTrust, TRUST_NONE } from '../web/client-address'

export type ConfigResult<T> = { ok: true; config: T } | { ok: false; errors: string[] }

export type Env = Record<string, string | undefined>

/** Collects every problem with the environment so the operator can fix them all in one go. */
export class EnvReader {
  readonly errors: string[] = []
  /** Accepted but worth a line in the log at start. */
  readonly warnings: string[] = []
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name]
    return value === undefined || value.trim() === '' ? undefined : value.trim()
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback
  }

  optional(name: string): string | null {
    return this.raw(name) ?? null
  }

  int(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const value = this.raw(name)
    if (value === undefined) return fallback
    if (!/^\d+$/.test(value)) {
      this.errors.push(`${name} must be a whole number, got "${value}"`)
      return fallback
    }
    const n = Number(value)
    if (n < min || n > max) {
      this.errors.push(`${name} must be between ${min} and ${max}, got ${n}`)
      return fallback
    }
    return n
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase()
    if (value === undefined) return fallback
    if (value === 'true' || value === '1' || value === 'yes') return true
    if (value === 'false' || value === '0' || value === 'no') return false
    this.errors.push(`${name} must be true or false, got "${value}"`)
    return fallback
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name)?.toLowerCase()
    if (value === undefined) return fallback
    if ((allowed as readonly string[]).includes(value)) return value as T
    this.errors.push(`${name} must be one of ${allowed.join(', ')}, got "${value}"`)
    return fallback
  }

  url(name: string, fallback: string | null): string | null {
    const value = this.raw(name)
    if (value === undefined) return fallback
    try {
      const parsed = new URL(value)
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('scheme')
      return value.replace(/\/+$/, '')
    } catch {
      this.errors.push(`${name} must be an http(s) URL, got "${value}"`)
      return fallback
    }
  }

  matching(name: string, pattern: RegExp, what: string): string | null {
    const value = this.raw(name)
    if (value === undefined) return null
    if (!pattern.test(value)) {
      this.errors.push(`${name} must be ${what}, got "${value}"`)
      return null
    }
    return value
  }

  /** TRUST_PROXY: whose X-Forwarded-For to believe (see web/client-address.ts). */
  proxyTrust(): ProxyTrust {
    const parsed = parseProxyTrust(this.raw('TRUST_PROXY'))
    if ('error' in parsed) {
      this.errors.push(parsed.error)
      return TRUST_NONE
    }
    if (parsed.warning) this.warnings.push(parsed.warning)
    return parsed.trust
  }

  logLevel(): LogLevel {
    return this.oneOf<LogLevel>('LOG_LEVEL', LOG_LEVELS, 'info')
  }

  port(fallback: number): number {
    const name = this.raw('API_PORT') !== undefined ? 'API_PORT' : 'PORT'
    return this.int(name, fallback, 0, 65535)
  }

  result<T>(config: T): ConfigResult<T> {
    return this.errors.length > 0 ? { ok: false, errors: this.errors } : { ok: true, config }
  }
}

/** A PEM given inline, with escaped newlines (common in .env files), or as a path to a file. */
export function readPem(reader: EnvReader, name: string): string | null {
  const value = reader.raw(name)
  if (value === undefined) return null
  if (value.includes('-----BEGIN')) return value.replace(/\\n/g, '\n')
  // Never echo the value: it may be a key pasted without its BEGIN line.
  if (value.length > 512 || !existsSync(value)) {
    reader.errors.push(`${name} must be a PEM private key or the path of a readable file holding one`)
    return null
  }
  let text: string
  try {
    text = readFileSync(value, 'utf8')
  } catch (error) {
    reader.errors.push(`${name} points at ${value}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
    return null
  }
  if (!text.includes('-----BEGIN')) {
    reader.errors.push(`${name} points at ${value}, which holds no PEM key`)
    return null
  }
  return text
}

export function hasAwsCredentials(env: Env): boolean {
  return Boolean(
    (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) ||
      env.AWS_PROFILE ||
      env.AWS_WEB_IDENTITY_TOKEN_FILE ||
      env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI ||
      env.AWS_CONTAINER_CREDENTIALS_FULL_URI,
  )
}
