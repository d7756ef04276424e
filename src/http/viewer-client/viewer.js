/*
 * ivs-fanout viewer presence for browser apps: GET /viewer.js (an ES module, no dependencies).
 *
 *   import { ViewerPresence } from 'https://api.example.com/viewer.js'
 *   // `token` is the POST /api/token/viewer answer your backend fetched with the API key.
 *   const presence = new ViewerPresence({ apiUrl: 'https://api.example.com', userId, token, onRejoin })
 *   presence.start()
 *
 * It heartbeats on the interval the server returned (with jitter), uses each refreshed
 * viewerSession, follows /ws?type=viewer, and when the server says the viewer must move
 * (REJOIN_REQUIRED, or a rejoin_required event) it rejoins and hands the new token to `onRejoin`.
 * On `pagehide` it leaves (fetch with keepalive). Network errors back off. It never sees the API key.
 */

const JITTER = 0.1

export class ViewerPresence {
  #apiUrl
  #userId
  #token
  #onRejoin
  #onError
  #onSessionExpired
  #events
  #timer = null
  #socket = null
  #socketFailures = 0
  #failures = 0
  #stopped = true
  #rejoining = null
  #onPageHide = () => this.stop({ leave: true })

  /**
   * @param {object} options
   * @param {string} options.apiUrl  where ivs-fanout serve answers, e.g. https://api.example.com
   * @param {string} options.userId  the userId the token was issued for
   * @param {{stageArn: string, participantId: string, viewerSession: string, heartbeatIntervalMs: number, token: string}} options.token
   * @param {(token: object) => void} [options.onRejoin]  a new token (maybe another stage): join it, leave the old stage
   * @param {(error: Error) => void} [options.onError]  a call failed; the module retries by itself
   * @param {() => void} [options.onSessionExpired]  the session is no longer accepted: get a new viewer token
   * @param {boolean} [options.events=true]  follow /ws?type=viewer for rejoin_required
   */
  constructor(options) {
    if (!options || typeof options.apiUrl !== 'string' || typeof options.userId !== 'string' || !options.token?.viewerSession) {
      throw new TypeError('ViewerPresence needs { apiUrl, userId, token } (token: the viewer-token response)')
    }
    this.#apiUrl = options.apiUrl.replace(/\/+$/, '')
    this.#userId = options.userId
    this.#token = { ...options.token }
    this.#onRejoin = options.onRejoin ?? (() => {})
    this.#onError = options.onError ?? (() => {})
    this.#onSessionExpired = options.onSessionExpired ?? (() => {})
    this.#events = options.events !== false
  }

