import { Elysia } from 'elysia'

export interface StaticFile {
  path: string
  /** The file's text (imported with `with { type: 'text' }`). */
  body: string
  contentType: string
  /** OpenAPI summary. */
  summary: string
}

const EXAMPLES: Record<string, string> = {
  'text/html': '<!doctype html>…',
  'text/css': ':root { … }',
  'text/javascript': 'const $ = (id) => document.getElementById(id) …',
}

/** Serves pages and their scripts and styles, kept as real files beside the plugin that serves them. */
export function staticFiles(name: string, files: StaticFile[], tag: string) {
  let app = new Elysia({ name: `static:${name}` })
  for (const file of files) {
    const mime = file.contentType.split(';')[0]!
    app = app.get(file.path, () => new Response(file.body, { headers: { 'content-type': file.contentType } }), {
      detail: {
        summary: file.summary,
        tags: [tag],
        responses: { 200: { description: file.summary, content: { [mime]: { schema: { type: 'string', example: EXAMPLES[mime] ?? '…' } } } } },
      },
    })
  }
  return app
}
