import http from 'node:http'
import { Elysia } from 'elysia'
import { AppError } from '../errors'
import { pathStart } from './request-path'

/** The documented limit on a request's line (method, path, query) plus its headers. */
export const MAX_HEADER_BYTES = 16 * 1024

/**
 * Bun's own HTTP parser limit on the same, raised above ours so that requests up to it reach our
 * code and are refused with the envelope (431 HEADERS_TOO_LARGE). Past it, and past Bun's fixed
 * ~200 header fields, Bun still answers a bare 431 and closes the connection: nothing can change that.
 */
export const SERVER_MAX_HEADER_BYTES = 64 * 1024

/**
 * How both modes listen. Bun's `maxRequestBodySize` would answer a bare 413 (no envelope, no
 * x-request-id, no CORS) before our code sees the request, so it is lifted: our body reader refuses
 * bodies over 64 KB with the envelope, declared lengths before a byte is read and chunked bodies
 * while counting; Bun discards the unread rest without buffering it and keeps the connection.
 * The header limit is process-wide (node:http's `maxHeaderSize`, which Bun.serve's parser reads:
 * the same as `bun --max-http-header-size`), so it is raised here, before the server starts.
 */
export function listenOptions(port: number) {
  const limits = http as { maxHeaderSize: number }
  if (limits.maxHeaderSize < SERVER_MAX_HEADER_BYTES) limits.maxHeaderSize = SERVER_MAX_HEADER_BYTES
  return { port, hostname: '0.0.0.0', maxRequestBodySize: Number.MAX_SAFE_INTEGER }
}

/** Bytes of the request line and headers, as sent (header values are Latin-1; the path is percent-encoded). */
export function headerBytes(request: Request): number {
  const url = request.url
  // "GET /path?query HTTP/1.1\r\n"
  let size = request.method.length + (url.length - pathStart(url)) + 11
  request.headers.forEach((value, name) => {
    size += name.length + value.length + 4 // "name: value\r\n"
  })
  return size + 2
}

/**
 * Refuses a request line plus headers over MAX_HEADER_BYTES with the envelope (431). Use it after
 * the request id and CORS hooks, so the refusal carries both.
 */
export function requestLimits() {
  return new Elysia({ name: 'request-limits' }).onRequest(({ request }) => {
    const size = headerBytes(request)
    if (size > MAX_HEADER_BYTES) {
      throw new AppError('HEADERS_TOO_LARGE', `the request line and headers must be at most ${MAX_HEADER_BYTES} bytes, got about ${size}`, {
        limit: MAX_HEADER_BYTES,
      })
    }
  })
}
