import { staticFiles } from '../../web/static-files'
import css from './dashboard.css' with { type: 'text' }
import html from './dashboard.html' with { type: 'text' }
import js from './dashboard.js' with { type: 'text' }

/**
 * GET /: the live dashboard (stages, viewers, publisher and relays over /ws?type=dashboard). The API
 * key is typed in or given in the URL fragment (#key=…), which browsers never send to the server.
 */
export function dashboardRoutes() {
  return staticFiles(
    'dashboard',
    [
      { path: '/', body: html as unknown as string, contentType: 'text/html; charset=utf-8', summary: 'Live dashboard' },
      { path: '/dashboard.css', body: css, contentType: 'text/css; charset=utf-8', summary: "The dashboard's style sheet" },
      { path: '/dashboard.js', body: js, contentType: 'text/javascript; charset=utf-8', summary: "The dashboard's script" },
    ],
    'health',
  )
}
