/* GET /publish: a browser publisher. Camera and mic over WHIP to this relay, H.264 preferred. */
const $ = (id) => document.getElementById(id)
let pc = null,
  resource = null,
  secret = '',
  statsTimer = null
const show = (state, detail = '', error = false) => {
  $('state').textContent = state
  $('detail').textContent = detail
  $('detail').className = error ? 'error' : ''
  document.body.dataset.state = state
}
const gathered = (pc) =>
  new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve()
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve())
    setTimeout(resolve, 2000)
  })
async function start(event) {
  event.preventDefault()
  secret = $('secret').value
  try {
    show('starting')
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 30 }, audio: true })
    $('preview').srcObject = stream
    pc = new RTCPeerConnection()
    for (const track of stream.getTracks()) {
      const transceiver = pc.addTransceiver(track, { direction: 'sendonly' })
      if (track.kind === 'video' && RTCRtpSender.getCapabilities) {
        // IVS takes H.264 baseline with packetization-mode 1: offer only that, with RTX so the relay's
        // NACKs are answered by retransmission.
        const codecs = RTCRtpSender.getCapabilities('video').codecs
        const h264 = codecs.filter(
          (c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine || '') && /profile-level-id=42/.test(c.sdpFmtpLine || ''),
        )
        if (h264.length) transceiver.setCodecPreferences([...h264, ...codecs.filter((c) => c.mimeType === 'video/rtx')])
      }
    }
    pc.addEventListener('connectionstatechange', () => show(pc.connectionState))
    await pc.setLocalDescription(await pc.createOffer())
    await gathered(pc)
    const response = await fetch('/whip', {
      method: 'POST',
      headers: { 'content-type': 'application/sdp', authorization: `Bearer ${secret}` },
      body: pc.localDescription.sdp,
    })
    if (response.status !== 201) {
      const body = await response.json().catch(() => null)
      throw new Error(body?.error?.message || `relay answered ${response.status}`)
    }
    resource = response.headers.get('location')
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() })
    show('connecting', resource)
    statsTimer = setInterval(showIngest, 2000)
    $('start').disabled = true
    $('stop').disabled = false
  } catch (error) {
    show('error', error.message, true)
    pc?.close()
    pc = null
    // Release the camera: a retry opens a new stream.
    $('preview')
      .srcObject?.getTracks()
      .forEach((t) => t.stop())
    $('preview').srcObject = null
  }
}
/* The relay's view of this session (GET on the WHIP resource): the keyframe interval it measures, loss and repair. */
async function showIngest() {
  if (!resource) return
  const response = await fetch(resource, { headers: { authorization: `Bearer ${secret}` } }).catch(() => null)
  if (!response?.ok) return
  const { data } = await response.json()
  const interval = data.keyframeIntervalMs
  $('ingest').hidden = false
  $('keyframes').textContent = interval === null ? 'measuring…' : `${(interval / 1000).toFixed(1)} s`
  $('keyframe-hint').hidden = !(interval > 2000)
  const i = data.ingest
  $('loss').textContent = `${i.missing} packets lost on the way, ${i.repaired} repaired by retransmission, ${i.unrepaired} not`
}
async function stop() {
  clearInterval(statsTimer)
  statsTimer = null
  $('ingest').hidden = true
  if (resource) await fetch(resource, { method: 'DELETE', headers: { authorization: `Bearer ${secret}` } }).catch(() => {})
  pc?.close()
  pc = null
  resource = null
  $('preview')
    .srcObject?.getTracks()
    .forEach((t) => t.stop())
  $('start').disabled = false
  $('stop').disabled = true
  show('stopped')
}
$('form').addEventListener('submit', start)
$('stop').addEventListener('click', stop)
