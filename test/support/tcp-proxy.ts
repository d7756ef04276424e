import type { Socket, TCPSocketListener } from 'bun'

/**
 * A TCP proxy on loopback for outage tests: it forwards to a target until told to refuse
 * (listener closed, open connections cut: "connection refused" from then on) and forwards again
 * after `restore()`, on the same port.
 */
export interface TcpProxy {
  port: number
  /** Connections accepted so far. */
  readonly accepted: number
  refuse(): void
  restore(): void
  stop(): void
}

interface Pair {
  upstream: Socket<Pair> | null
  pending: Uint8Array[]
  client: Socket<Pair>
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const open = new Set<Socket<Pair>>()
  let accepted = 0
  let listener: TCPSocketListener<Pair> | null = null
  let port = 0

  const listen = () => {
    listener = Bun.listen<Pair>({
      hostname: '127.0.0.1',
      port,
      socket: {
        open(client) {
          accepted++
          open.add(client)
          const pair: Pair = { upstream: null, pending: [], client }
          client.data = pair
          void Bun.connect<Pair>({
            hostname: targetHost,
            port: targetPort,
            socket: {
              open(up) {
                up.data = pair
                pair.upstream = up
                open.add(up)
                for (const chunk of pair.pending) up.write(chunk)
                pair.pending = []
              },
              data(up, chunk) {
                up.data.client.write(chunk)
              },
              close(up) {
                open.delete(up)
                up.data.client.end()
              },
              error(up) {
                up.data.client.end()
              },
            },
          }).catch(() => client.end())
        },
        data(client, chunk) {
          if (client.data.upstream) client.data.upstream.write(chunk)
          else client.data.pending.push(new Uint8Array(chunk))
        },
        close(client) {
          open.delete(client)
          client.data.upstream?.end()
        },
        error() {},
      },
    })
    port = listener.port
  }
  listen()

  const cutAll = () => {
    listener?.stop(true)
    listener = null
    for (const s of open) s.terminate()
    open.clear()
  }
  return {
    get port() {
      return port
    },
    get accepted() {
      return accepted
    },
    refuse: cutAll,
    restore() {
      if (!listener) listen()
    },
    stop: cutAll,
  }
}
