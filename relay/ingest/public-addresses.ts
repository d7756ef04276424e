import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { describeError } from '../../src/errors'
import type { Logger } from '../../src/log'

/** A host name's addresses (IPv4 and IPv6), as the system resolver gives them. */
export type Resolve = (host: string) => Promise<string[]>

export const systemResolve: Resolve = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address)

export interface PublicAddressOptions {
  resolve?: Resolve
  /** A lookup slower than this counts as failed (default 2 s): the answer does not wait longer. */
  timeoutMs?: number
}

/**
 * WEBRTC_PUBLIC_HOSTS as addresses, for one WHIP answer. Addresses are used as they are; host
 * names are looked up for every answer, not once at start: a name that follows a changing public
 * address (dynamic DNS, an instance without an Elastic IP) stays right without a restart, a
 * lookup failing at start does not stop the relay, and the cost is one lookup per publisher
 * connection. A lookup that fails falls back to that name's last good addresses.
 */
export class PublicAddresses {
  private readonly last = new Map<string, string[]>()
  private readonly resolve: Resolve
  private readonly timeoutMs: number

  constructor(
    private readonly hosts: string[],
    private readonly logger: Logger,
    options: PublicAddressOptions = {},
  ) {
    this.resolve = options.resolve ?? systemResolve
    this.timeoutMs = options.timeoutMs ?? 2_000
  }

  /** Every public address now, in the order of the hosts, without repeats. */
  async addresses(): Promise<string[]> {
    const each = await Promise.all(this.hosts.map((host) => (isIP(host) ? [host] : this.lookup(host))))
    return [...new Set(each.flat())]
  }

  private async lookup(host: string): Promise<string[]> {
    let timer: Timer | undefined
    try {
      const found = await Promise.race([
        this.resolve(host),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs)
        }),
      ])
      if (found.length === 0) throw new Error('no addresses')
      this.last.set(host, found)
      return found
    } catch (error) {
      const fallback = this.last.get(host) ?? []
      this.logger.warn('WEBRTC_PUBLIC_HOSTS: a host name did not resolve', { host, error: describeError(error), using: fallback })
      return fallback
    } finally {
      clearTimeout(timer)
    }
  }
}
