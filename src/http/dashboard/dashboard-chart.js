/*
 * The dashboard's chart (loaded before dashboard.js): lines of counts over a time window, drawn into an
 * SVG with a time axis (local clock times) and a count scale. No framework; markup only, no styles.
 */
globalThis.timeChart = (() => {
  const NS = 'http://www.w3.org/2000/svg'
  const W = 800
  const H = 230
  const LEFT = 56
  const RIGHT = 16
  const TOP = 12
  const BOTTOM = 40

  /** A round step (1, 2 or 5 × a power of ten) that splits 0..max into about `ticks` parts. */
  function niceStep(max, ticks) {
    const raw = Math.max(1, max) / ticks
    const magnitude = 10 ** Math.floor(Math.log10(raw))
    for (const m of [1, 2, 5, 10]) if (m * magnitude >= raw) return Math.max(1, m * magnitude)
    return magnitude * 10
  }

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name)
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
    if (text !== undefined) node.textContent = text
    return node
  }

  const two = (n) => String(n).padStart(2, '0')
  const clock = (ms) => {
    const d = new Date(ms)
    return `${two(d.getHours())}:${two(d.getMinutes())}`
  }

  /**
   * Draws `series` ([{id, className, points: [{at, value}]}], oldest first) over [now - windowMs, now].
   * A count holds until the next point (steps), and the last one until now.
   */
  function draw(svg, series, now, windowMs, yTitle) {
    svg.replaceChildren()
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`)
    const from = now - windowMs
    const values = series.flatMap((s) => s.points.filter((p) => p.at >= from).map((p) => p.value))
    const step = niceStep(Math.max(1, ...values), 4)
    const top = Math.max(step, Math.ceil(Math.max(1, ...values) / step) * step)
    const x = (t) => LEFT + ((Math.max(from, Math.min(now, t)) - from) / windowMs) * (W - LEFT - RIGHT)
    const y = (v) => TOP + (1 - v / top) * (H - TOP - BOTTOM)
    const axis = el('g', { class: 'axis', 'data-axis': 'y' })
    for (let v = 0; v <= top; v += step) {
      axis.append(el('line', { class: 'grid', x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v) }))
      axis.append(el('text', { class: 'tick', x: LEFT - 8, y: y(v) + 4, 'text-anchor': 'end' }, String(v)))
    }
    axis.append(
      el('text', { class: 'title', x: 14, y: (TOP + H - BOTTOM) / 2, 'text-anchor': 'middle', transform: `rotate(-90 14 ${(TOP + H - BOTTOM) / 2})` }, yTitle),
    )
    const time = el('g', { class: 'axis', 'data-axis': 'x' })
    time.append(el('line', { class: 'base', x1: LEFT, x2: W - RIGHT, y1: H - BOTTOM, y2: H - BOTTOM }))
    for (let k = 0; k <= 4; k++) {
      const t = from + (k * windowMs) / 4
      time.append(el('line', { class: 'mark', x1: x(t), x2: x(t), y1: H - BOTTOM, y2: H - BOTTOM + 5 }))
      time.append(el('text', { class: 'tick', x: x(t), y: H - BOTTOM + 18, 'text-anchor': k === 0 ? 'start' : k === 4 ? 'end' : 'middle' }, clock(t)))
    }
    time.append(
      el('text', { class: 'title', x: (LEFT + W - RIGHT) / 2, y: H - 4, 'text-anchor': 'middle' }, `time (local, last ${Math.round(windowMs / 60_000)} min)`),
    )
    svg.append(axis, time)
    for (const s of series) {
      const shown = s.points.filter((p, i, all) => p.at >= from || all[i + 1]?.at > from)
      const coords = []
      shown.forEach((p, i) => {
        if (i > 0) coords.push(`${x(p.at).toFixed(1)},${y(shown[i - 1].value).toFixed(1)}`)
        coords.push(`${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`)
      })
      if (shown.length) coords.push(`${x(now).toFixed(1)},${y(shown.at(-1).value).toFixed(1)}`)
      svg.append(el('polyline', { id: s.id, class: s.className, fill: 'none', points: coords.join(' ') }))
    }
  }

  return { draw, niceStep, clock }
})()
