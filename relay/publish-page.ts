/** GET /publish: a browser publisher. Camera and mic over WHIP to this relay, H.264 preferred. */
export const PUBLISH_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ivs-fanout · publish</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 44rem; padding: 0 1rem; color: #1d1d1f; }
  video { width: 100%; background: #111; border-radius: 8px; aspect-ratio: 16 / 9; }
  form { display: flex; gap: .5rem; margin: 1rem 0; }
  input { flex: 1; padding: .5rem; font: inherit; }
  button { padding: .5rem 1rem; font: inherit; cursor: pointer; }
  #state { font-weight: 600; }
  .error { color: #b00020; }
</style>
</head>
<body>
<h1>Publish to ivs-fanout</h1>
<p>Sends your camera and microphone to this relay over WHIP; the relay forwards them into every stage.</p>
<form id="form">
  <input id="secret" type="password" placeholder="Publish secret (PUBLISH_SECRET)" autocomplete="off" required>
  <button id="start" type="submit">Start</button>
  <button id="stop" type="button" disabled>Stop</button>
</form>
<p>State: <span id="state">idle</span> <span id="detail"></span></p>
<video id="preview" autoplay muted playsinline></video>
<script>
const $ = (id) => document.getElementById(id)
let pc = null, resource = null, secret = ''
const show = (state, detail = '', error = false) => {
  $('state').textContent = state
  $('detail').textContent = detail
  $('detail').className = error ? 'error' : ''
  document.body.dataset.state = state
}
const gathered = (pc) => new Promise((resolve) => {
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
        // IVS takes H.264 baseline with packetization-mode 1: offer only that.
        const h264 = RTCRtpSender.getCapabilities('video').codecs.filter((c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine || '') && /profile-level-id=42/.test(c.sdpFmtpLine || ''))
        if (h264.length) transceiver.setCodecPreferences(h264)
      }
    }
    pc.addEventListener('connectionstatechange', () => show(pc.connectionState))
    await pc.setLocalDescription(await pc.createOffer())
    await gathered(pc)
    const response = await fetch('/whip', { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: 'Bearer ' + secret }, body: pc.localDescription.sdp })
    if (response.status !== 201) {
      const body = await response.json().catch(() => null)
      throw new Error(body?.error?.message || 'relay answered ' + response.status)
    }
    resource = response.headers.get('location')
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() })
    show('connecting', resource)
    $('start').disabled = true
    $('stop').disabled = false
  } catch (error) {
    show('error', error.message, true)
    pc?.close()
    pc = null
    // Release the camera: a retry opens a new stream.
    $('preview').srcObject?.getTracks().forEach((t) => t.stop())
    $('preview').srcObject = null
  }
}
async function stop() {
  if (resource) await fetch(resource, { method: 'DELETE', headers: { authorization: 'Bearer ' + secret } }).catch(() => {})
  pc?.close()
  pc = null
  resource = null
  $('preview').srcObject?.getTracks().forEach((t) => t.stop())
  $('start').disabled = false
  $('stop').disabled = true
  show('stopped')
}
$('form').addEventListener('submit', start)
$('stop').addEventListener('click', stop)
</script>
</body>
</html>
`