  /** The current token (it changes after a rejoin, and its viewerSession after every heartbeat). */
  get token() {
    return { ...this.#token }
  }

  start() {
    if (!this.#stopped) return this
    this.#stopped = false
    addEventListener('pagehide', this.#onPageHide)
    this.#schedule(this.#interval())
    if (this.#events) this.#connect()
    return this
  }

  /** Stops heartbeats and the socket; with `leave`, frees the seat (keepalive, so it survives navigation). */
  stop({ leave = false } = {}) {
    if (this.#stopped) return
    this.#stopped = true
    removeEventListener('pagehide', this.#onPageHide)
    clearTimeout(this.#timer)
    this.#socket?.close(1000, 'viewer left')
    this.#socket = null
    if (leave) {
      fetch(`${this.#apiUrl}/api/viewer/leave`, {
        method: 'POST',
        keepalive: true,
        headers: this.#headers(),
        body: JSON.stringify({ userId: this.#userId, stageArn: this.#token.stageArn }),
      }).catch(() => {})
    }
  }

  /** Sends a heartbeat now (the timer does this by itself). */
  async heartbeat() {
    const res = await this.#post('/api/viewer/heartbeat', { userId: this.#userId, stageArn: this.#token.stageArn, participantId: this.#token.participantId })
    if (res.ok) {
      const { data } = await res.json()
      this.#token.viewerSession = data.viewerSession
      this.#failures = 0
      return data.nextHeartbeatMs
    }
    const code = await errorCode(res)
    if (code === 'REJOIN_REQUIRED') return (await this.rejoin()) ? this.#interval() : null
    if (res.status === 401) {
      this.stop()
      this.#onSessionExpired()
      return null
    }
    throw Object.assign(new Error(`heartbeat answered ${res.status} ${code ?? ''}`.trim()), {
      status: res.status,
      retryAfter: Number(res.headers.get('retry-after')) || 0,
    })
  }

  /** Moves off the current stage: a fresh token, handed to onRejoin. Concurrent calls share one. */
  rejoin() {
    this.#rejoining ??= this.#doRejoin().finally(() => {
      this.#rejoining = null
    })
    return this.#rejoining
  }

  async #doRejoin() {
    const leaving = this.#token.stageArn
    const res = await this.#post('/api/viewer/rejoin', { userId: this.#userId, stageArn: leaving })
    if (!res.ok) {
      if (res.status === 401) {
        this.stop()
        this.#onSessionExpired()
        return false
      }
      throw Object.assign(new Error(`rejoin answered ${res.status} ${(await errorCode(res)) ?? ''}`.trim()), {
        status: res.status,
        retryAfter: Number(res.headers.get('retry-after')) || 0,
      })
    }
    const { data } = await res.json()
    this.#token = { ...data }
    if (this.#events) {
      this.#socket?.close(1000, 'rejoined')
      this.#connect()
    }
    this.#onRejoin(this.token)
    return true
  }

  #schedule(ms) {
    clearTimeout(this.#timer)
    if (this.#stopped) return
    this.#timer = setTimeout(() => this.#beat(), ms)
  }

  async #beat() {
    try {
      const next = await this.heartbeat()
      if (next !== null) this.#schedule(jittered(next ?? this.#interval()))
    } catch (error) {
      this.#onError(error)
      // Back off: 1 s, 2 s, 4 s … never longer than the heartbeat interval, longer if told to wait.
      const backoff = Math.min(this.#interval(), 1000 * 2 ** this.#failures++)
      this.#schedule(Math.max(jittered(backoff), (error.retryAfter ?? 0) * 1000))
    }
  }

  #connect() {
    if (this.#stopped) return
    const url = new URL(`${this.#apiUrl}/ws`)
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    url.searchParams.set('type', 'viewer')
    url.searchParams.set('userId', this.#userId)
    url.searchParams.set('viewerSession', this.#token.viewerSession)
    const socket = new WebSocket(url)
    this.#socket = socket
    socket.onopen = () => {
      this.#socketFailures = 0
    }
    socket.onmessage = (event) => {
      let message
      try {
        message = JSON.parse(event.data)
      } catch {
        return
      }
      if (message.type === 'rejoin_required' && message.data?.stageArn === this.#token.stageArn) this.rejoin().catch((error) => this.#onError(error))
    }
    socket.onclose = () => {
      if (this.#socket !== socket || this.#stopped) return
      this.#socket = null
      // Reconnect with the newest session (the old one may have expired), backing off on failures.
      setTimeout(() => this.#connect(), jittered(Math.min(30_000, 1000 * 2 ** this.#socketFailures++)))
    }
  }

  #post(path, body) {
    return fetch(`${this.#apiUrl}${path}`, { method: 'POST', headers: this.#headers(), body: JSON.stringify(body) })
  }

  #headers() {
    return { authorization: `Bearer ${this.#token.viewerSession}`, 'content-type': 'application/json' }
  }

  #interval() {
    return this.#token.heartbeatIntervalMs || 15_000
  }
}

function jittered(ms) {
  return Math.round(ms * (1 - JITTER + Math.random() * 2 * JITTER))
}

async function errorCode(res) {
  try {
    return (await res.json()).error?.code ?? null
  } catch {
    return null
  }
}
