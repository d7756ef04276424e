/*
 * GET /watch: serve's own viewer page. It takes the API key from the URL fragment (#key=…, never
 * sent to the server in a URL) or a form, gets a viewer token (POST /api/token/viewer; the userId from
 * #user=… or made up), joins the assigned stage with Amazon's IVS web SDK (watch.html loads it from
 * AWS's CDN: serve never serves it), plays the broadcaster's video and audio, and keeps its seat with
 * /viewer.js: heartbeats; when its stage drains, a new token → leave the old Stage, join the new one;
 * on pagehide it leaves. Stage, connection state and every error are shown in words.
 */
import { ViewerPresence } from '/viewer.js'

const $ = (id) => document.getElementById(id)
const fragment = new URLSearchParams(location.hash.slice(1))
const userId = fragment.get('user') || `watch-${[...crypto.getRandomValues(new Uint8Array(6))].map((b) => b.toString(16).padStart(2, '0')).join('')}`
let key = fragment.get('key')
// The key stays in this page: out of the address bar, the history and any link copied from it.
if (location.hash) history.replaceState(null, '', location.pathname + location.search)

let presence = null
/** The Stage this page is on, and its join (a promise). */
let stage = null
let starting = false
/** Participant id → its audio and video tracks, the newest publisher last (the one played). */
const published = new Map()

const STATE_WORDS = {
  connecting: 'connecting to the stage…',
  connected: 'connected',
  disconnected: 'disconnected',
  errored: 'connection failed',
}

function showError(text) {
  $('error').textContent = text ?? ''
  $('error').hidden = !text
}

function showState(state) {
  $('state').textContent = STATE_WORDS[state] ?? state
  document.body.dataset.state = state
}

/** An API answer that is not a token, in words. */
function apiProblem(status, body) {
  const code = body?.error?.code
  const message = body?.error?.message
  if (status === 401) return 'The API key was not accepted (401 Unauthorized): check it and enter it again.'
  if (status === 403) return `This API key may not be used from here (403 Forbidden${message ? `: ${message}` : ''}).`
  if (status === 429) return 'Too many requests (429): wait a moment and reload the page.'
  if (code === 'CAPACITY_EXHAUSTED') return 'Every stage is full (503 CAPACITY_EXHAUSTED): reload the page in a little while.'
  return `ivs-fanout answered ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}.`
}

/** A StageError of the SDK, in words. */
function sdkProblem(error) {
  const category = typeof error?.category === 'string' ? error.category.toLowerCase().replace(/_/g, ' ') : 'error'
  return `The IVS SDK reported a ${category}${error?.code !== undefined ? ` (code ${error.code})` : ''}: ${error?.message ?? String(error)}`
}

/** Plays the newest publisher's tracks (on a viewer's stage: the relay, or IVS's replica of the broadcaster). */
function play() {
  const tracks = [...published.values()].at(-1) ?? []
  const video = $('video')
  video.srcObject = tracks.length ? new MediaStream(tracks) : null
  $('waiting').hidden = tracks.some((t) => t.kind === 'video')
  $('unmute').hidden = !(video.muted && tracks.some((t) => t.kind === 'audio'))
}

function streamsAdded(participant, streams) {
  const added = streams.map((s) => s.mediaStreamTrack).filter((t) => t && (t.kind === 'audio' || t.kind === 'video'))
  const kept = (published.get(participant.id) ?? []).filter((t) => !added.some((a) => a.kind === t.kind))
  published.delete(participant.id)
  published.set(participant.id, [...kept, ...added])
  play()
}

function streamsRemoved(participant, streams) {
  const gone = new Set(streams.map((s) => s.mediaStreamTrack))
  const left = (published.get(participant.id) ?? []).filter((t) => !gone.has(t))
  if (left.length) published.set(participant.id, left)
  else published.delete(participant.id)
  play()
}

/**
 * Leaves a Stage. SDK 1.41.0 ignores leave() while the join is still under way (and would join
 * after all), so it is asked again once the join has settled.
 */
function leave(old) {
  const again = () => old.stage.leave()
  again()
  old.joined.then(again, again)
}

