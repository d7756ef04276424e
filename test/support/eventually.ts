/** Polls `check` until it holds; throws naming `what` after `timeoutMs`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000, everyMs = 25): Promise<void> {
  await until(what, async () => (await check()) || null, timeoutMs, everyMs)
}

/** Polls `probe` until it gives a value (not null, undefined or false) and returns it; throws naming `what` after `timeoutMs`. */
export async function until<T>(
  what: string,
  probe: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs = 5_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== null && value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`)
    await Bun.sleep(everyMs)
  }
}
