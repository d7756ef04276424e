import { pageCsp } from '../../web/security-headers'
import { staticFiles } from '../../web/static-files'
import css from './watch.css' with { type: 'text' }
import html from './watch.html' with { type: 'text' }
import js from './watch.js' with { type: 'text' }

/**
 * Amazon's IVS web broadcast SDK as AWS serves it: the one place its version is pinned (the tests'
 * devDependency has the same). Its licence (the AWS Customer Agreement) lets pages load it from AWS,
 * not ship it: serve never bundles nor serves it (test/architecture/ivs-sdk-licence.test.ts).
 */
export const IVS_SDK_VERSION = '1.41.0'
export const IVS_SDK_URL = `https://web-broadcast.live-video.net/${IVS_SDK_VERSION}/amazon-ivs-web-broadcast.js`

/**
 * /watch's policy: the dashboard's, plus the SDK's one file at its exact address on AWS's CDN (a
 * source with a path: no other file of that host runs, and the SDK itself loads none: no
 * importScripts, no script elements), and IVS's endpoints, which the SDK contacts: its events socket
 * (a token's events_url, wss://global.events.live-video.net), a stage's WHIP host (a token's
 * whip_url, https://…whip.live-video.net, and the links its answers give), its analytics
 * (https://broadcast.stats.live-video.net) and remote configuration
 * (https://prod.ivs-device-config.live-video.net). Its helper workers are made from blob: URLs.
 */
export const WATCH_CSP = pageCsp({
  scripts: [IVS_SDK_URL],
  connect: ['https://*.live-video.net', 'wss://*.live-video.net'],
  workers: ['blob:'],
})

/**
 * GET /watch: a viewer page (watch.js says what it does). The API key is typed in or given in the
 * URL fragment (#key=…), which browsers never send to the server.
 */
export function watchRoutes() {
  const page = (html as unknown as string).replace('{{IVS_SDK_URL}}', IVS_SDK_URL)
  return staticFiles(
    'watch',
    [
      { path: '/watch', body: page, contentType: 'text/html; charset=utf-8', summary: 'Viewer page: watch the broadcast with the IVS web SDK' },
      { path: '/watch.css', body: css, contentType: 'text/css; charset=utf-8', summary: "The viewer page's style sheet" },
      { path: '/watch.js', body: js, contentType: 'text/javascript; charset=utf-8', summary: "The viewer page's script (an ES module)" },
    ],
    'viewers',
  )
}