/** Leaves the current Stage (if any) and joins the token's: subscribe only, audio and video. */
function joinStage(token) {
  const sdk = window.IVSBroadcastClient
  if (!sdk) {
    const src = document.querySelector('script[data-ivs-sdk]')?.src
    showError(`The IVS web SDK did not load from ${src} (blocked, or offline): this page cannot join a stage without it.`)
    return
  }
  const { Stage, StageEvents, SubscribeType } = sdk
  const old = stage
  stage = null
  if (old) leave(old)
  published.clear()
  play()
  $('stage').textContent = token.stageArn.split('/').pop()
  $('stage').title = token.stageArn
  document.body.dataset.stage = token.stageArn
  let current
  try {
    current = new Stage(token.token, {
      stageStreamsToPublish: () => [],
      shouldPublishParticipant: () => false,
      shouldSubscribeToParticipant: () => SubscribeType.AUDIO_VIDEO,
    })
  } catch (error) {
    showState('errored')
    showError(`The IVS SDK refused the token: ${error?.message ?? error}`)
    return
  }
  const joining = { stage: current, joined: null }
  stage = joining
  // Events of a Stage this page has left (a rejoin) are not news any more.
  const mine =
    (handler) =>
    (...args) => {
      if (stage === joining) handler(...args)
    }
  current.on(StageEvents.STAGE_CONNECTION_STATE_CHANGED, mine(showState))
  current.on(StageEvents.STAGE_PARTICIPANT_STREAMS_ADDED, mine(streamsAdded))
  current.on(StageEvents.STAGE_PARTICIPANT_STREAMS_REMOVED, mine(streamsRemoved))
  current.on(
    StageEvents.STAGE_PARTICIPANT_LEFT,
    mine((participant) => {
      published.delete(participant.id)
      play()
    }),
  )
  current.on(
    StageEvents.ERROR,
    mine((error) => showError(sdkProblem(error))),
  )
  current.on(
    StageEvents.STAGE_LEFT,
    mine((reason) => {
      if (reason !== 'user-initiated') showError(`The stage was left (${reason}).`)
    }),
  )
  showState('connecting')
  joining.joined = current.join()
  joining.joined.catch(mine((error) => showError(`The IVS SDK could not join the stage: ${error?.message ?? error}`)))
}

/** A viewer token for the key, then the stage and the seat. */
async function start() {
  if (starting) return
  starting = true
  showError(null)
  $('login').hidden = true
  try {
    const res = await fetch('/api/token/viewer', {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ userId }),
    })
    const body = await res.json().catch(() => null)
    if (!res.ok) {
      showError(apiProblem(res.status, body))
      if (res.status === 401 || res.status === 403) $('login').hidden = false
      return
    }
    const token = body.data
    presence?.stop()
    presence = new ViewerPresence({
      apiUrl: location.origin,
      userId,
      token,
      onRejoin: joinStage,
      onError: (error) => showError(`Keeping the seat failed (${error.message}); retrying.`),
      onSessionExpired: () => {
        showError('The viewer session expired: getting a new seat.')
        start()
      },
    }).start()
    joinStage(token)
  } catch (error) {
    showError(`Could not reach ivs-fanout: ${error?.message ?? error}`)
  } finally {
    starting = false
  }
}

/** Local stages (IVS_PROVIDER=local) exist at no media service: say so. */
async function noticeLocalStages() {
  const res = await fetch('/health').catch(() => null)
  const kind = res?.ok ? (await res.json().catch(() => null))?.data?.checks?.ivs?.kind : null
  if (kind !== 'local') return
  $('notice').textContent =
    'This ivs-fanout runs local stages (no AWS): local stages carry no media, so there is nothing to play here. The page still takes a seat and follows its stage.'
  $('notice').hidden = false
}

$('user').textContent = userId
$('keyform').addEventListener('submit', (event) => {
  event.preventDefault()
  key = $('key').value
  if (key) start()
})
$('unmute').addEventListener('click', () => {
  const video = $('video')
  video.muted = false
  video.play().catch(() => {})
  $('unmute').hidden = true
})
addEventListener('pagehide', () => {
  if (stage) leave(stage)
})
noticeLocalStages()
if (key) start()
else {
  $('login').hidden = false
  showError('No API key: type it in, or open this page as /watch#key=…')
}
