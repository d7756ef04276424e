import { Elysia } from 'elysia'
import { AppError } from '../errors'

export const MAX_BODY_BYTES = 64 * 1024

const tooLarge = () => new AppError('PAYLOAD_TOO_LARGE', `request body must be at most ${MAX_BODY_BYTES} bytes`)

async function readText(request: Request): Promise<string> {
  if (!request.body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength
    if (size > MAX_BODY_BYTES) throw tooLarge()
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * Bodies are JSON objects of at most 64 KB. Declared lengths are refused before reading;
 * chunked bodies are counted while read. `extraTypes` lets the relay accept application/sdp as text.
 */
export function jsonBodies(extraTextTypes: string[] = []) {
  return new Elysia({ name: 'json-bodies', seed: extraTextTypes })
    .onRequest(({ request }) => {
      const length = Number(request.headers.get('content-length') ?? 0)
      if (length > MAX_BODY_BYTES) throw tooLarge()
    })
    .onParse({ as: 'global' }, async ({ request, contentType }) => {
      const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase()
      if (extraTextTypes.includes(type)) return readText(request)
      if (type === 'application/json' || type.endsWith('+json')) {
        const text = await readText(request)
        if (text.trim() === '') return {}
        try {
          return JSON.parse(text)
        } catch {
          throw new AppError('VALIDATION_ERROR', 'request body is not valid JSON', { field: 'body' })
        }
      }
      const text = await readText(request)
      if (text === '') return {}
      throw new AppError('VALIDATION_ERROR', `Content-Type must be application/json${extraTextTypes.length ? ' or ' + extraTextTypes.join(', ') : ''}, got "${type || 'none'}"`, { field: 'content-type' })
    })
}
