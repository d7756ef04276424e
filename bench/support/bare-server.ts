import { serveCalls } from './child'

/** The HTTP ceiling: Bun.serve alone, reading the request body and answering with a fixed JSON body. */
serveCalls(async ({ body }: { body: string }) => {
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(request) {
      await request.text()
      return new Response(body, { headers: { 'content-type': 'application/json' } })
    },
  })
  return { port: server.port }
})
