import { connect } from 'node:net'

/**
 * Sends `head` (a request line and headers, CRLF-separated, without the blank line) exactly as
 * written over a raw socket, with `Connection: close`, and resolves with the status and the whole
 * answer. For what fetch will not send: a malformed Host, odd header layouts.
 */
export function rawRequest(url: string, head: string, body = ''): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    let text = ''
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8')
    })
    socket.on('error', reject)
    socket.on('close', () => resolve({ status: Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0), text }))
    socket.write(`${head}\r\nConnection: close\r\n\r\n${body}`)
  })
}
