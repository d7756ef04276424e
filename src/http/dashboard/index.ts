import { staticFiles } from '../../web/static-files'
import css from './dashboard.css' with { type: 'text' }
import html from './dashboard.html' with { type: 'text' }
import js from './dashboard.js' with { type: 'text' }
import chart from './dashboard-chart.js' with { type: 'text' }

/**
 * GET /: the live dashboard (viewers, seats against the ceiling and the subscription quota, stages,
 * publisher, the last hour's chart, relays with their ingest, IVS calls, each stage's feed), over
 * /ws?type=dashboard and /api/stats*. The API key is typed in or given in the URL fragment (#key=…),
 * which browsers never send to the server.
 */
export function dashboardRoutes() {
  return staticFiles(
    'dashboard',
    [
      { path: '/', body: html as unknown as string, contentType: 'text/html; charset=utf-8', summary: 'Live dashboard' },
      { path: '/dashboard.css', body: css, contentType: 'text/css; charset=utf-8', summary: "The dashboard's style sheet" },
      { path: '/dashboard.js', body: js, contentType: 'text/javascript; charset=utf-8', summary: "The dashboard's script" },
      { path: '/dashboard-chart.js', body: chart, contentType: 'text/javascript; charset=utf-8', summary: "The dashboard's chart (time axis, count scale)" },
    ],
    'health',
  )
}
