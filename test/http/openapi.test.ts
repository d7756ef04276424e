/**
 * The OpenAPI document the server publishes at /swagger/json: valid by the real validator,
 * complete (every registered route), and useful (summaries, 200 schemas, body schemas, examples).
 */

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import SwaggerParser from '@apidevtools/swagger-parser'
import { ERROR_CODES } from '../../src/errors'
import { explainValidationError, fetchOpenApi, type OpenApiDoc, type Operation, operations, type Schema, toOpenApiPath } from '../support/openapi'
import { startTestServer, type TestServer } from '../support/serve'

let server: TestServer
let doc: OpenApiDoc

beforeAll(async () => {
  server = await startTestServer({ MEDIA_SERVER_SECRET: 'openapi-media-secret-0123' })
  doc = await fetchOpenApi(server.url)
})
afterAll(() => server?.stop())

const isSwaggerRoute = (path: string) => path === '/swagger' || path.startsWith('/swagger/')
/** The dashboard's script and style sheet: @elysiajs/swagger leaves paths with a file extension out by design. */
const isStaticFile = (path: string) => /\.[a-z]+$/.test(path)
/** The HTML pages (the dashboard, the viewer page): their 200 is text/html. */
const HTML_PAGES = ['/', '/watch']

/** True when an `example` or `examples` keyword appears anywhere under `node`. */
function hasExample(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(hasExample)
  if (node === null || typeof node !== 'object') return false
  const record = node as Record<string, unknown>
  if (record.example !== undefined || record.examples !== undefined) return true
  return Object.values(record).some(hasExample)
}

/**
 * Examples that document this operation. The success envelope's `timestamp` and the shared error
 * envelope carry examples on every route, so they would make the check pass everywhere: for an
 * envelope, only its `data` (or an example of the whole response) counts.
 */
function operationExamples(op: Operation): boolean {
  if (hasExample(op.parameters)) return true
  if (hasExample(op.requestBody)) return true
  // JSON routes document application/json; /metrics text/plain; the dashboard text/html.
  const content = op.responses?.['200']?.content
  const ok = content?.['application/json'] ?? content?.['text/plain'] ?? content?.['text/html']
  if (!ok) return false
  if (ok.example !== undefined || ok.examples !== undefined) return true
  const schema = ok.schema as Schema | undefined
  if (!schema) return false
  if (schema.example !== undefined) return true
  const isEnvelope = schema.properties?.success !== undefined && schema.properties?.timestamp !== undefined
  return hasExample(isEnvelope ? schema.properties?.data : schema)
}

describe('GET /swagger/json', () => {
  test('is an OpenAPI 3 document that @apidevtools/swagger-parser validates', async () => {
    expect(doc.openapi).toMatch(/^3\./)
    let problems: string[] = []
    try {
      await SwaggerParser.validate(structuredClone(doc) as never)
    } catch (error) {
      problems = explainValidationError(error, doc.openapi)
    }
    expect(problems).toEqual([])
  })

  test('documents every route the app registers (method + path), except /swagger itself and static files', () => {
    const routes = server.app.routes
      .filter((r) => !isSwaggerRoute(r.path) && !isStaticFile(r.path) && r.method !== 'WS') // WebSocket upgrades are not expressible in OpenAPI 3.0
      .map((r) => ({ method: r.method.toLowerCase(), path: toOpenApiPath(r.path) }))
    expect(routes.length).toBeGreaterThan(20)
    const missing = routes
      .filter(({ method, path }) => {
        const item = doc.paths[path]
        if (!item) return true
        if (method === 'all' || method === '*') return Object.keys(item).length === 0
        return item[method as keyof typeof item] === undefined
      })
      .map(({ method, path }) => `${method.toUpperCase()} ${path}`)
    expect(missing).toEqual([])
  })

  test('every operation has a summary or description, a 200 schema, a body schema where it takes a body, and an example', () => {
    const problems: string[] = []
    const ops = operations(doc)
    expect(ops.length).toBeGreaterThan(20)
    for (const { method, path, op } of ops) {
      const at = `${method} ${path}`
      if (!op.summary?.trim() && !op.description?.trim()) problems.push(`${at}: no summary or description`)
      const content = op.responses?.['200']?.content
      const schema200 =
        content?.['application/json']?.schema ??
        (path === '/metrics' ? content?.['text/plain']?.schema : HTML_PAGES.includes(path) ? content?.['text/html']?.schema : undefined)
      if (!schema200) problems.push(`${at}: no application/json schema for the 200 response`)
      if ((method === 'POST' || method === 'PUT' || method === 'PATCH') && !op.requestBody?.content?.['application/json']?.schema)
        problems.push(`${at}: takes a body but documents no application/json request schema`)
      if (!operationExamples(op)) problems.push(`${at}: no example in its parameters, request body or 200 response data`)
    }
    expect(problems).toEqual([])
  })

  test("every error response documents `code` as the contract's codes (src/errors.ts), not a free string", () => {
    const documented = new Set<string>()
    for (const { method, path, op } of operations(doc)) {
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (status === '200') continue
        const code = response.content?.['application/json']?.schema?.properties?.error?.properties?.code as Schema | undefined
        if (!code) continue
        const values = (code.anyOf ?? []).map((c: Schema) => c.const)
        expect(values.sort(), `${method} ${path} ${status}`).toEqual([...ERROR_CODES].sort())
        documented.add(`${method} ${path} ${status}`)
      }
    }
    expect(documented.size).toBeGreaterThan(20)
  })
})

describe('the fan-out modes in the document', () => {
  test('the relay publish-token routes declare the 409 of a stage the relay does not feed (replicate; hybrid: a replica-fed stage)', () => {
    for (const path of ['/api/media/token', '/api/token/mediaserver']) {
      const op = doc.paths[path]?.post
      expect([path, Object.keys(op?.responses ?? {}).sort()]).toEqual([path, ['200', '400', '401', '403', '404', '409', '429', '500']])
      expect(op?.description).toContain('409')
    }
  })

  test('GET /api/media/stages says what it lists in each FANOUT_MODE, not every stage', () => {
    const description = doc.paths['/api/media/stages']?.get?.description ?? ''
    expect(description).not.toContain('Every stage of the fleet')
    for (const words of ['relay', 'hybrid', 'origin', 'replicate', 'none']) expect([words, description.includes(words)]).toEqual([words, true])
  })
})

test('GET /swagger answers the HTML UI with 200', async () => {
  const res = await fetch(`${server.url}/swagger`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type') ?? '').toContain('text/html')
  const html = await res.text()
  expect(html.toLowerCase()).toContain('<html')
  expect(html).toContain('swagger/json') // the UI loads the document (relative URL)
})
