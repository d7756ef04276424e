import { staticFiles } from '../../../src/web/static-files'
import css from './publish.css' with { type: 'text' }
import html from './publish.html' with { type: 'text' }
import js from './publish.js' with { type: 'text' }

/** GET /publish: a browser publisher (camera and microphone over WHIP to this relay). */
export function publishPage() {
  return staticFiles(
    'publish',
    [
      { path: '/publish', body: html as unknown as string, contentType: 'text/html; charset=utf-8', summary: 'Browser publisher' },
      { path: '/publish.css', body: css, contentType: 'text/css; charset=utf-8', summary: "The publish page's style sheet" },
      { path: '/publish.js', body: js, contentType: 'text/javascript; charset=utf-8', summary: "The publish page's script" },
    ],
    'relay',
  )
}
