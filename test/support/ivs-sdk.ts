/**
 * The official IVS web SDK (`amazon-ivs-web-broadcast`, a devDependency: its licence is the AWS
 * Customer Agreement, so the product only ever names AWS's CDN address) in headless Chromium. The
 * CDN address is routed to the package's own file, and nothing else reaches AWS: the SDK's events
 * WebSockets (every `*.live-video.net` socket) are answered by Playwright and recorded with the
 * subprotocols they offer; its other requests (analytics, remote configuration) are recorded and
 * refused, as offline.
 *
 * An events socket is answered with the state of an empty stage, which completes the SDK's join: at
 * once, or when the test says (`answer: 'when-told'`, then `socket.answer()`). Unanswered, SDK 1.41.0
 * waits 12 s, then carries on as joined.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BrowserContext } from 'playwright-core'

const PACKAGE = join(import.meta.dir, '../../node_modules/amazon-ivs-web-broadcast')

/** The installed SDK's version (package.json pins it exactly). */
export const SDK_VERSION: string = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')).version

/** Where AWS serves that version (DESIGN §13): what a page loads, and what tests route to SDK_FILE. */
export const SDK_CDN_URL = `https://web-broadcast.live-video.net/${SDK_VERSION}/amazon-ivs-web-broadcast.js`

/** The package's browser bundle (defines window.IVSBroadcastClient). */
export const SDK_FILE = join(PACKAGE, 'dist/amazon-ivs-web-broadcast.js')

/**
 * The least an events socket must hear for the SDK's join to complete: the initial state of a stage
 * with nobody in it. Read from SDK 1.41.0's own code (`STAGE_STATE`, its sequence number, the
 * participants): IVS's events protocol is not a documented API.
 */
const EMPTY_STAGE_STATE = JSON.stringify({ type: 'STAGE_STATE', payload: { sequenceNumber: 1, participants: [], disconnected: [] } })

/** One WebSocket the page opened to IVS. */
export interface IvsSocket {
  url: string
  protocols: string[]
  /** The page closed it. */
  closed: boolean
  /** Messages the page sent on it. */
  sent: number
  /** It was sent the empty stage's state. */
  answered: boolean
  /** Sends the empty stage's state (once). */
  answer(): void
}

export interface IvsTraffic {
  sockets: IvsSocket[]
  /** Other requests to *.live-video.net (refused), the SDK's file excepted. */
  requests: string[]
  /** How often the SDK's file was asked for. */
  sdkLoads: number
}

const isIvs = (url: URL) => url.hostname === 'live-video.net' || url.hostname.endsWith('.live-video.net')

/**
 * Routes IVS's hosts for every page of `context`: the SDK's CDN address to the package's file
 * (as UTF-8: the file is, and a page without a charset would read it as windows-1252 and fail),
 * IVS WebSockets to a recorder that keeps them open and answers each with an empty stage's state
 * (at once, or when told), anything else refused.
 */
export async function routeIvs(context: BrowserContext, options: { answer?: 'at-once' | 'when-told' } = {}): Promise<IvsTraffic> {
  const traffic: IvsTraffic = { sockets: [], requests: [], sdkLoads: 0 }
  await context.route(isIvs, (route) => {
    const url = route.request().url()
    if (url === SDK_CDN_URL) {
      traffic.sdkLoads++
      return route.fulfill({ path: SDK_FILE, contentType: 'text/javascript; charset=utf-8' })
    }
    traffic.requests.push(`${route.request().method()} ${url}`)
    return route.abort('internetdisconnected')
  })
  await context.routeWebSocket(isIvs, (ws) => {
    const socket: IvsSocket = {
      url: ws.url(),
      protocols: ws.protocols(),
      closed: false,
      sent: 0,
      answered: false,
      answer() {
        if (socket.answered || socket.closed) return
        socket.answered = true
        ws.send(EMPTY_STAGE_STATE)
      },
    }
    traffic.sockets.push(socket)
    ws.onMessage(() => {
      socket.sent++
    })
    ws.onClose(() => {
      socket.closed = true
    })
    if (options.answer !== 'when-told') socket.answer()
  })
  return traffic
}

/** The JWT's claims (not verified). */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
}

/** The stage id: the last segment of a stage ARN. */
export const stageIdOf = (arn: string) => arn.split('/').pop()!

/**
 * The `topic` an events socket names: SDK 1.41.0 asks for `<topic claim>/publishers` (the stage's
 * publishers' events); the stage's part is before the slash.
 */
export const topicOf = (socket: IvsSocket) => new URL(socket.url).searchParams.get('topic')
export const stageTopicOf = (socket: IvsSocket) => topicOf(socket)?.split('/')[0] ?? null
