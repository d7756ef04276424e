/*
 * GET /: the live dashboard. One static page, no framework: it takes the API key from the URL
 * fragment (#key=…, never sent to the server in a URL) or a form, follows /ws?type=dashboard
 * (stats_update), starts its chart from /api/stats/history and reads /api/stats/publisher (the
 * relays) and /api/stats/ivs (this instance's IVS calls) every 5 s. Every figure shown carries the
 * value it stands for in data-value (what the tests compare with the API).
 */
const $ = (id) => document.getElementById(id)
let key = null,
  socket = null,
  detailTimer = null,
  chartTimer = null
/** The chart's points ({at, totalViewers, openSeats}, at on the server's clock), its window, and since when it has figures. */
let points = [],
  offset = 0,
  windowMs = 3_600_000,
  since = null,
  sinceWhat = 'page opened'
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
const num = (n) => Number(n).toLocaleString('en-US')
const pct = (ratio) => `${(ratio * 100).toFixed(2)} %`
const clock = (ms) => timeChart.clock(ms)
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`

/** Shows `text` in element `id`, standing for `value`. */
function show(id, value, text = num(value)) {
  const node = $(id)
  node.textContent = text
  node.dataset.value = String(value)
}

/** A table cell or span showing `text` for `field` = `value`. */
const field = (tag, name, value, text) => `<${tag} data-field="${name}" data-value="${esc(value)}">${esc(text)}</${tag}>`

function render(stats) {
  show('viewers', stats.totalViewers)
  show('stages', stats.activeStages)
  show('max-stages', stats.seats.maxStages)
  $('draining').textContent = stats.drainingStages ? `${stats.drainingStages} draining` : ''
  $('fanout').textContent = `· FANOUT_MODE ${stats.fanoutMode}${stats.activeReplications ? `, ${stats.activeReplications} replications` : ''}`
  $('capacity').textContent = stats.capacityExhausted ? `new viewers refused: ${stats.capacityReason}` : ''
  renderSeats(stats.seats)
  setPublisher(stats.publisherActive)
  $('stagelist').innerHTML = stats.stages.map(stageRow).join('')
  points.push({ at: Date.now() + offset, totalViewers: stats.totalViewers, openSeats: stats.seats.open })
  drawChart()
  $('updated').textContent = `updated ${new Date().toLocaleTimeString('en-GB')}`
  document.body.dataset.viewers = stats.totalViewers
  document.body.dataset.stages = stats.stages.length
}

function renderSeats(seats) {
  show('seats-used', seats.used)
  show('seats-open', seats.open)
  show('seats-ceiling', seats.ceiling)
  $('seats-formula').textContent = `= MAX_STAGES ${num(seats.maxStages)} × STAGE_CAPACITY ${num(seats.stageCapacity)}`
  show('seats-quota', seats.subscriptionQuota)
  // Against whichever limit comes first: the fleet's ceiling or the account's subscriptions.
  const share = seats.used / Math.max(1, Math.min(seats.ceiling, seats.subscriptionQuota))
  $('seats-bar').style.width = `${Math.min(100, share * 100).toFixed(1)}%`
  $('seats-bar').className = share >= 0.9 ? 'bad' : share >= 0.75 ? 'warn' : ''
}

function stageRow(s) {
  const pct = Math.min(100, Math.round((s.viewers / s.capacity) * 100))
  return (
    `<div class="stage ${esc(s.status)}" data-stage="${esc(s.stageArn)}" data-key="${esc(s.stageArn)}">` +
    `<div class="arn" title="${esc(s.stageArn)}">${esc(s.stageArn.split('/').pop())}${s.isMaster ? '<span class="tag">master</span>' : ''}` +
    `<span class="tag state">${esc(s.status)}</span></div>${feedCell(s.feed)}` +
    `<div class="bar"><div style="width:${pct}%"></div></div>` +
    `<div class="count" data-field="viewers" data-value="${s.viewers}">${s.viewers} / ${s.capacity}</div></div>`
  )
}

/** How the stage gets its media: the relay, a replica of an origin stage, the broadcaster itself, or nothing yet. */
function feedCell(feed) {
  const kind = feed ? feed.kind : 'none'
  const origin = feed?.originStageArn
  const text = kind === 'replica' ? `replica of ${origin ? origin.split('/').pop() : '?'}` : kind === 'none' ? 'no feed' : kind
  return `<div class="feed ${esc(kind)}" data-feed="${esc(kind)}" data-field="feed" data-value="${esc(kind)}"${origin ? ` title="${esc(origin)}"` : ''}>${esc(text)}</div>`
}

function setPublisher(active) {
  show('publisher', active, active ? 'live' : 'off')
  $('publisher').className = `big ${active ? 'on' : 'off'}`
}

/** The chart: the samples the server kept (the last hour), then every stats_update. */
function drawChart() {
  const now = Date.now() + offset
  const from = now - windowMs
  // One point before the window stays: it holds the count at the window's start.
  while (points.length > 1 && points[1].at <= from) points.shift()
  const series = (id, className, pick) => ({ id, className, points: points.map((p) => ({ at: p.at, value: p[pick] })) })
  timeChart.draw($('chart'), [series('seats-line', 'seats', 'openSeats'), series('line', 'viewers', 'totalViewers')], now, windowMs, 'count')
  const start = since ?? now
  $('window').textContent = start > from + 60_000 ? `· since ${clock(start)} (${sinceWhat}), filling to the last hour` : '· last hour'
}

async function api(path) {
  const res = await fetch(path, { headers: { 'x-api-key': key } }).catch(() => null)
  return res?.ok ? (await res.json()).data : null
}

async function loadHistory() {
  const history = await api('/api/stats/history')
  if (!history) {
    // A server without the history: the chart starts when the page opened.
    since ??= Date.now()
    return
  }
  offset = Date.parse(history.now) - Date.now()
  windowMs = history.windowMs
  const kept = history.samples.map((s) => ({ at: Date.parse(s.at), totalViewers: s.totalViewers, openSeats: s.openSeats }))
  const last = kept.at(-1)?.at ?? Number.NEGATIVE_INFINITY
  points = [...kept, ...points.filter((p) => p.at > last)]
  since = history.since ? Date.parse(history.since) : Date.now() + offset
  sinceWhat = 'this serve instance keeps the last hour from its start'
  drawChart()
  document.body.dataset.history = String(kept.length)
}

async function loadDetails() {
  const [publisher, ivs] = await Promise.all([api('/api/stats/publisher'), api('/api/stats/ivs')])
  if (publisher) renderRelays(publisher)
  if (ivs) renderIvs(ivs)
  document.body.dataset.details = String(Number(document.body.dataset.details ?? 0) + 1)
}

function renderRelays(data) {
  setPublisher(data.active)
  show('feeding', data.feedingRelay ?? '', data.feedingRelay ? `fed by ${data.feedingRelay}` : 'no relay feeds the stages')
  $('relays-none').textContent = data.relays.length ? '' : 'No relay has registered (FANOUT_MODE=replicate needs none).'
  $('relays').innerHTML = data.relays.map(relayRow).join('')
}

function relayRow(r) {
  const i = r.ingest
  const s = r.stageSessions
  const publishing = r.state === 'online' && r.publisherActive
  const none = (name, text) => field('td', name, '', text)
  return (
    `<tr class="${esc(r.state)}${r.feeding ? ' feeding' : ''}" data-key="${esc(r.serverId)}">` +
    `<td data-field="serverId" data-value="${esc(r.serverId)}">${esc(r.serverId)}${r.feeding ? ' <span class="tag feeds" data-field="feeding" data-value="true">feeding</span>' : ''}</td>` +
    field('td', 'state', r.state, r.state) +
    field('td', 'publisherActive', publishing, publishing ? `since ${r.publisherSince ? clock(Date.parse(r.publisherSince)) : '?'}` : 'none') +
    (i
      ? field('td', 'lossRatio', i.lossRatio, `${pct(i.lossRatio)} · ${num(i.missing)} missing`) +
        field('td', 'repaired', i.repaired, num(i.repaired)) +
        field('td', 'unrepaired', i.unrepaired, num(i.unrepaired)) +
        field('td', 'keyframeIntervalMs', i.keyframeIntervalMs ?? '', i.keyframeIntervalMs === null ? 'not measured yet' : seconds(i.keyframeIntervalMs))
      : [
          none('lossRatio', r.stageSessions ? 'no publisher' : 'not reported'),
          none('repaired', '—'),
          none('unrepaired', '—'),
          none('keyframeIntervalMs', '—'),
        ].join('')) +
    (s
      ? `<td>${['live', 'connecting', 'backoff', 'noMedia'].map((k) => field('span', k, s[k], `${s[k]} ${k === 'noMedia' ? 'no media' : k}`)).join(' · ')}</td>`
      : none('live', 'not reported')) +
    field('td', 'lastHeartbeatAt', r.lastHeartbeatAt, `${seconds(r.ageMs)} ago`) +
    '</tr>'
  )
}

function renderIvs(ivs) {
  const t = ivs.totals
  $('ivs-since').textContent = ivs.provider === 'local' ? '· local stages: no IVS API calls' : `· this serve instance, since ${clock(Date.parse(ivs.since))}`
  const mean = (c) => (c.attempts ? ` (mean ${(c.gateWaitMs / c.attempts).toFixed(1)} ms)` : '')
  $('ivs-totals').innerHTML = [
    field('span', 'attempts', t.attempts, `${num(t.attempts)} attempts`),
    field('span', 'ok', t.ok, `${num(t.ok)} ok`),
    field('span', 'throttled', t.throttled, `${num(t.throttled)} throttled`),
    field('span', 'errors', t.errors, `${num(t.errors)} errors`),
    field('span', 'gateWaitMs', t.gateWaitMs, `${num(t.gateWaitMs)} ms waited for the quota gate${mean(t)}`),
  ].join(' · ')
  $('ivs').innerHTML = ivs.operations
    .map(
      (o) =>
        `<tr data-key="${esc(o.operation)}"><td data-field="operation" data-value="${esc(o.operation)}">${esc(o.operation)}</td>` +
        ['attempts', 'ok', 'throttled', 'errors'].map((k) => field('td', k, o[k], num(o[k]))).join('') +
        field('td', 'gateWaitMs', o.gateWaitMs, `${num(o.gateWaitMs)} ms${mean(o)}`) +
        '</tr>',
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
    loadHistory()
    loadDetails()
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
    if (['stage_created', 'stage_deleted', 'media_server_offline', 'feeding_relay'].includes(message.type)) loadDetails()
  }
  clearInterval(detailTimer)
  detailTimer = setInterval(loadDetails, 5000)
  // The window slides with the clock, updates or not.
  clearInterval(chartTimer)
  chartTimer = setInterval(drawChart, 5000)
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
