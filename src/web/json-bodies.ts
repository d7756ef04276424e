import { Elysia } from 'elysia'
import { AppError } from '../errors'

export const MAX_BODY_BYTES = 64 * 1024
/** Deeper bodies are refused before parsing: deep nesting overflows the validator's stack. */
export const MAX_JSON_DEPTH = 32

const tooLarge = () => new AppError('PAYLOAD_TOO_LARGE', `request body must be at most ${MAX_BODY_BYTES} bytes`)

export const DEFAULT_BODY_TIMEOUT_MS = 10_000

/** A body still arriving after `ms` is refused: a slow upload must not hold a connection and a buffer open. */
async function withDeadline<T>(reading: Promise<T>, ms: number): Promise<T> {
  let timer: Timer | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AppError('REQUEST_TIMEOUT', `the request body did not arrive within ${ms} ms; send it at once`)), ms)
  })
  try {
    return await Promise.race([reading, deadline])
  } finally {
    clearTimeout(timer)
  }
}

async function readText(request: Request, timeoutMs: number): Promise<string> {
  return withDeadline(readAll(request), timeoutMs)
}

async function readAll(request: Request): Promise<string> {
  // A declared length was checked in onRequest; only chunked bodies need counting while read
  // (the stream reader costs ~30 % of the main thread under load).
  if (request.headers.has('content-length')) return request.text()
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

/** Scans for nesting deeper than MAX_JSON_DEPTH; returns the top-level field it happens in ('' at the root), or null. */
function tooDeep(text: string): string | null {
  let depth = 0
  let inString = false
  let stringStart = 0
  let topLevelKey = ''
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92)
        i++ // backslash: skip the escaped character
      else if (c === 34) {
        inString = false
        if (depth === 1) topLevelKey = text.slice(stringStart + 1, i)
      }
    } else if (c === 34) {
      inString = true
      stringStart = i
    } else if (c === 123 || c === 91) {
      if (++depth > MAX_JSON_DEPTH) return depth > 1 ? topLevelKey : ''
    } else if (c === 125 || c === 93) depth--
  }
  return null
}

function parseJson(text: string): unknown {
  const deepField = tooDeep(text)
  if (deepField !== null) {
    const field = deepField || 'body'
    throw new AppError('VALIDATION_ERROR', `${field} nests deeper than ${MAX_JSON_DEPTH} levels`, { field })
  }
  let parsed: unknown
  try {
    // A "__proto__" key can only be spelt out or written with escapes: without either, no reviver is needed.
    if (!text.includes('__proto__') && !text.includes('\\')) return JSON.parse(text)
    parsed = JSON.parse(text, (key, value) => {
      if (key === '__proto__') throw new AppError('VALIDATION_ERROR', '__proto__ is not an allowed field', { field: '__proto__' })
      return value
    })
  } catch (error) {
    if (error instanceof AppError) throw error
    throw new AppError('VALIDATION_ERROR', 'request body is not valid JSON', { field: 'body' })
  }
  return parsed
}

export interface BodyOptions {
  /** Content types read as plain text (the relay's application/sdp). */
  textTypes?: string[]
  /** How long a body may take to arrive (default 10 s). */
  timeoutMs?: number
}

const hasBody = (request: Request) =>
  request.headers.has('transfer-encoding') || (request.headers.has('content-length') && request.headers.get('content-length') !== '0')

/**
 * Bodies are JSON objects of at most 64 KB. Declared lengths are refused before reading (and the
 * guess guard has checked the credentials by then, so nobody unauthenticated gets a byte read); chunked bodies are counted while read, and every body must arrive in time.
 */
export function jsonBodies(options: BodyOptions = {}) {
  const textTypes = options.textTypes ?? []
  const timeoutMs = options.timeoutMs ?? DEFAULT_BODY_TIMEOUT_MS
  return new Elysia({ name: 'json-bodies', seed: textTypes })
    .onRequest(({ request }) => {
      if (!hasBody(request)) return
      const length = Number(request.headers.get('content-length') ?? 0)
      if (length > MAX_BODY_BYTES) throw tooLarge()
    })
    .onParse({ as: 'global' }, async ({ request, contentType }) => {
      const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase()
      if (textTypes.includes(type)) return readText(request, timeoutMs)
      if (type === 'application/json' || type.endsWith('+json')) {
        const text = await readText(request, timeoutMs)
        if (text.trim() === '') return {}
        return parseJson(text)
      }
      const text = await readText(request, timeoutMs)
      if (text === '') return {}
      throw new AppError(
        'VALIDATION_ERROR',
        `Content-Type must be application/json${textTypes.length ? ` or ${textTypes.join(', ')}` : ''}, got "${type || 'none'}"`,
        { field: 'content-type' },
      )
    })
}
