import { existsSync } from 'node:fs'
import { type Browser, chromium } from 'playwright-core'

/** Debian's chromium (apt-get install chromium): its H.264 encoder is OpenH264 (libopenh264-7). */
export const CHROMIUM_PATH = '/usr/bin/chromium'

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
 * temporary user-data dir per launch). A missing browser is an error that says how to install it,
 * never a skip: the browser test is part of the suite.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Debian's Chromium is not installed (${CHROMIUM_PATH} is missing), so the real-browser test cannot run. ` +
        `Install it with: apt-get update && apt-get install -y chromium  (.ci/run does this; do not use \`npx playwright install\`).`,
    )
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 15_000 })
}
