/*
 * GET /: the live dashboard. One static page, no framework: it takes the API key from the URL
 * fragment (#key=…, never sent to the server in a URL) or a form, and follows /ws?type=dashboard.
 */
const $ = (id) => document.getElementById(id)
const samples = []
let key = null,
  socket = null,
  relayTimer = null
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])

function render(stats) {
  $('viewers').textContent = stats.totalViewers
  $('stages').textContent = stats.activeStages
  $('draining').textContent = stats.drainingStages ? `${stats.drainingStages} draining` : ''
  $('fanout').textContent = `· FANOUT_MODE ${stats.fanoutMode}${stats.activeReplications ? `, ${stats.activeReplications} replications` : ''}`
  setPublisher(stats.publisherActive)
  $('stagelist').innerHTML = stats.stages
    .map((s) => {
      const pct = Math.min(100, Math.round((s.viewers / s.capacity) * 100))
      return (
        '<div class="stage ' +
        esc(s.status) +
        '" data-stage="' +
        esc(s.stageArn) +
        '">' +
        '<div class="arn" title="' +
        esc(s.stageArn) +
        '">' +
        esc(s.stageArn.split('/').pop()) +
        (s.isMaster ? '<span class="tag">master</span>' : '') +
        '<span class="tag state">' +
        esc(s.status) +
        '</span></div>' +
        feedCell(s.feed) +
        '<div class="bar"><div style="width:' +
        pct +
        '%"></div></div>' +
        '<div class="count">' +
        s.viewers +
        ' / ' +
        s.capacity +
        '</div></div>'
      )
    })
    .join('')
  samples.push(stats.totalViewers)
  if (samples.length > 120) samples.shift()
  const max = Math.max(1, ...samples)
  $('line').setAttribute('points', samples.map((v, i) => `${(i * 600) / Math.max(1, samples.length - 1)},${115 - (v / max) * 110}`).join(' '))
  document.body.dataset.viewers = stats.totalViewers
  document.body.dataset.stages = stats.stages.length
}

/** How the stage gets its media: the relay, a replica of an origin stage, the broadcaster itself, or nothing yet. */
function feedCell(feed) {
  const kind = feed ? feed.kind : 'none'
  const origin = feed?.originStageArn
  const text = kind === 'replica' ? `replica of ${origin ? origin.split('/').pop() : '?'}` : kind === 'none' ? 'no feed' : kind
  return `<div class="feed ${esc(kind)}" data-feed="${esc(kind)}"${origin ? ` title="${esc(origin)}"` : ''}>${esc(text)}</div>`
}

function setPublisher(active) {
  $('publisher').textContent = active ? 'live' : 'off'
  $('publisher').className = `big ${active ? 'on' : 'off'}`
}

async function loadRelays() {
  const res = await fetch('/api/stats/publisher', { headers: { 'x-api-key': key } }).catch(() => null)
  if (!res?.ok) return
  const data = (await res.json()).data
  setPublisher(data.active)
  $('relays').innerHTML = data.relays
    .map(
      (r) =>
        `<li class="${esc(r.state)}">${esc(r.serverId)}: ${esc(r.state)}, ${r.connectedStages} stages, ${r.state === 'online' && r.publisherActive ? 'publishing' : 'idle'}</li>`,
    )
    .join('')
}

function connect() {
  if (socket) socket.close()
  const url = `${(location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host}/ws?type=dashboard&apiKey=${encodeURIComponent(key)}`
  socket = new WebSocket(url)
  socket.onopen = () => {
    $('conn').textContent = 'live'
    $('conn').className = 'live'
    $('login').hidden = true
    loadRelays()
  }
  socket.onclose = () => {
    $('conn').textContent = 'disconnected'
    $('conn').className = ''
    $('login').hidden = false
    setTimeout(() => key && connect(), 3000)
  }
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data)
    if (message.type === 'stats_update') render(message.data)
    if (message.type === 'publisher_state') setPublisher(message.data.active)
    if (message.type === 'stage_created' || message.type === 'stage_deleted' || message.type === 'media_server_offline') loadRelays()
  }
  clearInterval(relayTimer)
  relayTimer = setInterval(loadRelays, 5000)
}

$('keyform').addEventListener('submit', (event) => {
  event.preventDefault()
  key = $('key').value
  connect()
})
const fromFragment = new URLSearchParams(location.hash.slice(1)).get('key')
if (fromFragment) {
  key = fromFragment
  history.replaceState(null, '', location.pathname)
  connect()
}
