import { afterAll, describe, expect, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import type { Browser } from 'playwright-core'
import { launchChromium } from '../support/chromium'
import { beforeAllOrFail } from '../support/hooks'
import { freshServer } from '../support/serve'

let browser: Browser
beforeAllOrFail(async () => {
  browser = await launchChromium()
}, 30_000)
afterAll(async () => {
  await browser?.close()
})

/** Each test's own server (the browser is shared; each test opens its own page). */
const FOUR_SEATS = { STAGE_CAPACITY: '4', SCALE_UP_THRESHOLD: '4', SCALE_DOWN_THRESHOLD: '1' }

describe('the live dashboard in headless Chromium', () => {
  test('connects with the key from the URL fragment, shows the right numbers, updates when a stage is created', async () => {
    await using server = await freshServer(FOUR_SEATS)
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } })
    const requests: string[] = []
    page.on('request', (r) => requests.push(r.url()))
    await page.goto(`${server.url}/#key=${encodeURIComponent(server.apiKey)}`)
    await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'live', null, { timeout: 10_000 })
    // The key stays in the browser: it never appears in a URL the server sees.
    expect(requests.some((u) => u.includes('#key'))).toBe(false)
    expect(await page.evaluate(() => location.hash)).toBe('')

    for (let i = 0; i < 3; i++) await server.api('/api/token/viewer', { method: 'POST', json: { userId: `dash-${i}` } })
    await page.waitForFunction(() => document.body.dataset.viewers === '3', null, { timeout: 10_000 })
    expect(await page.textContent('#viewers')).toBe('3')
    expect(await page.textContent('#stages')).toBe('1')
    const master = await page.textContent('.stage .count')
    expect(master).toBe('3 / 4')
    // How each stage gets its media (no relay here: none), and the mode.
    expect(await page.textContent('.stage .feed')).toBe('no feed')
    expect(await page.textContent('#fanout')).toBe('· FANOUT_MODE relay')

    await server.api('/api/stage', { method: 'POST', json: { name: 'from-test' } })
    await page.waitForFunction(() => document.body.dataset.stages === '2', null, { timeout: 10_000 })
    expect(await page.textContent('#stages')).toBe('2')
    expect(await page.locator('.stage').count()).toBe(2)

    // Fill the master, put one viewer on the new stage, then drain it (it stays draining while occupied).
    for (const u of ['dash-3', 'dash-4']) await server.api('/api/token/viewer', { method: 'POST', json: { userId: u } })
    await server.stages.drain((await server.store.listStages())[1]!.arn)
    await page.waitForSelector('.stage.draining', { timeout: 10_000 })
    expect(await page.textContent('#draining')).toBe('1 draining')

    mkdirSync('test-results', { recursive: true })
    await page.screenshot({ path: 'test-results/dashboard-updates.png', fullPage: true })
    await page.close()
  }, 40_000)

  test('a wrong key does not connect', async () => {
    await using server = await freshServer(FOUR_SEATS)
    const page = await browser.newPage()
    // The page's socket attempt, followed from its start: it must end (refused or closed), never open.
    let url = ''
    const ended = new Promise<string>((resolve) =>
      page.once('websocket', (socket) => {
        url = socket.url()
        socket.on('framereceived', (frame) => resolve(`a frame arrived: ${frame.payload}`))
        socket.on('socketerror', (error) => resolve(`refused: ${error}`))
        socket.on('close', () => resolve('closed'))
      }),
    )
    await page.goto(`${server.url}/#key=wrong-key`)
    expect(await ended).toMatch(/^(refused|closed)/)
    expect(url).toContain('apiKey=wrong-key')
    await page.waitForFunction(() => !(document.getElementById('login') as HTMLElement).hidden, null, { timeout: 10_000 })
    expect(await page.textContent('#conn')).toBe('disconnected')
    expect(server.hub.count('dashboard')).toBe(0)
    await page.close()
  }, 20_000)
})
