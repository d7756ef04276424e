import { type Browser, chromium } from 'playwright-core'
import { requireTool } from '../setup/system-tools'

/**
 * Debian's chromium (apt-get install chromium), found on PATH: /usr/bin/chromium. Its H.264 encoder
 * is OpenH264 (libopenh264-7).
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  // A synthetic camera (moving pattern) and microphone (beeps), granted without a prompt.
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
]

/**
 * Headless Debian Chromium through playwright-core, with a fresh profile (Playwright makes a new
 * temporary user-data dir per launch and removes it on close). A missing browser is a failure
 * naming it (MissingToolError: `npm test` installs Debian's package; not `npx playwright install`),
 * never a skip: the browser tests are part of the suite.
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: requireTool('chromium'), args: CHROMIUM_ARGS, timeout: 15_000 })
}
