import { staticFiles } from '../../web/static-files'
import js from './viewer.js' with { type: 'text' }

/** GET /viewer.js: the viewer-presence module for browser viewer apps on any origin (CORS: *). */
export function viewerClientRoutes() {
  return staticFiles(
    'viewer-client',
    [{ path: '/viewer.js', body: js, contentType: 'text/javascript; charset=utf-8', summary: 'Viewer presence module (ES module) for browser viewer apps' }],
    'viewers',
  )
}
