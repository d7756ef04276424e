import { connect, type Socket } from 'node:net'

/** What raw-socket clients that ignore `Connection: close` saw through a stop. */
export interface StubbornLoad {
  answered: number
  /** Answers after the signal that lacked `Connection: close`. */
  keptAliveAfterSignal: number
  /** Answers that came on a connection after an answer that announced close (the server did not close). */
  answeredAfterClose: number
  /** A request written after the server announced close on that connection, then the connection closed (RFC 9112 §9.6: not processed, the client's to retry). */
  droppedAfterAnnouncedClose: number
  /** Connections refused (ECONNREFUSED): nothing sent, safe to retry. */
  refused: number
  /** A written request whose connection was reset or closed although nothing announced it: the caller cannot tell whether it was done. */
  unannounced: { answeredOnConnection: number; afterSignalMs: number; error: string }[]
}

/**
 * `clients` raw sockets sending one request after another as fast as answers come, never reading
 * `Connection: close`: the next request goes out on the same socket at once. When the server closes
 * a socket, the client opens a new one (until `stop`).
 */
export function stubbornClients(port: number, request: string, clients: number) {
  const load: StubbornLoad = { answered: 0, keptAliveAfterSignal: 0, answeredAfterClose: 0, droppedAfterAnnouncedClose: 0, refused: 0, unannounced: [] }
  let running = true
  let signalledAt: number | null = null
  const connection = () =>
    new Promise<void>((resolve) => {
      const socket: Socket = connect(port, '127.0.0.1')
      socket.setNoDelay(true)
      let buffer = ''
      let connected = false
      let awaiting = false
      let announcedClose = false
      let answeredHere = 0
      let error: string | null = null
      const send = () => {
        if (!running) return void socket.destroy()
        awaiting = true
        socket.write(request)
      }
      socket.on('connect', () => {
        connected = true
        send()
      })
      socket.on('data', (chunk) => {
        buffer += chunk.toString('latin1')
        for (;;) {
          const end = buffer.indexOf('\r\n\r\n')
          if (end < 0) return
          const head = buffer.slice(0, end)
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
          if (buffer.length < end + 4 + length) return
          buffer = buffer.slice(end + 4 + length)
          load.answered++
          answeredHere++
          if (announcedClose) load.answeredAfterClose++
          const closing = /\r\nconnection: *close/i.test(head)
          if (signalledAt !== null && !closing) load.keptAliveAfterSignal++
          announcedClose ||= closing
          awaiting = false
          send()
        }
      })
      socket.on('error', (e: NodeJS.ErrnoException) => {
        error = e.code ?? e.message
      })
      socket.on('close', () => {
        if (!connected && error === 'ECONNREFUSED') load.refused++
        else if (awaiting && announcedClose) load.droppedAfterAnnouncedClose++
        else if (awaiting && running)
          load.unannounced.push({
            answeredOnConnection: answeredHere,
            afterSignalMs: signalledAt === null ? -1 : Math.round(performance.now() - signalledAt),
            error: error ?? 'closed',
          })
        resolve()
      })
    })
  const loops = Array.from({ length: clients }, async () => {
    while (running) await connection()
  })
  return {
    load,
    signalled: () => void (signalledAt = performance.now()),
    stop: async () => {
      running = false
      await Promise.all(loops)
    },
  }
}
