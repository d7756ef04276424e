/**
 * GET /: the live dashboard. One static page, no framework: it takes the API key from the URL
 * fragment (#key=…, never sent to the server in a URL) or a form, and follows /ws?type=dashboard.
 */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ivs-fanout</title>
<style>
  :root { --bg: #0f1115; --panel: #181b22; --text: #e8e9ed; --muted: #8b90a0; --accent: #4f8cff; --warn: #f0a030; --ok: #3ecf8e; --bad: #ff5c5c; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, sans-serif; background: var(--bg); color: var(--text); }
  header { display: flex; align-items: center; gap: 1rem; padding: .9rem 1.5rem; border-bottom: 1px solid #262a33; }
  header h1 { font-size: 1.05rem; margin: 0; font-weight: 650; }
  #conn { margin-left: auto; color: var(--muted); }
  #conn.live { color: var(--ok); }
  main { padding: 1.25rem 1.5rem; display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(15rem, 1fr)); }
  .panel { background: var(--panel); border-radius: 10px; padding: 1rem 1.1rem; }
  .wide { grid-column: 1 / -1; }
  .label { color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; }
  .big { font-size: 2rem; font-weight: 700; margin-top: .2rem; }
  .stage { display: grid; grid-template-columns: 17rem 1fr 6rem; gap: .75rem; align-items: center; padding: .35rem 0; border-top: 1px solid #232732; }
  .stage:first-child { border-top: 0; }
  .arn { font-family: ui-monospace, monospace; font-size: .8rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .bar { height: .7rem; background: #262a33; border-radius: 99px; overflow: hidden; }
  .bar > div { height: 100%; background: var(--accent); }
  .draining .bar > div { background: var(--warn); }
  .tag { font-size: .72rem; padding: .05rem .4rem; border-radius: 4px; background: #262a33; color: var(--muted); margin-left: .3rem; }
  .draining .tag.state { color: var(--warn); }
  .count { text-align: right; font-variant-numeric: tabular-nums; }
  #keyform { display: flex; gap: .5rem; }
  #keyform input { flex: 1; padding: .45rem; background: #0f1115; color: var(--text); border: 1px solid #333845; border-radius: 6px; }
  #keyform button { padding: .45rem .9rem; background: var(--accent); color: white; border: 0; border-radius: 6px; cursor: pointer; }
  svg { width: 100%; height: 8rem; display: block; }
  .on { color: var(--ok); } .off { color: var(--muted); }
  ul { margin: .3rem 0 0; padding-left: 1.1rem; }
</style>
</head>
<body>
<header><h1>ivs-fanout</h1><span class="label">live fleet</span><span id="conn">disconnected</span></header>
<main>
  <section class="panel wide" id="login">
    <div class="label">API key</div>
    <form id="keyform"><input id="key" type="password" placeholder="x-api-key (or open this page as /#key=…)" autocomplete="off"><button>Connect</button></form>
  </section>
  <section class="panel"><div class="label">Viewers</div><div class="big" id="viewers">–</div></section>
  <section class="panel"><div class="label">Stages</div><div class="big" id="stages">–</div><div id="draining" class="label"></div></section>
  <section class="panel"><div class="label">Publisher</div><div class="big" id="publisher">–</div><ul id="relays"></ul></section>
  <section class="panel wide"><div class="label">Viewers over time</div><svg id="chart" viewBox="0 0 600 120" preserveAspectRatio="none"><polyline id="line" fill="none" stroke="#4f8cff" stroke-width="2" points=""/></svg></section>
  <section class="panel wide"><div class="label">Stages</div><div id="stagelist"></div></section>
</main>
<script>
const $ = (id) => document.getElementById(id)
const samples = []
let key = null, socket = null, relayTimer = null
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])

function render(stats) {
  $('viewers').textContent = stats.totalViewers
  $('stages').textContent = stats.activeStages
  $('draining').textContent = stats.drainingStages ? stats.drainingStages + ' draining' : ''
  setPublisher(stats.publisherActive)
  $('stagelist').innerHTML = stats.stages.map((s) => {
    const pct = Math.min(100, Math.round((s.viewers / s.capacity) * 100))
    return '<div class="stage ' + esc(s.status) + '" data-stage="' + esc(s.stageArn) + '">' +
      '<div class="arn" title="' + esc(s.stageArn) + '">' + esc(s.stageArn.split('/').pop()) + (s.isMaster ? '<span class="tag">master</span>' : '') +
      '<span class="tag state">' + esc(s.status) + '</span></div>' +
      '<div class="bar"><div style="width:' + pct + '%"></div></div>' +
      '<div class="count">' + s.viewers + ' / ' + s.capacity + '</div></div>'
  }).join('')
  samples.push(stats.totalViewers)
  if (samples.length > 120) samples.shift()
  const max = Math.max(1, ...samples)
  $('line').setAttribute('points', samples.map((v, i) => (i * 600) / Math.max(1, samples.length - 1) + ',' + (115 - (v / max) * 110)).join(' '))
  document.body.dataset.viewers = stats.totalViewers
  document.body.dataset.stages = stats.stages.length
}

function setPublisher(active) {
  $('publisher').textContent = active ? 'live' : 'off'
  $('publisher').className = 'big ' + (active ? 'on' : 'off')
}

async function loadRelays() {
  const res = await fetch('/api/stats/publisher', { headers: { 'x-api-key': key } }).catch(() => null)
  if (!res || !res.ok) return
  const data = (await res.json()).data
  setPublisher(data.active)
  $('relays').innerHTML = data.relays.map((r) => '<li>' + esc(r.serverId) + ': ' + r.connectedStages + ' stages, ' + (r.publisherActive ? 'publishing' : 'idle') + '</li>').join('')
}

function connect() {
  if (socket) socket.close()
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws?type=dashboard&apiKey=' + encodeURIComponent(key)
  socket = new WebSocket(url)
  socket.onopen = () => { $('conn').textContent = 'live'; $('conn').className = 'live'; $('login').hidden = true; loadRelays() }
  socket.onclose = () => { $('conn').textContent = 'disconnected'; $('conn').className = ''; $('login').hidden = false; setTimeout(() => key && connect(), 3000) }
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data)
    if (message.type === 'stats_update') render(message.data)
    if (message.type === 'publisher_state') setPublisher(message.data.active)
    if (message.type === 'stage_created' || message.type === 'stage_deleted') loadRelays()
  }
  clearInterval(relayTimer)
  relayTimer = setInterval(loadRelays, 5000)
}

$('keyform').addEventListener('submit', (event) => { event.preventDefault(); key = $('key').value; connect() })
const fromFragment = new URLSearchParams(location.hash.slice(1)).get('key')
if (fromFragment) { key = fromFragment; history.replaceState(null, '', location.pathname); connect() }
</script>
</body>
</html>
`
