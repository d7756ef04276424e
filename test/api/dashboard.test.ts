import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import type { Browser } from 'playwright-core'
import { launchChromium } from '../support/chromium'
import { startTestServer, type TestServer } from '../support/serve'

let server: TestServer
let browser: Browser
beforeAll(async () => {
  server = await startTestServer({ STAGE_CAPACITY: '4', SCALE_UP_THRESHOLD: '4', SCALE_DOWN_THRESHOLD: '1' })
  browser = await launchChromium()
}, 30_000)
afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

describe('the live dashboard in headless Chromium', () => {
  test('connects with the key from the URL fragment, shows the right numbers, updates when a stage is created', async () => {
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

    await server.api('/api/stage', { method: 'POST', json: { name: 'from-test' } })
    await page.waitForFunction(() => document.body.dataset.stages === '2', null, { timeout: 10_000 })
    expect(await page.textContent('#stages')).toBe('2')
    expect(await page.locator('.stage').count()).toBe(2)

    // Fill the master, put one viewer on the new stage, then drain it (it stays draining while occupied).
    for (const u of ['dash-3', 'dash-4']) await server.api('/api/token/viewer', { method: 'POST', json: { userId: u } })
    await server.fleet.drainStage((await server.store.listStages())[1]!.arn)
    await page.waitForSelector('.stage.draining', { timeout: 10_000 })
    expect(await page.textContent('#draining')).toBe('1 draining')

    mkdirSync('test-results', { recursive: true })
    await page.screenshot({ path: 'test-results/dashboard.png', fullPage: true })
    await page.close()
  }, 40_000)

  test('a wrong key does not connect', async () => {
    const page = await browser.newPage()
    await page.goto(`${server.url}/#key=wrong-key`)
    await Bun.sleep(800)
    expect(await page.textContent('#conn')).toBe('disconnected')
    await page.close()
  }, 20_000)
})
